"""All 17 Workflow operations through ``WorkflowClient`` against FakeZuora."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest

from zuora_wf_async import (
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    OAuthCredentials,
    TaskStatus,
    TaskUpdate,
    WorkflowClient,
    WorkflowExport,
    WorkflowStatus,
    ZuoraAPIError,
)
from zuora_wf_async._operations import preflight
from zuora_wf_async.testing import (
    DEFAULT_WORKFLOW_IDS,
    FakeZuora,
    Fault,
    FaultPlan,
    ManualClock,
)

EXPORT = {
    "workflow": {"name": "Nightly sync", "version": "0.0.1", "callout_trigger": True},
    "tasks": [{"id": 1, "name": "Call", "action_type": "Callout"}],
    "linkages": [{"linkage_type": "Start", "source_workflow_id": 1, "target_task_id": 1}],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeZuora]:
    # next_page links on Zuora's canonical host, as Zuora builds them.
    async with FakeZuora(clock=ManualClock(), canonical_host="https://rest.zuora.com") as server:
        yield server


@pytest.fixture
async def zuora(fake: FakeZuora) -> AsyncIterator[WorkflowClient]:
    clock = ManualClock()
    async with WorkflowClient(
        fake.base_url,
        auth=OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(0),
    ) as client:
        yield client


def _endpoints(fake: FakeZuora) -> set[str]:
    return {request.endpoint for request in fake.requests if request.status == 200}


async def test_all_17_operations_through_the_client(
    zuora: WorkflowClient, fake: FakeZuora, spec: Any
) -> None:
    fake.configure_workflow(42, task_count=3, failed_tasks=2)
    run = await zuora.run_workflow(42, {"accountId": "A-1"})
    detail = await zuora.get_run(run.id)
    assert detail.original_workflow_id == 42  # sent as the string "42"
    assert detail.tasks.error == 2
    tasks = [task async for task in zuora.iter_tasks(workflow_run_id=run.id)]
    assert len(tasks) == 3
    one = await zuora.get_task(tasks[0].id)
    assert one.id == tasks[0].id
    rerun = await zuora.rerun_task(tasks[-1].id)
    assert rerun.status == TaskStatus.SUCCESS
    updated = await zuora.update_tasks([TaskUpdate(id=tasks[0].id, name="Renamed")])
    assert [task.name for task in updated] == ["Renamed"]
    usage = await zuora.get_task_usage(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert [(day.date, day.task_count) for day in usage] == [(dt.date(2024, 1, 1), 4)]

    imported = await zuora.import_workflow(EXPORT, activate=True)
    assert (imported.name, imported.version) == ("Nightly sync", "0.0.1")
    workflow = await zuora.get_workflow(imported.id)
    assert workflow.is_active
    assert workflow.callout_trigger is True
    listed = [w.id async for w in zuora.iter_workflows(callout_trigger=True)]
    assert imported.id in listed
    export = await zuora.export_workflow(imported.id)
    assert isinstance(export, WorkflowExport)
    assert export.tasks[0]["name"] == "Call"
    await zuora.import_workflow_version(imported.id, export, version="0.0.2")
    versions = await zuora.list_workflow_versions(imported.id)
    assert [v.version for v in versions] == ["0.0.1", "0.0.2"]
    switched = await zuora.update_workflow(imported.id, active_version_id=versions[1].id)
    assert switched.active_version is not None
    assert switched.active_version.id == versions[1].id
    await zuora.delete_workflow_version(versions[0].id)
    await zuora.stop_run(run.id)
    await zuora.delete_workflow(imported.id)
    with pytest.raises(NotFoundError):
        await zuora.get_workflow(imported.id)
    assert _endpoints(fake) >= {
        "run",
        "get_run",
        "stop",
        "tasks",
        "get_task",
        "rerun_task",
        "update_tasks",
        "task_usage",
        "import",
        "get_workflow",
        "list_workflows",
        "export",
        "import_version",
        "list_versions",
        "update_workflow",
        "delete_version",
        "delete_workflow",
    }
    # Every request the client sent, as the server received it, fits the official document.
    for request in fake.requests:
        if request.endpoint == "token":
            continue
        url = f"{fake.base_url}{request.path}?{urlencode(request.query)}"
        headers = {name: request.headers[name] for name in request.headers}
        problems = spec.request_problems(request.method, url, headers, request.body)
        assert problems == [], (request.method, request.path, problems)


async def test_rerun_failed_tasks_twice_reruns_each_failed_task_once(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    fake.configure_workflow(42, task_count=4, failed_tasks=2)
    run = await zuora.run_workflow(42)
    first = await zuora.rerun_failed_tasks(run.id)
    assert len(first) == 2
    assert all(outcome.ok for outcome in first)
    second = await zuora.rerun_failed_tasks(run.id)
    assert second == []
    reruns = fake.requests_to("rerun_task")
    assert len(reruns) == 2
    assert sorted(r.path for r in reruns) == sorted(
        f"/workflows/tasks/{o.task_id}/rerun" for o in first
    )
    assert {r.header("Idempotency-Key") for r in reruns} == {o.idempotency_key for o in first}
    assert (await zuora.get_run(run.id)).tasks.error == 0


async def test_next_page_on_zuoras_canonical_host_is_reissued_against_base_url(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    made = [fake.create_workflow(f"W{n}") for n in range(5)]
    listed = [w.id async for w in zuora.iter_workflows(page_length=2)]
    assert listed == [*sorted(DEFAULT_WORKFLOW_IDS), *made]  # the fake's own, then these
    pages = fake.requests_to("list_workflows")
    expected = [str(n) for n in range(1, (len(listed) + 1) // 2 + 1)]
    assert [r.query.get("page") for r in pages] == expected  # all sent to the fake


async def test_patch_422_is_a_typed_error_naming_the_field(zuora: WorkflowClient) -> None:
    with pytest.raises(InvalidRequestError):
        await zuora.update_workflow(42, status="on")  # refused before sending
    with pytest.raises(ZuoraAPIError) as caught:
        await zuora.update_workflow(42, active_version_id=999_999)
    assert caught.value.status == 422
    assert "active_workflow_version_id" in str(caught.value)


async def test_deleting_the_active_version_is_a_forbidden_error(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    workflow_id = fake.create_workflow("Only version")
    with pytest.raises(ForbiddenError) as caught:
        await zuora.delete_workflow_version(workflow_id)
    assert "active version" in str(caught.value)


async def test_switching_a_runaway_workflow_off(zuora: WorkflowClient, fake: FakeZuora) -> None:
    workflow_id = fake.create_workflow("Runaway")
    off = await zuora.update_workflow(workflow_id, status=WorkflowStatus.INACTIVE)
    assert off.status == WorkflowStatus.INACTIVE
    record: Any = fake.workflow_record(workflow_id)
    assert record["status"] == "Inactive"


async def test_update_tasks_sends_fifty_to_a_request(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    fake.configure_workflow(42, task_count=60)
    run = await zuora.run_workflow(42)
    ids = [task.id async for task in zuora.iter_tasks(workflow_run_id=run.id)]
    updated = await zuora.update_tasks({"id": task_id, "tags": ["x"]} for task_id in ids)
    assert len(updated) == 60
    assert [len(r.body["data"]) for r in fake.requests_to("update_tasks")] == [50, 10]


async def test_preflight_names_the_problem_with_one_request_per_workflow(
    zuora: WorkflowClient, fake: FakeZuora
) -> None:
    """The check run_many makes once before a batch (see test_preflight.py for the batch)."""
    inactive = fake.create_workflow("Off", active=False)
    no_callout = fake.create_workflow("No callout", callout_trigger=False)
    ready = fake.create_workflow("Ready")
    for _ in range(3):  # the check run_many uses
        assert "Inactive" in (await preflight(zuora, inactive) or "")
        assert "Callout trigger off" in (await preflight(zuora, no_callout) or "")
        assert await preflight(zuora, ready) is None
    assert len(fake.requests_to("get_workflow")) == 3  # cached per client


async def test_an_import_whose_answer_is_lost_is_resent_under_its_key_and_done_once() -> None:
    """A 503 after Zuora did the work: the resend carries the same key and bytes, and the
    stored answer comes back instead of a second definition."""
    plan = FaultPlan(rules=[Fault.error_after_record(503, on=[1], endpoints=["import"])])
    clock = ManualClock()
    async with FakeZuora(clock=clock, faults=plan, workflows=()) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(
            fake.base_url, auth=auth, clock=clock, sleep=clock.sleep, rng=random.Random(0)
        ) as zuora:
            imported = await zuora.import_workflow(EXPORT, activate=True)
            listed = [w.id async for w in zuora.iter_workflows()]
    sent = fake.requests_to("import")
    assert [r.status for r in sent] == [503, 200]
    assert sent[0].header("Idempotency-Key") == sent[1].header("Idempotency-Key")
    assert sent[0].raw_body == sent[1].raw_body
    assert listed == [imported.id]


async def test_batch_update_404_is_a_not_found_error_with_zuoras_title(
    zuora: WorkflowClient,
) -> None:
    """batch_update's error bodies are shaped differently (code "Task"); still typed."""
    with pytest.raises(NotFoundError) as caught:
        await zuora.update_tasks([{"id": 999_999, "name": "nobody"}])
    assert caught.value.messages == ("Missing ids for tasks.",)
    assert caught.value.method == "PUT"
