"""Runs that pend: read without error, said once, and a wait that can stop at pending.

Zuora's schema says a ``Finished`` run "might have tasks pending for retry or delay"; its
settings guide puts runs whose tasks pend (approvals can pend for 90 days) in a ``Pending``
status the API's enum does not list. The fake does both (``pending_tasks=``,
``pending_status=``). The fake and the client share one ManualClock, so a two-minute wait
costs milliseconds and nothing sleeps.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    RunStatus,
    RunWaitTimeoutError,
    WorkflowClient,
)
from zuora_wf_async._models import TaskCounts
from zuora_wf_async.testing import FakeZuora, ManualClock

QUEUED, PROCESSING = 10.0, 20.0
PENDS, FINISHES = 42, 7  # workflow ids: runs of 42 end Pending, runs of 7 Finished
SAID_PENDING = "is pending rather than running"


class FixedRandom(random.Random):
    """A random source that always draws 0: no jitter, so the waits are the schedule."""

    def random(self) -> float:
        return 0.0


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeZuora]:
    async with FakeZuora(clock=clock, queued_seconds=QUEUED, processing_seconds=PROCESSING) as fz:
        fz.configure_workflow(PENDS, task_count=3, pending_tasks=1, pending_status=True)
        yield fz


@pytest.fixture
async def zuora(make_client: Callable[..., WorkflowClient]) -> AsyncIterator[WorkflowClient]:
    async with make_client(rng=FixedRandom(0)) as client:
        yield client


def said_pending(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "zuora_wf_async" and r.levelno == logging.INFO and SAID_PENDING in r.message
    ]


async def test_a_pending_run_is_read_without_error(zuora, fake, clock):
    run = await zuora.run_workflow(PENDS)
    clock.advance(QUEUED + PROCESSING)
    detail = await zuora.get_run(run.id)
    assert detail.status == RunStatus.PENDING
    assert detail.tasks == TaskCounts(pending=1, success=2, total=3)
    assert (detail.is_pending, detail.is_terminal, detail.succeeded) == (True, False, False)
    assert detail.finished_at is None


async def test_until_pending_ends_the_wait_as_soon_as_the_run_is_pending(zuora, fake, clock):
    run = await zuora.run_workflow(PENDS)
    detail = await zuora.wait_for_run(run.id, until_pending=True)
    assert (detail.status, detail.is_pending) == (RunStatus.PENDING, True)
    # Polls at 0, 2, 5, 9.5, 16.25, 26.375 (still going) and 41.5625 (Pending since 30).
    assert clock.sleeps == [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875]
    assert len(fake.requests_to("get_run")) == 7


async def test_a_wait_says_once_that_the_run_is_pending_then_times_out_saying_so(
    zuora, fake, clock, caplog
):
    caplog.set_level(logging.INFO, logger="zuora_wf_async")
    run = await zuora.run_workflow(PENDS)
    with pytest.raises(RunWaitTimeoutError) as caught:
        await zuora.wait_for_run(run.id, timeout=300)
    error = caught.value
    assert error.last_detail is not None
    assert error.last_detail.status == RunStatus.PENDING
    assert error.polls > 3  # polled the pending run several times...
    assert len(said_pending(caplog)) == 1  # ...and said so once
    assert f"run {run.id}" in said_pending(caplog)[0].message
    assert SAID_PENDING in str(error)
    assert "until_pending=True" in str(error)
    assert "still" not in str(error)


async def test_a_running_run_times_out_without_a_word_about_pending(zuora, fake, caplog):
    caplog.set_level(logging.INFO, logger="zuora_wf_async")
    run = await zuora.run_workflow(FINISHES)
    with pytest.raises(RunWaitTimeoutError) as caught:
        await zuora.wait_for_run(run.id, timeout=5)
    assert "is still Queued" in str(caught.value)
    assert "pending" not in str(caught.value)
    assert said_pending(caplog) == []


async def test_a_finished_run_with_pending_tasks_is_not_counted_as_succeeded(zuora, fake):
    fake.configure_workflow(FINISHES, task_count=4, pending_tasks=1)
    detail = await zuora.run_and_wait(FINISHES, {"accountId": "A-1"})
    assert detail.status == RunStatus.FINISHED  # the run's status says nothing of it...
    assert detail.tasks == TaskCounts(pending=1, success=3, total=4)
    assert (detail.is_terminal, detail.is_pending, detail.succeeded) == (True, True, False)
    outcomes = await zuora.run_many(FINISHES, [{"accountId": "A-2"}], wait=True)
    assert (outcomes[0].ok, outcomes[0].succeeded) == (True, False)


async def test_run_and_wait_and_wait_for_runs_take_until_pending(zuora, fake):
    pending = await zuora.run_and_wait(PENDS, until_pending=True)
    assert pending.status == RunStatus.PENDING
    runs = [await zuora.run_workflow(PENDS), await zuora.run_workflow(FINISHES)]
    details = await zuora.wait_for_runs([r.id for r in runs], until_pending=True)
    assert [d.status for d in details] == [RunStatus.PENDING, RunStatus.FINISHED]
    assert [d.id for d in details] == [r.id for r in runs]


async def test_wait_for_runs_without_until_pending_reports_the_pending_run_as_timed_out(
    zuora, fake
):
    runs = [await zuora.run_workflow(PENDS), await zuora.run_workflow(FINISHES)]
    results = await zuora.wait_for_runs([r.id for r in runs], timeout=120, return_exceptions=True)
    assert isinstance(results[0], RunWaitTimeoutError)
    assert SAID_PENDING in str(results[0])
    assert not isinstance(results[1], Exception)
    assert results[1].status == RunStatus.FINISHED


@pytest.mark.parametrize("value", [1, "yes", None])
async def test_a_bad_until_pending_is_refused_before_anything_is_sent(zuora, fake, value):
    for call in (
        zuora.wait_for_run(1, until_pending=value),
        zuora.wait_for_runs([1], until_pending=value),
        zuora.run_and_wait(FINISHES, until_pending=value),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            await call
        assert caught.value.field == "until_pending"
    assert fake.requests_to("get_run") == []
    assert fake.requests_to("run") == []


# -- a status the API does not list --------------------------------------------------------


@pytest.fixture
async def odd_status() -> AsyncIterator[tuple[str, list[str]]]:
    """A server whose run is always in a status Zuora may add later ("Paused")."""
    seen: list[str] = []

    async def run_detail(request: web.Request) -> web.Response:
        seen.append(request.path)
        body: dict[str, Any] = {
            "id": 19080,
            "name": "WF-1-00000001",
            "originalWorkflowId": "1",
            "status": "Paused",
            "type": "Workflow::Instance",
            "createdAt": "2026-11-28 10:00:00 UTC",
            "updatedAt": "2026-11-28 10:00:01 UTC",
            "tasks": {"processing": 1, "total": 1},
        }
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/workflows/workflow_runs/{run_id}", run_detail)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", seen
    await runner.cleanup()


async def test_an_unknown_status_is_read_and_waited_on_without_error(odd_status, clock):
    base_url, seen = odd_status
    async with WorkflowClient(
        base_url, auth=BearerToken("t"), clock=clock, sleep=clock.sleep, rng=FixedRandom(0)
    ) as client:
        detail = await client.get_run(19080)
        assert (detail.status.value, detail.status.is_known) == ("Paused", False)
        assert (detail.is_terminal, detail.is_pending, detail.succeeded) == (False, False, False)
        with pytest.raises(RunWaitTimeoutError) as caught:
            await client.wait_for_run(19080, timeout=10)
    assert "is still Paused" in str(caught.value)
    assert len(seen) == 1 + caught.value.polls
