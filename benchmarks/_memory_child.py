"""One memory measurement, in a fresh process: ``python -m benchmarks._memory_child``.

Arguments: ``MODE COUNT`` with the server's JSON (from ``benchmarks._server``) on stdin.
The baseline is the RSS after imports and after the client (or session) is open and warm;
the peak-RSS mark is reset there, and the result is the peak RSS (``VmHWM``) at the end
minus that baseline, printed as one
JSON line.

Modes: ``stream_runs`` and ``run_many`` (ours), ``raw_stream`` (32 hand-written aiohttp
workers pulling from the same generator: the floor for a bounded stream) and
``raw_gather`` (the hand-written ``gather`` of every item: what ``run_many`` replaces).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import aiohttp

from zuora_wf_async import BearerToken, WorkflowClient

from . import _drivers
from ._measure import peak_rss_bytes, reset_peak_rss, rss_bytes
from ._server import ServerInfo

__all__ = ["MODES"]

Mode = Callable[[ServerInfo, int, Callable[[], None]], Coroutine[Any, Any, int]]


async def _stream_runs(info: ServerInfo, count: int, ready: Callable[[], None]) -> int:
    auth = BearerToken(info.token)
    async with WorkflowClient(info.base_url, auth=auth, max_concurrency=_drivers.WIDTH) as client:
        await client.run_many(_drivers.WORKFLOW_ID, _drivers.params(_drivers.WARMUP))
        ready()
        ok = 0
        # ``iter_runs`` in a tree from before issue 24 (a before-and-after run measures both).
        stream = getattr(client, "stream_runs", None) or client.iter_runs
        async for outcome in stream(_drivers.WORKFLOW_ID, _drivers.params(count)):
            ok += outcome.ok
        return ok


async def _run_many(info: ServerInfo, count: int, ready: Callable[[], None]) -> int:
    auth = BearerToken(info.token)
    async with WorkflowClient(info.base_url, auth=auth, max_concurrency=_drivers.WIDTH) as client:
        await client.run_many(_drivers.WORKFLOW_ID, _drivers.params(_drivers.WARMUP))
        ready()
        outcomes = await client.run_many(_drivers.WORKFLOW_ID, _drivers.params(count))
        return sum(outcome.ok for outcome in outcomes)


async def _raw_stream(info: ServerInfo, count: int, ready: Callable[[], None]) -> int:
    async with _drivers.raw_session() as session:
        await _drivers.raw_batch(session, info, _drivers.params(_drivers.WARMUP))
        ready()
        items = _drivers.params(count)
        done = [0]

        async def worker(source: Iterator[dict[str, Any]], session: aiohttp.ClientSession) -> None:
            for item in source:
                result = await _drivers.raw_one(session, info, item)
                done[0] += result is not None

        await asyncio.gather(*(worker(items, session) for _ in range(_drivers.WIDTH)))
        return done[0]


async def _raw_gather(info: ServerInfo, count: int, ready: Callable[[], None]) -> int:
    async with _drivers.raw_session() as session:
        await _drivers.raw_batch(session, info, _drivers.params(_drivers.WARMUP))
        ready()
        results = await _drivers.raw_batch(session, info, _drivers.params(count))
        return sum(result is not None for result in results)


MODES: dict[str, Mode] = {
    "stream_runs": _stream_runs,
    "run_many": _run_many,
    "raw_stream": _raw_stream,
    "raw_gather": _raw_gather,
}


def main() -> None:
    mode, count = sys.argv[1], int(sys.argv[2])
    info = ServerInfo(json.loads(sys.stdin.readline()))
    baseline: dict[str, int] = {}

    def ready() -> None:
        gc.collect()
        baseline["peak_reset"] = reset_peak_rss()
        baseline["rss"] = rss_bytes()
        baseline["peak"] = peak_rss_bytes()

    started = time.perf_counter()
    ok = asyncio.run(MODES[mode](info, count, ready))
    elapsed = time.perf_counter() - started
    peak = peak_rss_bytes()
    result = {
        "mode": mode,
        "count": count,
        "ok": ok,
        "seconds": elapsed,
        "baseline_rss_bytes": baseline["rss"],
        "peak_before_bytes": baseline["peak"],
        "peak_was_reset": bool(baseline["peak_reset"]),
        "peak_rss_bytes": peak,
        "growth_bytes": max(0, peak - baseline["rss"]),
        "final_rss_bytes": rss_bytes(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
