"""2,000 runs through a fake that fails a quarter of the time: each runs exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from zuora_wf_async import OAuthCredentials, RetryBudget, RetryPolicy, WorkflowClient, ZuoraError
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

RUNS = 2_000
CONCURRENCY = 32

# Every fault kind the client must survive, by seeded probability per run request. Quota
# (a per-second limit) adds its own 429s on top; the fake's clock moves only when the
# client sleeps, so a simulated minute of backoff costs no real time.
CHAOS = FaultPlan(
    seed=2026,
    rules=[
        Fault.error_before_record(503, probability=0.05),
        Fault.error_before_record(500, probability=0.03),
        Fault.error_after_record(502, probability=0.04),
        Fault.drop_after_record(probability=0.04),
        Fault.rate_limit_burst(3, retry_after=1, probability=0.02),
        Fault.slow(0.3, record_first=True, probability=0.01),
        Fault.slow(0.3, probability=0.005),
        Fault.expire_token(probability=0.002),
        Fault.quota(100, window=1.0),
    ],
)


async def test_chaos_every_logical_run_executes_exactly_once():
    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        # Simulated time for the fake's windows and tokens, plus a sliver of real time so
        # the slow faults (real seconds inside the fake) can finish while a retry waits.
        await clock.sleep(seconds)
        await asyncio.sleep(min(seconds, 1.0) / 10)

    async with FakeZuora(clock=clock, faults=CHAOS, replay_status=409) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        retries: Counter[str] = Counter()
        async with WorkflowClient(
            fake.base_url,
            auth=auth,
            max_concurrency=CONCURRENCY,
            timeout=0.15,  # the slow faults answer after 0.3 s: a timeout, then a retry
            retry=RetryPolicy(max_attempts=12, base_delay=0.05, max_delay=2.0, deadline=None),
            # A fault rate this high would rightly drain the default budget; here every
            # run must get through, so the budget refills one retry per success.
            retry_budget=RetryBudget(capacity=200, refill=1.0),
            clock=clock,
            sleep=sleep,
            rng=random.Random(7),
            on_retry=lambda event: retries.update([type(event.error).__name__]),
        ) as zuora:

            async def one(index: int) -> tuple[int, int | None, str | None]:
                try:
                    run = await zuora.run_workflow(
                        396, {"item": index}, idempotency_key=f"chaos-{index}"
                    )
                except ZuoraError as error:
                    return index, None, f"{type(error).__name__}: {error}"
                return index, run.id, None

            outcomes = await asyncio.gather(*(one(index) for index in range(RUNS)))
            stats = zuora.stats
            peak = fake.peak_in_flight

    run_requests = fake.requests_to("run")
    faults = fake.fault_counts()
    failures = [outcome for outcome in outcomes if outcome[2] is not None]
    executions_by_key = fake.execution_counts_by_key()

    # Every outcome accounted for, and every one a success.
    assert len(outcomes) == RUNS
    assert failures == []
    # Exactly one execution per logical run, and the run each caller got is that one.
    assert executions_by_key == {f"chaos-{index}": 1 for index in range(RUNS)}
    run_id_by_key = {e.idempotency_key: e.run_id for e in fake.executions}
    assert all(run_id_by_key[f"chaos-{index}"] == run_id for index, run_id, _ in outcomes)
    # No request without a key, and every resend of a key carried the same bytes.
    assert all(request.header("Idempotency-Key") for request in run_requests)
    bodies_by_key: dict[str, set[bytes]] = {}
    for request in run_requests:
        bodies_by_key.setdefault(request.header("Idempotency-Key"), set()).add(request.raw_body)
    assert all(len(bodies) == 1 for bodies in bodies_by_key.values())
    # The faults really happened: at least 20% of run requests, of every kind.
    injected = sum(faults.values())
    assert injected >= 0.2 * RUNS
    assert set(faults) >= {
        "error_before_record",
        "error_after_record",
        "drop_after_record",
        "rate_limit_burst",
        "slow",
        "expire_token",
    }
    # The per-second quota was reached: the client held back for its windows (and so
    # collected few or no quota 429s of its own).
    assert stats.pauses > 0
    assert peak <= CONCURRENCY
    print(  # noqa: T201 -- the closing note quotes this line (pytest -s)
        f"chaos: {RUNS} runs, {len(run_requests)} run requests, faults {dict(faults)} "
        f"({injected} in all), retries {dict(retries)}, duplicates 0, "
        f"token requests {fake.token_requests}, peak in flight {peak}, "
        f"client pauses {stats.pauses}, concurrency cuts {stats.concurrency_cuts}, "
        f"simulated time {clock():.1f}s"
    )
