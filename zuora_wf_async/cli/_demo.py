"""``zuora-wf demo``: thousands of runs against an embedded FakeZuora that misbehaves.

No credentials, no network: the fake listens on 127.0.0.1 and answers a share of the run
requests with 503s and 502s, drops some connections *after* creating the run, throttles
with 429 bursts and answers some requests late. The client retries under each run's
Idempotency-Key, so the fake's own count of duplicate executions must stay at zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
from rich.console import Console

from zuora_wf_async import OAuthCredentials, RetryEvent, RetryPolicy, WorkflowClient
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan

from ._render import Tally, live_progress, percentiles, table
from ._settle import describe

__all__ = ["DEMO_FAULTS", "DemoReport", "run_demo"]

WORKFLOW_ID = 396

# Seeded, so every demo meets the same weather. Rates are per run request.
DEMO_FAULTS = FaultPlan(
    seed=2026,
    rules=[
        Fault.error_before_record(503, probability=0.03),
        Fault.error_after_record(502, probability=0.01),
        Fault.drop_after_record(probability=0.01),
        Fault.rate_limit_burst(3, retry_after=1, probability=0.001),
        Fault.slow(0.25, probability=0.01),
    ],
)
# Short waits, so the demo shows retries without spending its minute asleep.
DEMO_RETRY = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=1.0, deadline=60.0)


@attrs.define
class DemoReport:
    runs: int
    ok: int = 0
    failed: Counter[str] = attrs.field(factory=Counter)
    retries: Counter[str] = attrs.field(factory=Counter)
    latencies: list[float] = attrs.field(factory=list)
    elapsed: float = 0.0
    rate: float = 0.0  # runs/s, as the progress line's last reading gave it
    executions: int = 0
    duplicate_executions: int = 0
    token_requests: int = 0
    faults: Counter[str] = attrs.field(factory=Counter)
    endings: Counter[str] | None = None

    def rows(self) -> Iterator[tuple[str, str]]:
        p50, p99 = percentiles(self.latencies)
        yield "runs requested", f"{self.runs:,}"
        yield "runs started", f"{self.ok:,}"
        failed = sum(self.failed.values())
        yield "failed", f"{failed}" + (f" ({_by(self.failed)})" if failed else "")
        retries = sum(self.retries.values())
        yield "retries", f"{retries}" + (f" ({_by(self.retries)})" if retries else "")
        yield "faults injected by the fake", _by(self.faults) or "none"
        yield "executions seen by the fake", f"{self.executions:,}"
        yield "duplicate executions", f"{self.duplicate_executions}"
        yield "OAuth token requests", f"{self.token_requests}"
        yield "latency p50 / p99", f"{p50 * 1000:.0f} ms / {p99 * 1000:.0f} ms (retries included)"
        yield "throughput", f"{self.rate:,.0f} runs/s ({self.elapsed:.1f} s)"
        if self.endings is not None:
            yield "runs ended", _by(self.endings) or "none"

    @property
    def clean(self) -> bool:
        return self.ok == self.runs and self.duplicate_executions == 0


def _by(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.most_common())


async def run_demo(
    *, runs: int, concurrency: int, out: Console, faults: FaultPlan = DEMO_FAULTS
) -> DemoReport:
    """Start ``runs`` runs through the fake, wait for them to end, report what happened."""
    report = DemoReport(runs=runs)
    tally = Tally(total=runs)

    def on_retry(event: RetryEvent) -> None:
        tally.retries += 1
        report.retries[event.reason] += 1

    def items() -> Iterator[dict[str, Any]]:
        for index in range(runs):
            yield {"accountId": f"A-{index:06d}", "amount": index % 1000}

    async with FakeZuora(
        faults=faults, latency=0.01, queued_seconds=0.5, processing_seconds=0.5
    ) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(
            fake.base_url,
            auth=auth,
            max_concurrency=concurrency,
            retry=DEMO_RETRY,
            on_retry=on_retry,
        ) as zuora:
            tally.start()  # the fake and the client are up: the clock of the rate starts
            run_ids: list[int] = []
            async with (
                live_progress(out, "runs", tally),
                zuora.stream_runs(WORKFLOW_ID, items()) as stream,
            ):
                async for outcome in stream:
                    tally.done += 1
                    if outcome.run is not None:
                        report.ok += 1
                        run_ids.append(outcome.run.id)
                        report.latencies.append(outcome.elapsed)
                    else:
                        tally.failed += 1
                        report.failed[type(outcome.error).__name__] += 1
            # One measurement for the progress line and the table (they gave 1,098 and
            # 1,125 runs/s when each took its own clock).
            report.elapsed, report.rate = tally.elapsed, tally.rate
            if hasattr(zuora, "wait_for_runs"):
                out.print(f"waiting for {len(run_ids):,} runs to end ...")
                details = await zuora.wait_for_runs(
                    run_ids, timeout=30, poll_interval=0.25, return_exceptions=True
                )
                report.endings = Counter(
                    type(d).__name__
                    if isinstance(d, Exception)
                    else describe(d.succeeded, d.status)
                    for d in details
                )
    counts = fake.execution_counts_by_key()
    report.executions = len(fake.executions)
    report.duplicate_executions = sum(n - 1 for n in counts.values() if n > 1)
    report.token_requests = fake.token_requests
    report.faults = fake.fault_counts()
    out.print(table(f"zuora-wf demo: {runs:,} runs, {concurrency} in flight", report.rows()))
    return report
