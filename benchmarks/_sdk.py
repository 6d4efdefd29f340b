"""Client CPU per run: ``run_many`` against the official synchronous ``zuora-sdk``.

Both send the same batch with a fixed bearer token to ``benchmarks._fastserver`` in
another process; samples are interleaved (ours, sdk, then the order swapped) and the
table reports the median of the per-repetition ratios.
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

SDK_TARGET = 0.5

Driver = Callable[[ServerInfo, int], tuple[int, Any]]


def _ours(info: ServerInfo, count: int) -> tuple[int, Any]:
    return asyncio.run(_drivers.run_ours(info, count, wall_and_cpu))


def _sdk(info: ServerInfo, count: int) -> tuple[int, Any]:
    return _drivers.run_sdk(info, count, wall_and_cpu)


DRIVERS: dict[str, Driver] = {"ours": _ours, "sdk": _sdk}


def _sample(driver: Driver, info: ServerInfo, count: int) -> dict[str, float]:
    gc.collect()
    ok, ((wall0, cpu0), (wall1, cpu1)) = driver(info, count)
    if ok != count:
        raise RuntimeError(f"only {ok} of {count} runs succeeded; the numbers would be wrong")
    return {"cpu_us_per_run": 1e6 * (cpu1 - cpu0) / count, "runs_per_s": count / (wall1 - wall0)}


def run(*, count: int, repetitions: int, log: Callable[[str], None]) -> list[Row]:
    names = list(DRIVERS)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with ServerProcess("benchmarks._fastserver") as server:
        hello = server.hello
        info = ServerInfo({**hello, "base_url": hello["with_headers"]})
        for rep in range(repetitions):
            order = names if rep % 2 == 0 else names[::-1]
            for name in order:
                samples[name].append(_sample(DRIVERS[name], info, count))
            log(
                f"  sdk rep {rep + 1}/{repetitions}: "
                + ", ".join(f"{n} {samples[n][-1]['cpu_us_per_run']:.0f} us/run" for n in names)
            )
    ours = [sample["cpu_us_per_run"] for sample in samples["ours"]]
    base = [sample["cpu_us_per_run"] for sample in samples["sdk"]]
    ratios = [mine / theirs for mine, theirs in zip(ours, base, strict=True)]
    ratio = statistics.median(ratios)
    return [
        Row(
            benchmark="client CPU per run vs zuora-sdk",
            unit="us/run",
            ours=statistics.median(ours),
            baseline=statistics.median(base),
            baseline_name="zuora-sdk + 32 threads",
            ratio=ratio,
            target=f"ratio < {SDK_TARGET}",
            passed=ratio < SDK_TARGET,
            target_value=SDK_TARGET,
            raw={"runs_per_repetition": count, "ratios": ratios, **samples},
        )
    ]
