"""Pre-flight: a batch checks its workflow once and stops before a thousand identical failures."""

from __future__ import annotations

import asyncio

import pytest

from zuora_wf_async import NotFoundError, WorkflowNotRunnableError

ITEMS = [{"accountId": f"A-{n}"} for n in range(1000)]


@pytest.mark.parametrize(
    ("options", "reason"),
    [({"active": False}, "Inactive"), ({"callout_trigger": False}, "Callout trigger off")],
    ids=["inactive", "callout-off"],
)
async def test_a_batch_against_a_workflow_that_refuses_runs_stops_after_one_request(
    fake, zuora, options, reason
):
    workflow_id = fake.create_workflow("Monthly close", **options)

    with pytest.raises(WorkflowNotRunnableError) as caught:
        await zuora.run_many(workflow_id, ITEMS)

    assert reason in caught.value.reason
    assert caught.value.workflow_id == workflow_id
    assert "preflight=False" in str(caught.value)
    assert [request.path for request in fake.requests if "oauth" not in request.path] == [
        f"/workflows/{workflow_id}"
    ]
    assert fake.executions == []


async def test_stream_runs_raises_the_same_error_from_its_first_step(fake, zuora):
    workflow_id = fake.create_workflow("Off", active=False)
    stream = zuora.stream_runs(workflow_id, iter(ITEMS))
    with pytest.raises(WorkflowNotRunnableError):
        await anext(stream)
    assert fake.executions == []
    assert stream.in_flight == 0


async def test_a_deleted_workflow_is_not_found_before_any_run(fake, zuora):
    workflow_id = fake.create_workflow("Gone")
    await zuora.delete_workflow(workflow_id)
    with pytest.raises(NotFoundError):
        await zuora.run_many(workflow_id, ITEMS[:10])
    assert fake.requests_to("run") == []


async def test_the_check_is_made_once_per_client_and_can_be_switched_off(fake, zuora):
    workflow_id = fake.create_workflow("Ready")
    await zuora.run_many(workflow_id, ITEMS[:5])
    await zuora.run_many(workflow_id, ITEMS[5:10])
    assert len(fake.requests_to("get_workflow")) == 1  # cached for the next batch

    off = fake.create_workflow("Off", active=False)
    outcomes = await zuora.run_many(off, ITEMS[:3], preflight=False)
    # Without the check every item is sent and refused on its own.
    assert [outcome.ok for outcome in outcomes] == [False, False, False]
    assert len(fake.requests_to("get_workflow")) == 1


async def test_an_empty_batch_sends_nothing_at_all(fake, zuora):
    workflow_id = fake.create_workflow("Off", active=False)
    assert await zuora.run_many(workflow_id, []) == []
    assert [r for r in fake.requests if "oauth" not in r.path] == []


async def test_consumers_waiting_together_when_the_check_refuses_all_return(fake, zuora):
    # One consumer gets the refusal; the others, waiting on the same stream, see its end
    # instead of waiting for good on a stream that will hand out nothing more.
    workflow_id = fake.create_workflow("Off", active=False)
    stream = zuora.stream_runs(workflow_id, iter(ITEMS))
    waiting = [asyncio.ensure_future(anext(stream)) for _ in range(3)]
    # Bounded: a consumer never woken fails the test instead of hanging it.
    _, never_woken = await asyncio.wait(waiting, timeout=10)

    assert not never_woken
    errors = sorted(type(consumer.exception()).__name__ for consumer in waiting)
    assert errors == ["StopAsyncIteration", "StopAsyncIteration", "WorkflowNotRunnableError"]
    assert fake.executions == []
