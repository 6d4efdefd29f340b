"""Client CPU per run: ``run_many`` against raw aiohttp and against zuora-sdk.

The server is another process, so this process's user + system CPU is the client's own.
Repetitions are interleaved (ours, raw, sdk, then rotated) so that a noisy neighbour
slows every contender alike; each repetition gives a ratio and the table reports the
median ratio.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from collections.abc import Callable
from typing import Any

from . import _drivers
from ._measure import Row, wall_and_cpu
from ._server import ServerInfo, ServerProcess

__all__ = ["run"]

RAW_TARGET = 1.15
SDK_TARGET = 0.5

Driver = Callable[[ServerInfo, int], tuple[int, Any]]


def _ours(info: ServerInfo, count: int) -> tuple[int, Any]:
    return asyncio.run(_drivers.run_ours(info, count, wall_and_cpu))


def _raw(info: ServerInfo, count: int) -> tuple[int, Any]:
    return asyncio.run(_drivers.run_raw(info, count, wall_and_cpu))


def _sdk(info: ServerInfo, count: int) -> tuple[int, Any]:
    return _drivers.run_sdk(info, count, wall_and_cpu)


DRIVERS: dict[str, Driver] = {"ours": _ours, "raw": _raw, "sdk": _sdk}


def _sample(driver: Driver, info: ServerInfo, count: int) -> dict[str, float]:
    gc.collect()
    ok, ((wall0, cpu0), (wall1, cpu1)) = driver(info, count)
    if ok != count:
        raise RuntimeError(f"only {ok} of {count} runs succeeded; the numbers would be wrong")
    return {"cpu_us_per_run": 1e6 * (cpu1 - cpu0) / count, "runs_per_s": count / (wall1 - wall0)}


def run(*, count: int, repetitions: int, log: Callable[[str], None]) -> list[Row]:
    names = list(DRIVERS)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with ServerProcess() as server:
        for rep in range(repetitions):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                samples[name].append(_sample(DRIVERS[name], server.info, count))
            server.command("reset")
            cpu = {name: samples[name][-1]["cpu_us_per_run"] for name in names}
            log(
                f"  cpu rep {rep + 1}/{repetitions}: "
                + ", ".join(f"{name} {value:.0f} us/run" for name, value in cpu.items())
            )
    return [
        _row(samples, "raw", "raw aiohttp loop", RAW_TARGET, count),
        _row(samples, "sdk", "zuora-sdk + 32 threads", SDK_TARGET, count),
    ]


def _row(
    samples: dict[str, list[dict[str, float]]],
    baseline: str,
    baseline_name: str,
    target: float,
    count: int,
) -> Row:
    ours = [sample["cpu_us_per_run"] for sample in samples["ours"]]
    base = [sample["cpu_us_per_run"] for sample in samples[baseline]]
    ratios = [mine / theirs for mine, theirs in zip(ours, base, strict=True)]
    ratio = statistics.median(ratios)
    return Row(
        benchmark=f"client CPU per run vs {baseline}",
        unit="us/run",
        ours=statistics.median(ours),
        baseline=statistics.median(base),
        baseline_name=baseline_name,
        ratio=ratio,
        target=f"ratio <= {target}" if baseline == "raw" else f"ratio < {target}",
        passed=ratio <= target if baseline == "raw" else ratio < target,
        target_value=target,
        raw={
            "runs_per_repetition": count,
            "ratios": ratios,
            "ours": samples["ours"],
            baseline: samples[baseline],
        },
    )
