"""Zuora's own semantics, against FakeZuora (issue 25 items 1, 2, 3, 5; issue 22's looping
``next_page`` in ``rerun_failed_tasks``).

* a rerun's Idempotency-Key names the *failure* (the task and its failed instance's
  ``end_time``, or a caller's ``attempt``), so a new failure gets a new rerun and a retry of
  one rerun is deduplicated; an answer replayed from a rerun older than the failure is
  reported, not counted as done;
* ``update_tasks`` that fails part way raises ``TaskUpdateError`` carrying what was done;
* ``export_workflow`` sends no ``version`` by default: Zuora exports the *active* version;
* deletes return Zuora's answer (``WorkflowDeletion``).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    NotFoundError,
    OAuthCredentials,
    ResponseDecodeError,
    Task,
    TaskStatus,
    TaskUpdateError,
    WorkflowClient,
    WorkflowDeletion,
    ZuoraError,
)
from zuora_wf_async._core.task_batches import is_stale_replay
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

EXPORT = {
    "workflow": {"name": "Nightly sync", "version": "0.0.1", "callout_trigger": True},
    "tasks": [{"id": 1, "name": "Call", "action_type": "Callout"}],
    "linkages": [],
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeZuora]:
    async with FakeZuora(clock=clock) as server:
        yield server


@pytest.fixture
async def zuora(fake: FakeZuora, clock: ManualClock) -> AsyncIterator[WorkflowClient]:
    auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
    async with WorkflowClient(
        fake.base_url, auth=auth, clock=clock, sleep=clock.sleep, rng=random.Random(0)
    ) as client:
        yield client


async def _failed_task_ids(zuora: WorkflowClient, run_id: int) -> list[int]:
    return [t.id async for t in zuora.iter_tasks(workflow_run_id=run_id) if t.failed]


# -- item 1: rerun_failed_tasks keys name the failure -----------------------------------


async def test_a_task_that_fails_again_after_a_rerun_is_rerun_again(
    zuora: WorkflowClient, fake: FakeZuora, clock: ManualClock
) -> None:
    """The issue's case: the first rerun fails too; the second call must rerun the task,
    not replay the first rerun's answer while the task stays in Error."""
    fake.configure_workflow(42, task_count=2, failed_tasks=1, rerun_failures=1)
    run = await zuora.run_workflow(42)
    clock.advance(60)
    first = await zuora.rerun_failed_tasks(run.id)
    assert len(first) == 1
    assert await _failed_task_ids(zuora, run.id) == [first[0].task_id]  # failed again
    clock.advance(60)
    second = await zuora.rerun_failed_tasks(run.id)
    assert [o.task_id for o in second] == [first[0].task_id]
    assert second[0].idempotency_key != first[0].idempotency_key
    assert second[0].ok
    assert await _failed_task_ids(zuora, run.id) == []
    task = await zuora.get_task(first[0].task_id)
    assert task.status == TaskStatus.SUCCESS


async def test_the_key_is_the_task_and_its_failed_instances_end_time(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    fake.configure_workflow(42, task_count=1, failed_tasks=1)
    run = await zuora.run_workflow(42)
    (failed,) = [t async for t in zuora.iter_tasks(workflow_run_id=run.id)]
    assert failed.end_time is not None
    (outcome,) = await zuora.rerun_failed_tasks(run.id)
    stamp = failed.end_time.strftime("%Y%m%dT%H%M%S.%fZ")
    assert outcome.idempotency_key == f"zuora-wf-rerun-task-{failed.id}-failed-{stamp}"
    (sent,) = fake.requests_to("rerun_task")
    assert sent.header("Idempotency-Key") == outcome.idempotency_key


async def test_a_retried_rerun_is_sent_under_one_key_and_done_once(
    clock: ManualClock,
) -> None:
    """A 503 after Zuora reran the task: the resend carries the same key, Zuora replays."""
    plan = FaultPlan(rules=[Fault.error_after_record(503, on=[1], endpoints=["rerun_task"])])
    async with FakeZuora(clock=clock, faults=plan) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(
            fake.base_url, auth=auth, clock=clock, sleep=clock.sleep, rng=random.Random(0)
        ) as zuora:
            fake.configure_workflow(42, task_count=1, failed_tasks=1)
            run = await zuora.run_workflow(42)
            (outcome,) = await zuora.rerun_failed_tasks(run.id)
    sent = fake.requests_to("rerun_task")
    assert [r.status for r in sent] == [503, 200]
    assert {r.header("Idempotency-Key") for r in sent} == {outcome.idempotency_key}
    assert outcome.ok


async def test_an_attempt_id_names_the_key_and_a_stale_replay_is_reported(
    zuora: WorkflowClient, fake: FakeZuora, clock: ManualClock
) -> None:
    """A caller's attempt id reused for a later failure gets the earlier rerun's answer
    back: that answer predates the failure, so nothing was rerun and it is not ok."""
    fake.configure_workflow(42, task_count=1, failed_tasks=1, rerun_failures=2)
    run = await zuora.run_workflow(42)
    clock.advance(60)
    (a,) = await zuora.rerun_failed_tasks(run.id, attempt="night-1")
    assert a.idempotency_key == f"zuora-wf-rerun-task-{a.task_id}-attempt-night-1"
    assert a.ok
    assert not a.stale_replay
    clock.advance(60)
    (b,) = await zuora.rerun_failed_tasks(run.id, attempt="night-2")
    assert b.ok
    clock.advance(60)
    (again,) = await zuora.rerun_failed_tasks(run.id, attempt="night-1")
    assert again.idempotency_key == a.idempotency_key
    assert again.stale_replay
    assert not again.ok
    assert again.error is None
    assert await _failed_task_ids(zuora, run.id) == [a.task_id]  # still in Error


@pytest.mark.parametrize("attempt", ["", " x", "é", "x" * 300])
async def test_a_bad_attempt_id_is_refused_before_sending(
    zuora: WorkflowClient, fake: FakeZuora, attempt: str
) -> None:
    fake.configure_workflow(42, task_count=1, failed_tasks=1)
    run = await zuora.run_workflow(42)
    with pytest.raises(ZuoraError) as caught:
        await zuora.rerun_failed_tasks(run.id, attempt=attempt)
    assert "attempt" in str(caught.value)
    assert fake.requests_to("rerun_task") == []


@pytest.fixture
async def looping() -> AsyncIterator[tuple[str, list[str]]]:
    """A server whose task listing's next_page points back at its first page."""
    hits: list[str] = []

    async def tasks(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        task = {"id": 7, "status": "Error", "end_time": "2024-01-01T00:00:00.000Z"}
        base = f"http://{request.host}"
        query = request.query_string
        return web.json_response(
            {"data": [task], "pagination": {"next_page": f"{base}/workflows/tasks?{query}"}}
        )

    app = web.Application()
    app.router.add_get("/workflows/tasks", tasks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", hits
    await runner.cleanup()


async def test_rerun_failed_tasks_raises_on_a_looping_next_page(looping) -> None:
    """As iter_tasks does (issue 22): it used to stop silently and rerun what it had read."""
    base_url, hits = looping
    async with WorkflowClient(base_url, auth=BearerToken("token-xyz")) as client:
        with pytest.raises(ResponseDecodeError, match="already read"):
            await client.rerun_failed_tasks(5)
    assert len(hits) == 1  # nothing was rerun: the server has no rerun route at all


# -- item 2: update_tasks keeps what it did ---------------------------------------------


async def test_update_tasks_failing_part_way_says_what_was_done(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    fake.configure_workflow(42, task_count=120)
    run = await zuora.run_workflow(42)
    ids = [t.id async for t in zuora.iter_tasks(workflow_run_id=run.id)]
    updates: list[dict[str, Any]] = [{"id": task_id, "tags": ["x"]} for task_id in ids]
    updates[60]["id"] = 999_999  # chunk 2 names a task Zuora does not have: 404
    with pytest.raises(TaskUpdateError) as caught:
        await zuora.update_tasks(updates)
    error = caught.value
    assert isinstance(error, ZuoraError)
    assert [task.id for task in error.updated] == ids[:50]
    assert error.failed_ids == (*ids[50:60], 999_999, *ids[61:100])
    assert isinstance(error.error, NotFoundError)
    assert error.__cause__ is error.error
    assert error.unsent_ids == tuple(ids[100:])
    assert not error.may_have_run  # a 404 is Zuora's verdict: nothing of chunk 2 applied
    assert "50 of 120" in str(error)
    assert [len(r.body["data"]) for r in fake.requests_to("update_tasks")] == [50, 50]
    assert (await zuora.get_task(ids[0])).tags == ("x",)
    assert (await zuora.get_task(ids[100])).tags == ()


# -- item 3: export_workflow exports the active version by default ---------------------


async def test_export_defaults_to_the_active_version(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    imported = await zuora.import_workflow(EXPORT, activate=True)
    await zuora.import_workflow_version(imported.id, EXPORT, version="0.0.2")  # a draft
    active = await zuora.export_workflow(imported.id)
    assert active.version == "0.0.1"
    (sent,) = fake.requests_to("export")
    assert "version" not in sent.query
    assert (await zuora.export_workflow(imported.id, version="latest")).version == "0.0.2"
    assert (await zuora.export_workflow(imported.id, version="0.0.1")).version == "0.0.1"
    assert [r.query.get("version") for r in fake.requests_to("export")] == [
        None,
        "latest",
        "0.0.1",
    ]


# -- item 5: deletes return Zuora's answer ---------------------------------------------


async def test_deletes_return_zuoras_answer(zuora: WorkflowClient, fake: FakeZuora) -> None:
    imported = await zuora.import_workflow(EXPORT, activate=True)
    await zuora.import_workflow_version(imported.id, EXPORT, version="0.0.2")
    versions = await zuora.list_workflow_versions(imported.id)
    draft = next(v for v in versions if v.version == "0.0.2")
    deleted_version = await zuora.delete_workflow_version(draft.id)
    assert deleted_version == WorkflowDeletion(id=draft.id, success=True)
    deleted = await zuora.delete_workflow(imported.id)
    assert deleted == WorkflowDeletion(id=imported.id, success=True)
    assert deleted.success is True


_T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("failed_end", "answer_start", "stale"),
    [
        (_T0, _T0 + dt.timedelta(seconds=1), False),  # a rerun of this failure
        (_T0, _T0, False),  # the same instant: taken as this failure's rerun
        (_T0, _T0 - dt.timedelta(milliseconds=1), True),  # started before it ended
        (None, _T0, False),  # nothing to compare
        (_T0, None, False),
    ],
)
def test_a_stale_replay_is_an_answer_older_than_the_failure(
    failed_end: dt.datetime | None, answer_start: dt.datetime | None, stale: bool
) -> None:
    failed = Task(id=1, status=TaskStatus.ERROR, end_time=failed_end)
    answer = Task(id=1, status=TaskStatus.SUCCESS, start_time=answer_start)
    assert is_stale_replay(failed, answer) is stale


async def test_update_tasks_whose_first_request_fails_names_the_ids_never_sent(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    """Several requests, the first refused: nothing was applied, and the caller still
    learns which ids were never sent."""
    fake.configure_workflow(42, task_count=60)
    run = await zuora.run_workflow(42)
    ids = [t.id async for t in zuora.iter_tasks(workflow_run_id=run.id)]
    updates: list[dict[str, Any]] = [{"id": task_id, "tags": ["x"]} for task_id in ids]
    updates[3]["id"] = 999_999
    with pytest.raises(TaskUpdateError) as caught:
        await zuora.update_tasks(updates)
    assert caught.value.updated == ()
    assert caught.value.failed_ids == (*ids[:3], 999_999, *ids[4:50])
    assert caught.value.unsent_ids == tuple(ids[50:])
    assert isinstance(caught.value.error, NotFoundError)


async def test_update_tasks_in_one_request_raises_that_requests_error(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    with pytest.raises(NotFoundError):
        await zuora.update_tasks([{"id": 999_999, "name": "nobody"}])


async def test_a_failure_without_times_is_rerun_under_a_fresh_key() -> None:
    """A failed task Zuora lists without ``end_time`` (or ``start_time``) has no failure to
    name: its rerun gets a UUID4 key of its own, resent unchanged within the call."""
    keys: list[str] = []

    async def tasks(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": 7, "status": "Error"}], "pagination": {}})

    async def rerun(request: web.Request) -> web.Response:
        keys.append(request.headers["Idempotency-Key"])
        return web.json_response({"id": 7, "status": "Success"})

    app = web.Application()
    app.router.add_get("/workflows/tasks", tasks)
    app.router.add_post("/workflows/tasks/7/rerun", rerun)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with WorkflowClient(f"http://{host}:{port}", auth=BearerToken("tok")) as client:
            (first,) = await client.rerun_failed_tasks(5)
            (second,) = await client.rerun_failed_tasks(5)
    finally:
        await runner.cleanup()
    assert first.ok
    assert keys == [first.idempotency_key, second.idempotency_key]
    assert first.idempotency_key != second.idempotency_key
    assert all(uuid.UUID(key).version == 4 for key in keys)
