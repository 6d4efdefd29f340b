"""Peak RSS growth over a long batch, each measurement in a fresh client process.

Each measurement gets its own server process too, so the fake's records of earlier runs
never count, and the server's RSS (reported alongside) is visibly somebody else's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._measure import Row
from ._server import ServerProcess

__all__ = ["run"]

_ROOT = Path(__file__).resolve().parent.parent
ITER_RUNS_TARGET_MB = 30.0
MB = 1024 * 1024


def measure(mode: str, count: int, *, timeout: float, fast: bool = False) -> dict[str, Any]:
    """Run ``benchmarks._memory_child MODE COUNT`` against a fresh server; its JSON result.

    ``fast``: ``benchmarks._fastserver`` instead of FakeZuora, 3-4x quicker per run on a
    busy 2-core machine; the client's memory does not depend on how fast answers come.
    """
    with ServerProcess("benchmarks._fastserver" if fast else "benchmarks._server") as server:
        hello = dict(server.hello)
        if fast:
            hello["base_url"] = hello["without_headers"]
        child = subprocess.run(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "benchmarks._memory_child", mode, str(count)],
            cwd=_ROOT,
            input=json.dumps(hello) + "\n",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"memory child {mode} failed:\n{child.stderr}")
        result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        result["server"] = server.command("stats")
        result["server_module"] = "benchmarks._fastserver" if fast else "benchmarks._server"
    if result["ok"] != count:
        raise RuntimeError(f"{mode}: only {result['ok']} of {count} runs succeeded")
    return result


def run(*, count: int, timeout: float, log: Callable[[str], None]) -> list[Row]:
    results: dict[str, dict[str, Any]] = {}
    for mode in ("stream_runs", "raw_stream", "run_many", "raw_gather"):
        results[mode] = measure(mode, count, timeout=timeout)
        growth = results[mode]["growth_bytes"] / MB
        seconds = results[mode]["seconds"]
        log(f"  memory {mode}: +{growth:.1f} MB peak RSS over {count:,} runs in {seconds:.0f} s")
    stream_mb = results["stream_runs"]["growth_bytes"] / MB
    stream_base = results["raw_stream"]["growth_bytes"] / MB
    many_mb = results["run_many"]["growth_bytes"] / MB
    many_base = results["raw_gather"]["growth_bytes"] / MB
    return [
        Row(
            benchmark=f"stream_runs peak RSS growth, {count:,} runs",
            unit="MB",
            ours=stream_mb,
            baseline=stream_base,
            baseline_name="raw aiohttp, 32 workers on the generator",
            ratio=_ratio(stream_mb, stream_base),
            target=f"< {ITER_RUNS_TARGET_MB:.0f} MB",
            passed=stream_mb < ITER_RUNS_TARGET_MB,
            target_value=ITER_RUNS_TARGET_MB,
            target_on="ours",
            raw={"ours": results["stream_runs"], "baseline": results["raw_stream"]},
        ),
        Row(
            benchmark=f"run_many peak RSS growth, {count:,} runs",
            unit="MB",
            ours=many_mb,
            baseline=many_base,
            baseline_name="raw aiohttp gather of every item",
            ratio=_ratio(many_mb, many_base),
            target="report",
            passed=None,
            raw={"ours": results["run_many"], "baseline": results["raw_gather"]},
        ),
    ]


def _ratio(ours: float, baseline: float) -> float | None:
    return ours / baseline if baseline > 0 else None
