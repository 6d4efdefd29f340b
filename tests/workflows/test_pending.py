"""A run that pends: the ``Pending`` status Zuora's settings guide names, and a Finished
run with tasks still pending, which is not a success."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from zuora_wf_async import (
    OAuthCredentials,
    RunStatus,
    TaskCounts,
    WorkflowClient,
    WorkflowRunDetail,
)
from zuora_wf_async._converter import decode
from zuora_wf_async.testing import FakeZuora, ManualClock, WorkflowConfig

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _detail(status: str, **counts: int) -> WorkflowRunDetail:
    return WorkflowRunDetail(
        id=1,
        name="WF-1-00000001",
        original_workflow_id=1,
        status=RunStatus(status),
        created_at=NOW,
        updated_at=NOW,
        tasks=TaskCounts(**counts),
    )


@pytest.mark.parametrize(
    ("status", "counts", "succeeded", "pending", "terminal"),
    [
        ("Finished", {"success": 2, "total": 2}, True, False, True),
        ("Finished", {"success": 1, "pending": 1, "total": 2}, False, True, True),
        ("Finished", {"success": 1, "error": 1, "total": 2}, False, False, True),
        ("Pending", {"success": 1, "pending": 1, "total": 2}, False, True, False),
        ("Processing", {"processing": 2, "total": 2}, False, False, False),
        ("Paused", {"total": 2}, False, False, False),  # unknown: read, never terminal
    ],
)
def test_succeeded_requires_no_pending_task(
    status: str, counts: dict[str, int], succeeded: bool, pending: bool, terminal: bool
) -> None:
    detail = _detail(status, **counts)
    assert detail.succeeded is succeeded
    assert detail.is_pending is pending
    assert detail.is_terminal is terminal


@pytest.mark.parametrize("status", ["Pending", "Paused"])
def test_a_pending_or_unknown_status_decodes_without_error(status: str) -> None:
    body: dict[str, Any] = {
        "id": 5, "name": "WF-1-00000005", "originalWorkflowId": "1", "status": status,
        "createdAt": "2024-01-01 00:00:00 UTC", "updatedAt": "2024-01-01 00:00:00 UTC",
        "tasks": {"pending": 1, "success": 1, "total": 2},
    }  # fmt: skip
    detail = decode(body, WorkflowRunDetail)
    assert detail.status.value == status
    assert detail.status.is_known is (status == "Pending")
    assert detail.original_workflow_id == 1


async def test_the_fake_serves_pending_runs_and_tasks() -> None:
    clock = ManualClock()
    async with FakeZuora(clock=clock) as fake:
        fake.configure_workflow(7, WorkflowConfig(task_count=3, pending_tasks=1))
        fake.configure_workflow(
            8, WorkflowConfig(task_count=2, pending_tasks=1, pending_status=True)
        )
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(
            fake.base_url, auth=auth, clock=clock, sleep=clock.sleep
        ) as zuora:
            finished = await zuora.get_run((await zuora.run_workflow(7)).id)
            assert finished.status == RunStatus.FINISHED
            assert (finished.tasks.pending, finished.succeeded, finished.is_pending) == (
                1,
                False,
                True,
            )
            run = await zuora.run_workflow(8)
            pending = await zuora.get_run(run.id)
            assert pending.status == RunStatus.PENDING
            assert pending.finished_at is None
            tasks = [task async for task in zuora.iter_tasks(workflow_run_id=run.id)]
            assert sorted(str(task.status) for task in tasks) == ["Pending", "Success"]


def test_pending_and_failed_tasks_cannot_exceed_the_task_count() -> None:
    with pytest.raises(ValueError, match="pending_tasks"):
        WorkflowConfig(task_count=2, failed_tasks=1, pending_tasks=2)
