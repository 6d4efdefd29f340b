"""Event-loop lag while ``run_many`` sends runs with ~1 MB parameter payloads.

A ticker task asks to wake every millisecond and records how late each wake-up is
(``actual - expected``). The baseline is the same ticker on an idle loop in the same
process. Two payload shapes: one 1 MB string (cheap to encode, compresses to almost
nothing) and ~1 MB of small dicts (what a batch of line items looks like: encoding it is
real work).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from zuora_wf_async import BearerToken, WorkflowClient

from . import _drivers
from ._measure import Row, percentile
from ._server import ServerInfo, ServerProcess

__all__ = ["run"]

P99_TARGET_MS = 10.0
TICK = 0.001
MAX_TICKS = 200_000  # a bound on the ticker, whatever happens to the load


def blob_payload() -> dict[str, Any]:
    return {"blob": "x" * 1_000_000}


def rows_payload() -> dict[str, Any]:
    rows = [
        {"id": index, "accountId": f"A-{index:08d}", "amount": index * 1.25, "memo": "line item"}
        for index in range(14_000)
    ]
    return {"rows": rows}


PAYLOADS: dict[str, Callable[[], dict[str, Any]]] = {"blob": blob_payload, "rows": rows_payload}


async def _ticker(stop: asyncio.Event, lags: list[float], max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    expected = start + TICK
    while not stop.is_set() and len(lags) < MAX_TICKS and expected - start < max_seconds:
        await asyncio.sleep(max(0.0, expected - loop.time()))
        now = loop.time()
        lags.append(max(0.0, now - expected))
        # Schedule from the intended time, not from a late wake-up, so one stall is
        # counted once and the ticker does not drift.
        expected = max(expected + TICK, now)


async def _idle(seconds: float) -> list[float]:
    lags: list[float] = []
    await _ticker(asyncio.Event(), lags, seconds)
    return lags


async def _loaded(
    info: ServerInfo, items: Iterator[dict[str, Any]], max_seconds: float
) -> tuple[list[float], int, float]:
    lags: list[float] = []
    stop = asyncio.Event()
    auth = BearerToken(info.token)
    async with WorkflowClient(info.base_url, auth=auth, max_concurrency=_drivers.WIDTH) as client:
        await client.run_many(_drivers.WORKFLOW_ID, _drivers.params(_drivers.WARMUP))
        ticker = asyncio.ensure_future(_ticker(stop, lags, max_seconds))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max_seconds):
                outcomes = await client.run_many(_drivers.WORKFLOW_ID, items)
        finally:
            stop.set()
            await ticker
        elapsed = time.perf_counter() - started
    return lags, sum(outcome.ok for outcome in outcomes), elapsed


def _stats_ms(lags: list[float]) -> dict[str, float]:
    return {
        "ticks": float(len(lags)),
        "p50_ms": 1000 * percentile(lags, 0.50),
        "p99_ms": 1000 * percentile(lags, 0.99),
        "max_ms": 1000 * max(lags, default=0.0),
    }


def run(*, runs: int, max_seconds: float, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    with ServerProcess() as server:
        for shape, make in PAYLOADS.items():
            payload = make()

            def items(payload: dict[str, Any] = payload) -> Iterator[dict[str, Any]]:
                return (payload for _ in range(runs))

            gc.collect()
            lags, ok, elapsed = asyncio.run(_loaded(server.info, items(), max_seconds))
            if ok != runs:
                raise RuntimeError(f"lag {shape}: only {ok} of {runs} runs succeeded")
            idle = asyncio.run(_idle(min(elapsed, max_seconds)))
            loaded_ms, idle_ms = _stats_ms(lags), _stats_ms(idle)
            server.command("reset")
            log(
                f"  lag {shape}: {runs} runs in {elapsed:.1f} s, p50/p99/max "
                f"{loaded_ms['p50_ms']:.2f}/{loaded_ms['p99_ms']:.2f}/{loaded_ms['max_ms']:.2f} ms"
                f" (idle p99 {idle_ms['p99_ms']:.2f} ms)"
            )
            rows.append(_row(shape, runs, loaded_ms, idle_ms, elapsed))
    return rows


def _row(
    shape: str, runs: int, loaded: dict[str, float], idle: dict[str, float], elapsed: float
) -> Row:
    p99, idle_p99 = loaded["p99_ms"], idle["p99_ms"]
    return Row(
        benchmark=f"event-loop lag p99, {runs} runs x 1 MB ({shape})",
        unit="ms",
        ours=p99,
        baseline=idle_p99,
        baseline_name="same ticker, idle loop",
        ratio=p99 / idle_p99 if idle_p99 > 0 else None,
        target=f"p99 < {P99_TARGET_MS:.0f} ms",
        passed=p99 < P99_TARGET_MS,
        target_value=P99_TARGET_MS,
        target_on="ours",
        raw={"loaded": loaded, "idle": idle, "seconds": elapsed, "payload": shape},
    )
