"""Retries, pacing, the retry budget and cancellation, against FakeZuora on loopback."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from zuora_wf_async import (
    BearerToken,
    OAuthCredentials,
    RateLimitError,
    RequestTimeoutError,
    ResponseEvent,
    RetryBudget,
    RetryPolicy,
    ServerError,
    WorkflowClient,
)
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock


def plan(*rules: Fault) -> FaultPlan:
    return FaultPlan(seed=1, rules=rules)


async def test_every_attempt_sends_the_same_key_and_the_same_bytes(fake, make_client):
    fake_faults = FakeZuora(
        faults=plan(
            Fault.error_before_record(503, on=[1]),
            Fault.drop_after_record(on=[2]),
            Fault.error_after_record(500, on=[3]),
        )
    )
    async with fake_faults as faulty:
        token = BearerToken(faulty.issue_token())
        clock = ManualClock()
        async with WorkflowClient(
            faulty.base_url, auth=token, clock=clock, sleep=clock.sleep, gzip_threshold=100
        ) as zuora:
            run = await zuora.run_workflow(396, {"blob": "x" * 500})

    requests = faulty.requests_to("run")
    assert [r.status for r in requests] == [503, None, 500, 200]
    assert {r.header("Idempotency-Key") for r in requests} == {
        requests[0].header("Idempotency-Key")
    }
    assert {r.raw_body for r in requests} == {requests[0].raw_body}
    assert all(r.content_encoding == "gzip" for r in requests)
    assert faulty.execution_counts_by_key() == {requests[0].header("Idempotency-Key"): 1}
    assert faulty.executions[0].run_id == run.id
    assert len(clock.sleeps) == 3


async def test_retries_are_reported_to_the_on_retry_hook(fake, make_client):
    fake.configure_workflow(396, force_status=502)
    events = []

    async with make_client(on_retry=events.append, retry=RetryPolicy(max_attempts=3)) as zuora:
        with pytest.raises(ServerError) as caught:
            await zuora.run_workflow(396)

    assert [(e.attempt, e.reason) for e in events] == [
        (1, "502 server error"),
        (2, "502 server error"),
    ]
    assert all(0 <= e.delay <= 1.0 for e in events)
    assert caught.value.attempts == 3
    assert caught.value.elapsed == pytest.approx(sum(e.delay for e in events))


async def test_a_retry_after_longer_than_the_time_left_gives_up_at_once(clock):
    async with (
        FakeZuora(faults=plan(Fault.rate_limit_burst(1, retry_after=120))) as fake,
        WorkflowClient(
            fake.base_url,
            auth=BearerToken(fake.issue_token()),
            retry=RetryPolicy(deadline=30),
            clock=clock,
            sleep=clock.sleep,
        ) as zuora,
    ):
        with pytest.raises(RateLimitError) as caught:
            await zuora.run_workflow(396)

    assert caught.value.retry_after == 120
    assert "Zuora asked to wait 120s" in str(caught.value)
    assert caught.value.attempts == 1
    assert clock.sleeps == []


async def test_no_attempt_outlives_the_calls_deadline():
    # Real time on purpose: the attempt's own timeout is what is under test. The fake
    # would answer after 30 s; the call's deadline is 0.3 s and the attempt timeout 60 s.
    async with (
        FakeZuora(faults=plan(Fault.slow(30.0))) as fake,
        WorkflowClient(
            fake.base_url,
            auth=BearerToken(fake.issue_token()),
            timeout=60,
            retry=RetryPolicy(deadline=0.3),
        ) as zuora,
    ):
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError) as caught:
            await zuora.run_workflow(396)
        elapsed = time.monotonic() - started

    assert elapsed < 5
    assert caught.value.attempts == 1
    assert caught.value.idempotency_key


async def test_a_run_backing_off_does_not_hold_its_slot(clock):
    waiting = asyncio.Event()
    release = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waiting.set()
        await release.wait()
        await clock.sleep(seconds)

    async with (
        FakeZuora(faults=plan(Fault.error_before_record(503, on=[1]))) as fake,
        WorkflowClient(
            fake.base_url,
            auth=BearerToken(fake.issue_token()),
            max_concurrency=1,
            clock=clock,
            sleep=sleep,
        ) as zuora,
    ):
        backing_off = asyncio.create_task(zuora.run_workflow(396, {"n": 1}))
        await waiting.wait()
        assert zuora.stats.in_flight == 0
        # The only slot is free, so this run goes through while the first one waits.
        async with asyncio.timeout(5):
            second = await zuora.run_workflow(396, {"n": 2})
        release.set()
        first = await backing_off

    assert [e.run_id for e in fake.executions] == [second.id, first.id]


async def test_an_outage_costs_at_most_the_retry_budget(fake, make_client):
    fake.configure_workflow(396, force_status=503)
    budget = RetryBudget(capacity=10, refill=0.1)

    async with make_client(retry_budget=budget, max_concurrency=4) as zuora:
        results = await asyncio.gather(
            *(zuora.run_workflow(396, {"n": n}) for n in range(50)), return_exceptions=True
        )

    assert all(isinstance(result, ServerError) for result in results)
    # 50 first attempts and 10 retries, where max_attempts=5 alone would allow 250.
    assert len(fake.requests_to("run")) == 60
    assert budget.spent == 10
    assert budget.refused == 50  # every call ended on a retry the budget refused


async def test_a_healthy_client_keeps_its_budget_full(fake, make_client):
    budget = RetryBudget(capacity=5, refill=0.5)
    async with make_client(retry_budget=budget) as zuora:
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(20)))
    assert budget.tokens == 5
    assert budget.spent == 0


async def test_a_storm_of_spent_window_429s_pauses_without_passing_the_maximum(clock):
    maximum = 8
    storm = Fault.rate_limit_burst(40, retry_after=0, on=[150])
    # The client's own allowed concurrency after each answer, in the order answers came:
    # what it allows is state, not timing, so this holds on a busy machine too.
    allowed: list[tuple[int | None, int]] = []
    zuora: WorkflowClient

    def record(event: ResponseEvent) -> None:
        allowed.append((event.status, zuora.effective_concurrency))

    async with (
        FakeZuora(latency=0.002, faults=plan(storm)) as fake,
        WorkflowClient(
            fake.base_url,
            auth=BearerToken(fake.issue_token()),
            max_concurrency=maximum,
            retry=RetryPolicy(max_attempts=20),
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(3),
            on_response=record,
        ) as zuora,
    ):
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(600)))
        stats = zuora.stats

    first_429 = next(i for i, (status, _) in enumerate(allowed) if status == 429)
    assert fake.peak_in_flight <= maximum
    assert stats.peak_in_flight <= maximum
    assert {capacity for _, capacity in allowed[:first_429]} == {maximum}
    # The burst answers RateLimit-Remaining: 0, a spent window: the client pauses new
    # sends until it resets rather than letting each request collect its own 429, and
    # does not cut its concurrency (too many in flight is not what Zuora said).
    assert stats.pauses >= 1
    assert stats.concurrency_cuts == 0
    assert allowed[-1][1] == maximum
    assert len(fake.executions) == 600


async def test_a_quota_costs_few_429s_instead_of_one_per_task():
    clock = ManualClock()
    rate = 20
    async with (
        FakeZuora(clock=clock, faults=plan(Fault.quota(rate, window=1.0))) as fake,
        WorkflowClient(
            fake.base_url,
            auth=BearerToken(fake.issue_token()),
            max_concurrency=16,
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(5),
        ) as zuora,
    ):
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(500)))
        stats = zuora.stats

    throttled = [r for r in fake.requests if r.status == 429]
    windows = clock() / 1.0
    assert len(fake.executions) == 500
    # 500 runs at 20 a second need 25 windows; the client learns the quota from the
    # RateLimit headers and waits for each reset instead of sending into it.
    assert len(throttled) <= 16
    assert 500 / rate - 1 <= windows <= 1.5 * 500 / rate  # and uses most of each window
    assert stats.pauses >= 20
    print(f"quota {rate}/s: {len(throttled)} 429s for 500 runs over {windows:.0f} windows")  # noqa: T201


async def test_max_rate_spaces_requests(clock, make_client, fake):
    async with make_client(max_rate=10.0) as zuora:
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(30)))

    assert len(fake.executions) == 30
    assert clock() == pytest.approx(2.9, abs=0.01)  # 30 sends 0.1 s apart


async def test_cancelling_a_call_that_is_backing_off_releases_everything(clock):
    waiting = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()  # never returns: only cancellation ends it

    async with (
        FakeZuora(faults=plan(Fault.error_before_record(503))) as fake,
        WorkflowClient(
            fake.base_url, auth=BearerToken(fake.issue_token()), clock=clock, sleep=sleep
        ) as zuora,
    ):
        task = asyncio.create_task(zuora.run_workflow(396))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert zuora.stats.in_flight == 0

    assert len(fake.requests_to("run")) == 1


async def test_cancelling_a_call_in_flight_releases_its_slot_and_connection(fake, make_client):
    async with make_client(max_concurrency=1) as zuora:
        fake.pause_runs()
        task = asyncio.create_task(zuora.run_workflow(396, {"n": 1}, idempotency_key="k-c"))
        await fake.wait_for_in_flight(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert zuora.stats.in_flight == 0
        fake.resume_runs()
        # The slot is free again: with max_concurrency=1 this would hang otherwise.
        async with asyncio.timeout(5):
            run = await zuora.run_workflow(396, {"n": 1}, idempotency_key="k-c")

    assert fake.execution_counts_by_key() == {"k-c": 1}
    assert fake.executions[0].run_id == run.id
    leftovers = [t for t in asyncio.all_tasks() if "zuora_wf_async._" in repr(t.get_coro())]
    assert leftovers == []


async def test_a_token_refresh_does_not_use_up_max_attempts(clock):
    plan = FaultPlan(
        seed=1, rules=[Fault.expire_token(on=[1]), Fault.error_before_record(503, on=[2])]
    )
    async with FakeZuora(faults=plan) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(
            fake.base_url,
            auth=auth,
            retry=RetryPolicy(max_attempts=2),
            clock=clock,
            sleep=clock.sleep,
        ) as zuora:
            run = await zuora.run_workflow(396, idempotency_key="k-refresh")

    # 401 (token expired) -> resend with a new token -> 503 -> one real retry -> 200
    assert [r.status for r in fake.requests_to("run")] == [401, 503, 200]
    assert fake.executions[0].run_id == run.id
