"""Each documented Zuora error status reaches the caller as its own leaf; replays return runs."""

from __future__ import annotations

import asyncio

import pytest

from zuora_wf_async import (
    CalloutNotEnabledError,
    ForbiddenError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    MissingParametersError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnauthorizedError,
    WorkflowIdIsRunError,
)
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock


async def test_callout_not_enabled_is_its_own_leaf(fake, zuora):
    fake.configure_workflow(396, callout_enabled=False)

    with pytest.raises(CalloutNotEnabledError) as caught:
        await zuora.run_workflow(396, {}, track_id="t-400")

    error = caught.value
    assert error.status == 400
    assert error.request_id
    assert len(error.request_id) == 36
    assert error.track_id == "t-400"
    assert error.idempotency_key
    assert "Callout" in error.messages[0]
    assert error.request_id in str(error)
    assert fake.executions == []


async def test_missing_parameters_carry_zuoras_echo_even_when_gzipped(fake, zuora):
    fake.configure_workflow(396, required_params=("Message",))
    params = {"accountId": "A-1", "padding": "p" * 3000}  # echo > 1000 bytes: gzipped reply

    with pytest.raises(MissingParametersError) as caught:
        await zuora.run_workflow(396, params)

    assert caught.value.status == 406
    assert caught.value.parameters == params
    assert "p" * 50 not in str(caught.value)  # parameter values stay out of messages
    assert fake.requests[-1].response_headers.get("Content-Encoding") == "gzip"
    assert caught.value.attempts == 1


@pytest.mark.parametrize(
    ("status", "leaf", "attempts"),
    [
        pytest.param(403, ForbiddenError, 1, id="403-forbidden-final"),
        pytest.param(404, NotFoundError, 1, id="404-not-found-final"),
        pytest.param(500, ServerError, 5, id="500-retried-then-raised"),
        pytest.param(503, ServerError, 5, id="503-retried-then-raised"),
    ],
)
async def test_forced_statuses_map_to_leaves(fake, zuora, status, leaf, attempts):
    fake.configure_workflow(396, force_status=status)

    with pytest.raises(leaf) as caught:
        await zuora.run_workflow(396)

    assert caught.value.status == status
    assert caught.value.attempts == attempts
    assert len(fake.requests_to("run")) == attempts
    assert fake.executions == []


async def test_a_run_id_passed_as_workflow_id_is_refused(fake, zuora):
    run = await zuora.run_workflow(396)

    with pytest.raises(WorkflowIdIsRunError) as caught:
        await zuora.run_workflow(run.id)

    assert caught.value.status == 409
    assert len(fake.executions) == 1


async def test_a_bad_bearer_token_is_unauthorized(fake, make_client):
    from zuora_wf_async import BearerToken

    async with make_client(auth=BearerToken("not-a-real-token")) as zuora:
        with pytest.raises(UnauthorizedError) as caught:
            await zuora.run_workflow(396)

    assert caught.value.status == 401
    assert "not-a-real-token" not in str(caught.value)
    assert "not-a-real-token" not in repr(caught.value.headers)


async def test_rate_limited_run_carries_retry_after_and_limits():
    plan = FaultPlan(rules=[Fault.rate_limit_burst(count=1, retry_after=7)])
    async with FakeZuora(faults=plan) as fake:
        from zuora_wf_async import BearerToken, WorkflowClient

        async with WorkflowClient(fake.base_url, auth=BearerToken(fake.issue_token())) as zuora:
            with pytest.raises(RateLimitError) as caught:
                await zuora.run_workflow(396, retry=RetryPolicy(max_attempts=1))

    assert caught.value.status == 429
    assert caught.value.retry_after == 7
    assert caught.value.rate_limit is not None
    assert caught.value.rate_limit.remaining == 0
    assert fake.executions == []


async def test_same_key_with_a_different_body_is_422(fake, zuora):
    await zuora.run_workflow(396, {"n": 1}, idempotency_key="k-1")

    with pytest.raises(IdempotencyKeyReusedError) as caught:
        await zuora.run_workflow(396, {"n": 2}, idempotency_key="k-1")

    assert caught.value.status == 422
    assert caught.value.idempotency_key == "k-1"
    assert len(fake.executions) == 1


async def test_same_key_while_the_first_is_in_flight_is_409_in_progress(fake, zuora):
    fake.pause_runs()  # hold the first request inside the fake, its key claimed
    first = asyncio.create_task(zuora.run_workflow(396, {}, idempotency_key="k-2"))
    await fake.wait_for_in_flight(1)

    with pytest.raises(IdempotencyInProgressError) as caught:
        await zuora.run_workflow(396, {}, idempotency_key="k-2", retry=RetryPolicy(max_attempts=1))
    fake.resume_runs()
    run = await first

    assert caught.value.status == 409
    assert caught.value.idempotency_key == "k-2"
    assert [e.run_id for e in fake.executions] == [run.id]


async def test_a_key_in_progress_is_retried_until_the_first_run_answers(fake, make_client):
    clock = ManualClock()

    async def sleep_then_release(seconds: float) -> None:
        fake.resume_runs()  # the first request completes while the second backs off
        await clock.sleep(seconds)
        await fake.wait_until(lambda: fake.in_flight == 0)

    fake.pause_runs()
    async with make_client(sleep=sleep_then_release) as zuora:
        first = asyncio.create_task(zuora.run_workflow(396, {}, idempotency_key="k-9"))
        await fake.wait_for_in_flight(1)
        second = await zuora.run_workflow(396, {}, idempotency_key="k-9")
        assert await first == second

    assert len(fake.executions) == 1
    assert sorted(r.status for r in fake.requests_to("run")) == [200, 200, 409]


@pytest.mark.parametrize("replay_status", [200, 409])
async def test_a_replayed_key_returns_the_first_run(replay_status):
    async with FakeZuora(replay_status=replay_status) as fake:
        from zuora_wf_async import BearerToken, WorkflowClient

        async with WorkflowClient(fake.base_url, auth=BearerToken(fake.issue_token())) as zuora:
            first = await zuora.run_workflow(396, {"n": 1}, idempotency_key="k-3")
            again = await zuora.run_workflow(396, {"n": 1}, idempotency_key="k-3")

    assert again == first
    assert len(fake.executions) == 1
    assert [r.status for r in fake.requests] == [200, replay_status]
