"""Every record round trips through ``to_dict``/``from_dict`` and plain JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

import zuora_wf_async
from zuora_wf_async import (
    InvalidRequestError,
    RunOutcome,
    RunStatus,
    Task,
    TaskCounts,
    TaskRerunOutcome,
    TaskStatus,
    TaskUpdate,
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowRun,
    WorkflowRunDetail,
    WorkflowStatus,
    WorkflowVersionRef,
    from_dict,
    to_dict,
)
from zuora_wf_async._records_json import RECORDS

WHEN = dt.datetime(2026, 12, 7, 23, 52, 44, tzinfo=dt.UTC)
RUN = WorkflowRun(
    id=10000,
    name="WF-396-00000001",
    original_workflow_id=396,
    status=RunStatus.QUEUED,
    created_at=WHEN,
    updated_at=WHEN,
    type="Workflow::Instance",
)
# One fully populated example of every record, unknown enum values and nesting included.
EXAMPLES: list[Any] = [
    RUN,
    WorkflowRunDetail(
        id=10000,
        name="WF-396-00000001",
        original_workflow_id=396,
        status=RunStatus("Archived"),  # a status Zuora may add: kept as its text
        created_at=WHEN,
        updated_at=WHEN,
        finished_at=WHEN + dt.timedelta(seconds=3),
        run_time=3.5,
        cpu_time="00:00:01",
        tasks=TaskCounts(error=1, pending=2, success=3, total=6),
        messages={"errors": ["a"], "warnings": []},
    ),
    TaskCounts(error=1, queued=4, total=5),
    Task(
        id=7,
        name="Callout",
        workflow_id=10000,
        status=TaskStatus.ERROR,
        instance=True,
        task_id=6,
        tags=("billing", "eu"),
        error="boom",
        start_time=WHEN,
        end_time=WHEN,
        parameters={"url": "https://example.test", "n": [1, 2]},
        data={"Account": {"Id": "A-1"}},
    ),
    Workflow(
        id=396,
        name="Onboard",
        status=WorkflowStatus.ACTIVE,
        callout_trigger=True,
        ondemand_trigger=False,
        created_at=WHEN,
        active_version=WorkflowVersionRef(id=399, version="0.0.1", status=WorkflowStatus.ACTIVE),
        latest_inactive_versions=(Workflow(id=400, version="0.0.2"),),
    ),
    WorkflowVersionRef(id=399, version="0.0.1", type="Workflow::Setup"),
    WorkflowExport(workflow={"name": "Onboard", "version": "0.0.1"}, tasks=({"id": 1},)),
    TaskUpdate(id=7, status=TaskStatus.QUEUED, tags=("retry",), concurrent_limit=3),
    TaskUsage(date=dt.date(2026, 12, 7), task_count=12),
    WorkflowDeletion(id=19080, success=True),
]


def test_every_record_has_an_example() -> None:
    assert {type(example) for example in EXAMPLES} == set(RECORDS)


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda record: type(record).__name__)
def test_a_record_survives_json_and_back(record: Any) -> None:
    text = json.dumps(to_dict(record))  # plain JSON data: no encoder hook needed

    assert from_dict(type(record), json.loads(text)) == record


def test_a_run_is_written_as_zuora_writes_it_and_read_from_zuoras_own_json() -> None:
    data = to_dict(RUN)

    assert data["originalWorkflowId"] == 396
    assert data["status"] == "Queued"
    assert type(data["status"]) is str
    assert data["createdAt"] == "2026-12-07T23:52:44+00:00"
    # The official example's shape and timestamp format read into the same record.
    zuora = {**data, "createdAt": "2026-12-07 23:52:44 UTC", "updatedAt": "2026-12-07 23:52:44 UTC"}
    assert from_dict(WorkflowRun, zuora) == RUN


def test_bad_data_names_each_field_that_is_wrong() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        from_dict(WorkflowRun, {**to_dict(RUN), "id": "ten", "status": 5})

    assert caught.value.field == "data"
    message = str(caught.value)
    assert "$.id" in message
    assert "$.status" in message
    assert caught.value.__cause__ is None  # the cause could quote the caller's data


@pytest.mark.parametrize("data", [None, [], "run", {"id": 1}])
def test_data_that_is_not_a_record_is_refused_with_the_documented_error(data: Any) -> None:
    with pytest.raises(InvalidRequestError):
        from_dict(WorkflowRun, data)


def test_something_that_is_not_a_record_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        to_dict({"id": 1})
    assert caught.value.field == "record"
    with pytest.raises(InvalidRequestError) as caught:
        from_dict(dict, {})
    assert caught.value.field == "cls"


def test_an_outcome_is_written_with_its_error_described_and_is_not_read_back() -> None:
    error = InvalidRequestError("params", "is not an object", "pass a mapping")
    outcome = RunOutcome(index=3, params={"a": 1}, idempotency_key="k-3", error=error)
    rerun = TaskRerunOutcome(task_id=7, idempotency_key="k-7", error=error)

    data = json.loads(json.dumps(to_dict(outcome)))
    assert data["index"] == 3
    assert data["error"] == {
        "type": "InvalidRequestError",
        "message": "params: is not an object; pass a mapping",
        "may_have_run": False,  # refused before sending
    }
    assert json.loads(json.dumps(to_dict(rerun)))["error"]["type"] == "InvalidRequestError"
    with pytest.raises(InvalidRequestError, match="does not round trip"):
        from_dict(RunOutcome, data)


def test_public_names_print_as_the_package_not_its_private_modules() -> None:
    for name in zuora_wf_async.__all__:
        value = getattr(zuora_wf_async, name)
        if isinstance(value, type) or callable(value):
            assert value.__module__ == "zuora_wf_async", name
    assert repr(InvalidRequestError) == "<class 'zuora_wf_async.InvalidRequestError'>"
