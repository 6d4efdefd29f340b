"""Soak: 50,000 runs through a faulty Zuora at full concurrency, then count what leaked.

``uv run python -m benchmarks.soak [--runs 50000] [--concurrency 32]``

The fake runs in its own process (``zuora-wf fake-server --report``) with faults injected
on a few percent of run requests (5xx before and after the run is recorded, dropped
connections, 429 bursts). The client streams the runs with ``stream_runs`` and
deterministic keys. Reported, and checked against the targets:

- RSS at start (client open, warmed up) and at the end: flat;
- open file descriptors before the client opened and after it closed: back to start;
- asyncio tasks left after the client closed: 0;
- duplicate executions counted by the fake: 0;
- lost runs (an input without a successful outcome, or an outcome whose key the fake
  never executed): 0.

Results go to ``benchmarks/results/soak.md`` and ``soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zuora_wf_async import (
    OAuthCredentials,
    RetryBudget,
    RetryPolicy,
    WorkflowClient,
    derive_key,
)

from ._measure import rss_bytes

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
FAULTS = ",".join(
    [
        "error_before_record:503:p=0.02",
        "error_after_record:502:p=0.01",
        "drop_after_record:p=0.01",
        "rate_limit_burst:3:p=0.002:retry_after=0",
        # A quota far above what the run needs, so the reported window never pauses the
        # client (the default window would, at 50,000 requests a minute).
        "quota:100000000:window=60",
    ]
)
RSS_GROWTH_LIMIT_MB = 30.0
WINDOW_TIMEOUT = 600.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def items(count: int) -> Iterator[dict[str, Any]]:
    for index in range(count):
        yield {"accountId": f"A-{index:08d}", "amount": index % 997}


def start_server() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module, fixed args
        [sys.executable, "-m", "zuora_wf_async.cli", "fake-server", "--faults", FAULTS,
         "--seed", "50000", "--report"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    settings: dict[str, str] = {}
    stdout = process.stdout
    while stdout is not None and len(settings) < 3:
        line = stdout.readline()
        if not line:
            process.kill()
            raise RuntimeError("the fake server did not start")
        name, _, value = line.strip().partition("=")
        settings[name] = value
    return process, settings


def stop_server(process: subprocess.Popen[str]) -> dict[str, int]:
    """SIGTERM the server and read its report: executions per key."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    counts: dict[str, int] = {}
    for line in out.splitlines():
        record = json.loads(line)
        if "idempotency_key" in record:
            counts[record["idempotency_key"]] = record["executions"]
    return counts


async def soak(settings: dict[str, str], runs: int, concurrency: int) -> dict[str, Any]:
    fds_before = open_fds()
    tasks_before = len(asyncio.all_tasks())
    auth = OAuthCredentials(
        client_id=settings["ZUORA_CLIENT_ID"], client_secret=settings["ZUORA_CLIENT_SECRET"]
    )
    ok_keys: list[str] = []
    failed = 0
    async with WorkflowClient(
        settings["ZUORA_BASE_URL"],
        auth=auth,
        max_concurrency=concurrency,
        retry=RetryPolicy(max_attempts=10, base_delay=0.05, max_delay=1.0, deadline=None),
        # A fault rate of ~4% is not an outage; let every run through.
        retry_budget=RetryBudget(capacity=1000, refill=1.0),
    ) as zuora:
        warm = await zuora.run_many(396, items(concurrency), key_fn=lambda p: derive_key("w", p))
        rss_start = rss_bytes()
        started = time.perf_counter()
        stream = zuora.stream_runs(
            396, items(runs), key_fn=lambda p: derive_key("soak", p["accountId"])
        )
        async with stream:
            async for outcome in stream:
                if outcome.ok and outcome.idempotency_key:
                    ok_keys.append(outcome.idempotency_key)
                else:
                    failed += 1
        elapsed = time.perf_counter() - started
        rss_end = rss_bytes()
        stats = zuora.stats
    await asyncio.sleep(0)  # let the closed session's callbacks run once
    return {
        "runs": runs,
        "concurrency": concurrency,
        "ok": len(ok_keys),
        "failed": failed,
        "warmup_ok": sum(o.ok for o in warm),
        "ok_keys": ok_keys,
        "seconds": elapsed,
        "runs_per_second": runs / elapsed,
        "rss_start_mb": rss_start / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "fds_before": fds_before,
        "fds_after": open_fds(),
        "tasks_left": len(asyncio.all_tasks()) - tasks_before,
        "concurrency_cuts": stats.concurrency_cuts,
        "retries_refused": stats.retries_refused,
    }


def report(result: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    soak_keys = result.pop("ok_keys")
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = result["failed"] + sum(1 for key in soak_keys if counts.get(key, 0) != 1)
    rows = [
        ("RSS at start / end", f"{result['rss_start_mb']:.1f} MB / {result['rss_end_mb']:.1f} MB",
         f"growth < {RSS_GROWTH_LIMIT_MB:.0f} MB",
         result["rss_end_mb"] - result["rss_start_mb"] < RSS_GROWTH_LIMIT_MB),
        ("open file descriptors before / after", f"{result['fds_before']} / {result['fds_after']}",
         "back to start", result["fds_after"] <= result["fds_before"]),
        ("tasks left", str(result["tasks_left"]), "0", result["tasks_left"] == 0),
        ("duplicate executions", str(duplicates), "0", duplicates == 0),
        ("lost runs", str(lost), "0", lost == 0),
        ("throughput", f"{result['runs_per_second']:,.0f} runs/s ({result['seconds']:.0f} s)",
         "report", True),
    ]  # fmt: skip
    lines = [
        f"# Soak: {result['runs']:,} runs at concurrency {result['concurrency']}",
        "",
        f"Faults: `{FAULTS}`",
        "",
        "| measure | value | target | result |",
        "|---|---|---|---|",
        *(f"| {n} | {v} | {t} | {'pass' if ok else '**FAIL**'} |" for n, v, t, ok in rows),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {**result, "duplicates": duplicates, "lost": lost, "executions": len(counts)}
    (RESULTS / "soak.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    process, settings = start_server()
    try:
        result = asyncio.run(
            asyncio.wait_for(soak(settings, args.runs, args.concurrency), WINDOW_TIMEOUT)
        )
    finally:
        counts = stop_server(process)
    summary = report(result, counts)
    passed = (
        summary["duplicates"] == 0
        and summary["lost"] == 0
        and summary["tasks_left"] == 0
        and summary["fds_after"] <= summary["fds_before"]
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
