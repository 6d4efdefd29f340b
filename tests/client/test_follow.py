"""Following runs against the fake: get, wait, stop, tasks, and settling a batch.

The fake and the client share one ManualClock: a run moves Queued (10 s) -> Processing
(20 s) -> Finished by that clock, and the client's waits between polls advance it, so a
minute of polling costs milliseconds and every interval can be asserted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    NotFoundError,
    OAuthCredentials,
    ResponseDecodeError,
    RunStatus,
    RunWaitTimeoutError,
    WorkflowClient,
)
from zuora_wf_async._models import TaskCounts, TaskStatus
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

QUEUED, PROCESSING, STOPPING = 10.0, 20.0, 5.0


class FixedRandom(random.Random):
    """A random source that always draws ``value``: jitter becomes exact."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeZuora]:
    """Overrides the suite's fake: this one judges run progress by the test's clock."""
    async with FakeZuora(
        clock=clock,
        queued_seconds=QUEUED,
        processing_seconds=PROCESSING,
        stopping_seconds=STOPPING,
    ) as server:
        yield server


@pytest.fixture
async def exact(make_client: Callable[..., WorkflowClient]) -> AsyncIterator[WorkflowClient]:
    """A client whose jitter is zero, so its waits are exactly the schedule."""
    async with make_client(rng=FixedRandom(0.0)) as client:
        yield client


def poll_sleeps(clock: ManualClock) -> list[float]:
    return [round(seconds, 6) for seconds in clock.sleeps]


# -- one run ------------------------------------------------------------------------------


async def test_get_run_reads_the_documented_fields(zuora, fake, clock):
    run = await zuora.run_workflow(42)
    queued = await zuora.get_run(run.id)
    assert (queued.id, queued.name, queued.original_workflow_id) == (run.id, run.name, 42)
    assert (queued.status, queued.finished_at, queued.run_time) == (RunStatus.QUEUED, None, 0.0)
    assert queued.tasks == TaskCounts(queued=1, total=1)
    assert (queued.is_terminal, queued.succeeded, queued.type) == (
        False,
        False,
        "Workflow::Instance",
    )
    clock.advance(QUEUED + PROCESSING)
    done = await zuora.get_run(str(run.id))
    assert (done.status, done.run_time, done.cpu_time) == (RunStatus.FINISHED, 30.0, "00:00:01")
    assert done.finished_at is not None
    assert (done.finished_at - done.created_at).total_seconds() == 30.0
    assert (done.is_terminal, done.succeeded) == (True, True)


async def test_wait_polls_at_growing_intervals_until_finished(exact, fake, clock):
    run = await exact.run_workflow(42)
    detail = await exact.wait_for_run(run.id)
    assert (detail.status, detail.succeeded) == (RunStatus.FINISHED, True)
    # Polls at 0, 2, 5, 9.5, 16.25, 26.375 (still going) and 41.5625 (Finished at 30).
    assert poll_sleeps(clock) == [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875]
    assert len(fake.requests_to("get_run")) == 7


async def test_intervals_stop_growing_at_max_poll_interval(exact, fake, clock):
    run = await exact.run_workflow(42)
    await exact.wait_for_run(run.id, poll_interval=1.0, max_poll_interval=4.0)
    assert poll_sleeps(clock) == [1.0, 1.5, 2.25, 3.375, *[4.0] * 6]


async def test_intervals_are_jittered_downwards_only(make_client, fake, clock):
    async with make_client(rng=FixedRandom(0.5)) as client:
        run = await client.run_workflow(42)
        await client.wait_for_run(run.id, poll_interval=1.0, max_poll_interval=4.0)
    assert poll_sleeps(clock)[:5] == [0.9, 1.35, 2.025, 3.0375, 3.6]


async def test_finished_with_failed_tasks_did_not_succeed(exact, fake):
    fake.configure_workflow(42, task_count=4, failed_tasks=1)
    detail = await exact.run_and_wait(42, {"accountId": "A-1"})
    assert detail.status == RunStatus.FINISHED
    assert detail.is_terminal
    assert not detail.succeeded
    assert detail.tasks == TaskCounts(error=1, success=3, total=4)
    failed = [task async for task in exact.iter_tasks(workflow_run_id=detail.id) if task.failed]
    assert [(t.status, t.error_class, t.workflow_id) for t in failed] == [
        (TaskStatus.ERROR, "WorkflowError::Callout", detail.id)
    ]
    assert failed[0].error == "Callout response was 500 after 1 tries."


async def test_stop_run_ends_a_processing_run_as_stopped(exact, fake, clock):
    run = await exact.run_workflow(42)
    clock.advance(QUEUED + 2.0)
    assert (await exact.get_run(run.id)).status == RunStatus.PROCESSING
    assert await exact.stop_run(run.id) is True
    assert (await exact.get_run(run.id)).status == RunStatus.STOPPING
    detail = await exact.wait_for_run(run.id)
    assert (detail.status, detail.is_terminal, detail.succeeded) == (
        RunStatus.STOPPED,
        True,
        False,
    )
    assert detail.tasks == TaskCounts(stopped=1, total=1)
    assert poll_sleeps(clock) == [2.0, 3.0]  # Stopping for 5 s, seen at 0, 2 and 5
    [stop] = fake.requests_to("stop")
    assert (stop.method, stop.path) == ("PUT", f"/workflows/workflow_runs/{run.id}/stop")


async def test_stopping_a_finished_run_is_declined(exact, fake, clock):
    run = await exact.run_workflow(42)
    clock.advance(QUEUED + PROCESSING)
    assert await exact.stop_run(run.id) is False
    assert (await exact.get_run(run.id)).status == RunStatus.FINISHED


async def test_unknown_runs_are_not_found(zuora, fake):
    for call in (zuora.get_run, zuora.stop_run, zuora.wait_for_run):
        with pytest.raises(NotFoundError) as caught:
            await call(99999)
        assert caught.value.status == 404
        assert "99999" in str(caught.value)


async def test_timeout_while_queued_carries_the_last_detail(exact, fake, clock):
    run = await exact.run_workflow(42)
    with pytest.raises(RunWaitTimeoutError) as caught:
        await exact.wait_for_run(run.id, timeout=5.0)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert (error.run_id, error.timeout, error.polls, error.elapsed) == (run.id, 5.0, 3, 5.0)
    assert error.last_detail.status == RunStatus.QUEUED
    assert error.last_detail.id == run.id
    # The last wait is cut to end at the deadline, where one final poll is made.
    assert poll_sleeps(clock) == [2.0, 3.0]
    assert "still Queued" in str(error)


async def test_a_zero_timeout_polls_once(exact, fake, clock):
    run = await exact.run_workflow(42)
    with pytest.raises(RunWaitTimeoutError) as caught:
        await exact.wait_for_run(run.id, timeout=0)
    assert caught.value.polls == 1
    assert clock.sleeps == []


async def test_no_timeout_waits_as_long_as_it_takes(exact, fake, clock):
    run = await exact.run_workflow(7)
    detail = await exact.wait_for_run(run.id, timeout=None, max_poll_interval=2.0)
    assert detail.status == RunStatus.FINISHED
    assert clock.sleeps == [2.0] * 15  # the poll at 30 s sees it Finished


async def test_a_poll_that_fails_transiently_is_retried(clock):
    plan = FaultPlan(rules=[Fault.error_before_record(503, on=[2], endpoints=["get_run"])])
    async with (
        FakeZuora(clock=clock, queued_seconds=3.0, faults=plan) as fake,
        _client_for(fake, clock) as client,
    ):
        run = await client.run_workflow(42)
        detail = await client.wait_for_run(run.id)
    assert detail.status == RunStatus.FINISHED
    assert [r.status for r in fake.requests_to("get_run")] == [200, 503, 200, 200]


def _client_for(fake: FakeZuora, clock: ManualClock, **options: Any) -> WorkflowClient:
    auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
    options.setdefault("rng", random.Random(0))
    return WorkflowClient(fake.base_url, auth=auth, clock=clock, sleep=clock.sleep, **options)


# -- tasks --------------------------------------------------------------------------------


async def test_iter_tasks_follows_next_page_over_several_pages(zuora, fake, clock):
    fake.configure_workflow(42, task_count=250)
    run = await zuora.run_workflow(42)
    await zuora.run_workflow(42)  # another run's 250 tasks stay out
    clock.advance(QUEUED + PROCESSING)
    listed = [task async for task in zuora.iter_tasks(workflow_run_id=run.id)]
    assert len(listed) == 250
    assert {task.workflow_id for task in listed} == {run.id}
    assert [task.id for task in listed] == sorted(task.id for task in listed)
    assert {task.status for task in listed} == {TaskStatus.SUCCESS}
    pages = fake.requests_to("tasks")
    assert [(r.query["page"], r.query["page_length"]) for r in pages] == [
        ("1", "100"),
        ("2", "100"),
        ("3", "100"),
    ]
    assert {r.query["workflow_id"] for r in pages} == {str(run.id)}


async def test_iter_tasks_small_pages_and_filters(zuora, fake):
    fake.configure_workflow(1, task_count=3, task_tags=("billing",))
    fake.configure_workflow(2, task_count=3, task_tags=("crm",))
    await zuora.run_workflow(1)
    await zuora.run_workflow(2)
    tagged = [t async for t in zuora.iter_tasks(tags=["billing"], instance=True, page_length=2)]
    assert [t.original_workflow_id for t in tagged] == [1, 1, 1]
    assert len(fake.requests_to("tasks")) == 2
    named = [t.name async for t in zuora.iter_tasks(name="Task 2")]
    assert named == ["Task 2", "Task 2"]


async def test_iter_tasks_of_a_run_with_no_tasks_yields_nothing(zuora, fake):
    assert [t async for t in zuora.iter_tasks(workflow_run_id=424242)] == []


@pytest.fixture
async def rogue() -> AsyncIterator[tuple[str, list[str], dict[str, Any]]]:
    """A server answering GET /workflows/tasks with whatever pagination the test sets."""
    hits: list[str] = []
    reply: dict[str, Any] = {}

    async def tasks(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        assert request.headers["Authorization"] == "Bearer secret-token"
        return web.json_response({"data": [{"id": len(hits)}], "pagination": reply})

    app = web.Application()
    app.router.add_get("/workflows/tasks", tasks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", hits, reply
    await runner.cleanup()


async def test_a_next_page_on_another_host_is_reissued_against_base_url(rogue):
    base_url, hits, reply = rogue
    reply["next_page"] = "http://evil.example/workflows/tasks?page=2&page_length=1"
    async with WorkflowClient(base_url, auth=BearerToken("secret-token")) as client:
        with pytest.raises(ResponseDecodeError, match="already read"):
            # The rogue server names page 2 forever; the second visit ends the listing.
            _ = [task.id async for task in client.iter_tasks()]
    # Both requests reached the test's own server (it asserts the token on each), none
    # went to evil.example.
    assert hits == [
        "/workflows/tasks?page=1&page_length=100",
        "/workflows/tasks?page=2&page_length=1",
    ]


async def test_a_next_page_to_another_path_is_refused(rogue):
    base_url, hits, reply = rogue
    reply["next_page"] = "http://evil.example/steal?page=2"
    got: list[int] = []

    async def drain(client: WorkflowClient) -> None:
        async for task in client.iter_tasks():
            got.append(task.id)  # noqa: PERF401 -- the ids seen before the error are the point

    async with WorkflowClient(base_url, auth=BearerToken("secret-token")) as client:
        with pytest.raises(ResponseDecodeError, match="not the listing") as caught:
            await drain(client)
    assert caught.value.field == "pagination.next_page"
    assert "secret-token" not in str(caught.value)
    assert (got, len(hits)) == ([1], 1)


async def test_fake_next_page_on_a_canonical_host_is_reissued_against_base_url(clock):
    async with (
        FakeZuora(clock=clock, canonical_host="https://rest.zuora.com") as fake,
        _client_for(fake, clock) as client,
    ):
        fake.configure_workflow(42, task_count=5)
        run = await client.run_workflow(42)
        listed = [t.id async for t in client.iter_tasks(workflow_run_id=run.id, page_length=2)]
        pages = fake.requests_to("tasks")
    assert len(listed) == 5
    assert [(r.query["page"], r.query["workflow_id"]) for r in pages] == [
        ("1", str(run.id)),
        ("2", str(run.id)),
        ("3", str(run.id)),
    ]


async def test_a_next_page_pointing_back_is_refused(rogue):
    base_url, hits, reply = rogue
    reply["next_page"] = f"{base_url}/workflows/tasks?page=1&page_length=100"
    async with WorkflowClient(base_url, auth=BearerToken("secret-token")) as client:
        with pytest.raises(ResponseDecodeError, match="already read"):
            _ = [task async for task in client.iter_tasks()]
    assert len(hits) == 1


@pytest.mark.parametrize("last", [None, ""])
async def test_a_null_or_empty_next_page_ends_the_listing(rogue, last):
    base_url, _hits, reply = rogue
    reply["next_page"] = last
    async with WorkflowClient(base_url, auth=BearerToken("secret-token")) as client:
        assert [task.id async for task in client.iter_tasks()] == [1]


# -- many runs ----------------------------------------------------------------------------


async def test_wait_for_runs_returns_details_in_input_order(exact, fake, clock):
    fake.configure_workflow(2, failed_tasks=1)
    first = await exact.run_workflow(1)
    clock.advance(3.0)
    second = await exact.run_workflow(2)
    details = await exact.wait_for_runs([second.id, str(first.id)])
    assert [d.id for d in details] == [second.id, first.id]
    assert [d.succeeded for d in details] == [False, True]


async def test_wait_for_runs_failures_raise_or_stand_in_place(exact, fake):
    run = await exact.run_workflow(1)
    with pytest.raises(NotFoundError):
        await exact.wait_for_runs([run.id, 99999])
    results = await exact.wait_for_runs([99999, run.id, run.id], return_exceptions=True)
    assert isinstance(results[0], NotFoundError)
    assert [getattr(r, "status", None) for r in results[1:]] == [RunStatus.FINISHED] * 2
    timed_out = await exact.wait_for_runs(
        [(await exact.run_workflow(1)).id], timeout=1.0, return_exceptions=True
    )
    assert isinstance(timed_out[0], RunWaitTimeoutError)


async def test_500_runs_settle_without_polls_exceeding_their_budget(clock):
    # A real (2 ms) pause per GET makes polls overlap at the fake, so its peak counter
    # measures the client's poll budget rather than the server's speed.
    slow_polls = Fault.slow(0.002, endpoints=["get_run"])
    async with (
        FakeZuora(
            clock=clock,
            queued_seconds=4.0,
            processing_seconds=2.0,
            faults=FaultPlan(rules=[slow_polls]),
        ) as fake,
        _client_for(fake, clock, max_concurrency=32) as client,
    ):
        fake.configure_workflow(42, task_count=2, failed_tasks=0)
        fake.configure_workflow(43, task_count=2, failed_tasks=1)
        runs = await asyncio.gather(
            *(client.run_workflow(42 if i % 5 else 43, {"i": i}) for i in range(500))
        )
        details = await client.wait_for_runs([run.id for run in runs])
        assert client.poll_budget == 8
        assert [d.id for d in details] == [run.id for run in runs]
        assert all(d.status == RunStatus.FINISHED for d in details)
        assert sum(not d.succeeded for d in details) == 100
        assert fake.peak_in_flight_by_endpoint["get_run"] == 8
        assert client.stats.peak_in_flight <= 32
        assert len(fake.executions) == 500


async def test_without_the_budget_polls_would_crowd_the_client(clock):
    """The control for the test above: a large poll budget lets polls pile up."""
    slow_polls = Fault.slow(0.002, endpoints=["get_run"])
    async with (
        FakeZuora(clock=clock, queued_seconds=4.0, faults=FaultPlan(rules=[slow_polls])) as fake,
        _client_for(fake, clock, max_concurrency=32, poll_concurrency=32) as client,
    ):
        runs = await asyncio.gather(*(client.run_workflow(42) for _ in range(64)))
        await client.wait_for_runs([run.id for run in runs])
    assert fake.peak_in_flight_by_endpoint["get_run"] > 8


async def test_the_poll_budget_is_a_constructor_argument_of_each_client(make_client, fake):
    with pytest.raises(InvalidRequestError, match="poll_concurrency"):
        make_client(max_concurrency=8, poll_concurrency=0)
    async with (
        make_client(max_concurrency=8) as default,
        make_client(max_concurrency=8, poll_concurrency=3) as configured,
    ):
        # One client's setting never changes another's (it was a class attribute once).
        assert default.poll_budget == 2
        assert configured.poll_budget == 3
        run = await configured.run_workflow(42)
        await configured.wait_for_run(run.id)


# -- bad input: nothing is sent -----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda z: z.get_run(0), "run_id"),
        (lambda z: z.get_run(-3), "run_id"),
        (lambda z: z.get_run("abc"), "run_id"),
        (lambda z: z.get_run(True), "run_id"),
        (lambda z: z.get_run(12.0), "run_id"),
        (lambda z: z.get_run(1, track_id="a:b"), "track_id"),
        (lambda z: z.stop_run("1e3"), "run_id"),
        (lambda z: z.stop_run(None), "run_id"),
        (lambda z: z.wait_for_run(1, timeout=-1), "timeout"),
        (lambda z: z.wait_for_run(1, poll_interval=0), "poll_interval"),
        (lambda z: z.wait_for_run(1, max_poll_interval=1, poll_interval=2), "max_poll_interval"),
        (lambda z: z.wait_for_run("x"), "run_id"),
        (lambda z: z.wait_for_runs([1, "2", 0]), "run_ids[2]"),
        (lambda z: z.wait_for_runs("123"), "run_ids"),
        (lambda z: z.wait_for_runs([1], timeout=-5), "timeout"),
        (lambda z: z.run_and_wait(42, timeout=-1), "timeout"),
        (lambda z: z.run_and_wait(0), "workflow_id"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_sent(zuora, fake, call, field):
    with pytest.raises(InvalidRequestError) as caught:
        await call(zuora)
    assert caught.value.field == field
    assert fake.requests == []
    assert fake.executions == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"page_length": 0}, "page_length"),
        ({"page_length": 101}, "page_length"),
        ({"page": 0}, "page"),
        ({"workflow_run_id": "r1"}, "workflow_run_id"),
        ({"status": "Error"}, "filters['status']"),
        ({"tags": "billing"}, "filters['tags']"),
    ],
)
async def test_bad_task_queries_are_refused_when_called(zuora, fake, options, field):
    with pytest.raises(InvalidRequestError) as caught:
        zuora.iter_tasks(**options)  # checked at the call, before iteration
    assert caught.value.field == field
    assert fake.requests == []
