"""The fake knows a documented set of workflow definitions and answers 404 for others, as
Zuora does; tests (and ``zuora-wf fake-server --workflow``) add more. Also: the
``batch_update`` limit of 50 tasks, and task records that fit the official schema in every
phase of a run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from zuora_wf_async.testing import DEFAULT_WORKFLOW_IDS, FakeZuora


def _listed(answer: Any) -> list[int]:
    return [workflow["id"] for workflow in answer.body["data"]]


async def test_a_fresh_fake_lists_its_documented_definitions(wire, fake):
    assert 396 in DEFAULT_WORKFLOW_IDS
    answer = await wire.request(fake, "GET", "/workflows", params={"page_length": "50"})
    assert answer.status == 200
    assert _listed(answer) == sorted(DEFAULT_WORKFLOW_IDS)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/workflows/12345"),
        ("PATCH", "/workflows/12345"),
        ("DELETE", "/workflows/12345"),
        ("GET", "/workflows/12345/export"),
        ("GET", "/workflows/12345/versions"),
        ("POST", "/workflows/12345/run"),
    ],
)
async def test_an_unknown_workflow_is_a_404_and_the_list_does_not_grow(wire, fake, method, path):
    kwargs: dict[str, Any] = {"json": {"name": "N"}} if method == "PATCH" else {}
    answer = await wire.request(fake, method, path, **kwargs)
    assert answer.status == 404, answer.body
    assert "errors" in answer.body
    listed = await wire.request(fake, "GET", "/workflows", params={"page_length": "50"})
    assert 12345 not in _listed(listed)
    assert fake.executions == []


async def test_a_test_adds_a_definition_with_the_id_it_wants(wire, fake):
    fake.add_workflow(12345, name="Nightly", callout_trigger=True)
    assert (await wire.run(fake, 12345)).status == 200
    shown = await wire.request(fake, "GET", "/workflows/12345")
    assert (shown.status, shown.body["name"]) == (200, "Nightly")
    listed = await wire.request(fake, "GET", "/workflows", params={"page_length": "50"})
    assert 12345 in _listed(listed)


async def test_configuring_a_workflow_defines_it(wire, fake):
    fake.configure_workflow(777, task_count=2)
    assert (await wire.request(fake, "GET", "/workflows/777")).status == 200
    assert (await wire.run(fake, 777)).status == 200


async def test_the_starting_set_is_a_constructor_option(wire, start_fake):
    fake = await start_fake(workflows=[5, 6])
    listed = await wire.request(fake, "GET", "/workflows")
    assert _listed(listed) == [5, 6]
    assert (await wire.run(fake, 396)).status == 404


async def test_a_deleted_definition_can_be_added_again(wire, fake):
    assert (await wire.request(fake, "DELETE", "/workflows/396")).status == 200
    assert (await wire.run(fake, 396)).status == 404
    fake.add_workflow(396)
    assert (await wire.run(fake, 396)).status == 200


async def test_batch_update_refuses_more_than_50_tasks(wire, fake):
    fake.configure_workflow(42, task_count=51)
    run_id = (await wire.run(fake, 42)).body["id"]
    listed = await wire.request(
        fake, "GET", "/workflows/tasks", params={"workflow_id": run_id, "page_length": "100"}
    )
    ids = [task["id"] for task in listed.body["data"]]
    assert len(ids) == 51
    body = {"data": [{"id": task_id, "name": "X"} for task_id in ids]}
    answer = await wire.request(fake, "PUT", "/workflows/tasks/batch_update", json=body)
    assert answer.status == 400
    assert answer.body["errors"][0]["code"] == "Task"
    assert "50" in answer.body["errors"][0]["title"]
    unchanged = await wire.request(fake, "GET", f"/workflows/tasks/{ids[0]}")
    assert unchanged.body["name"] != "X"  # nothing of a refused request is applied
    fifty = {"data": body["data"][:50]}
    assert (
        await wire.request(fake, "PUT", "/workflows/tasks/batch_update", json=fifty)
    ).status == 200


async def test_task_records_fit_the_official_schema_in_every_phase(
    wire, start_fake, clock, official
):
    """Times Zuora types as non-null strings are left out until known, never null;
    ``task_id`` (the parent task) is null only for a run's first task, as the schema says."""
    fake = await start_fake(queued_seconds=10, processing_seconds=10)
    fake.configure_workflow(42, task_count=3, failed_tasks=1)
    run_id = (await wire.run(fake, 42)).body["id"]
    _, operation, _ = official.operation_for("GET", "/workflows/tasks")
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    for _phase in ("Queued", "Processing", "Finished"):
        answer = await wire.request(fake, "GET", "/workflows/tasks", params={"workflow_id": run_id})
        assert official.schema_errors(answer.body, schema) == [], _phase
        parents = [task["task_id"] for task in answer.body["data"]]
        assert parents[0] is None
        assert all(isinstance(parent, int) for parent in parents[1:])
        clock.advance(10)


@pytest.fixture(scope="module")
def official() -> Any:
    """The official-document helpers of tests/workflows/conftest.py (importlib mode)."""
    path = Path(__file__).parent.parent / "workflows" / "conftest.py"
    spec = importlib.util.spec_from_file_location("workflow_spec_known", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fake_zuora_takes_workflows_keyword() -> None:
    FakeZuora(workflows=())  # an empty tenant is allowed


async def test_fake_server_workflow_option_adds_definitions(wire):
    """``zuora-wf fake-server --workflow 12345`` serves 12345 beside the default set."""
    from zuora_wf_async.cli import _parser
    from zuora_wf_async.cli._fake_server import build_fake

    args = _parser().parse_args(["fake-server", "--workflow", "12345", "--workflow", "777"])
    fake = await build_fake(args).start()
    try:
        listed = await wire.request(fake, "GET", "/workflows", params={"page_length": "50"})
        assert _listed(listed) == sorted({*DEFAULT_WORKFLOW_IDS, 777, 12345})
        assert (await wire.run(fake, 12345)).status == 200
        assert (await wire.run(fake, 778)).status == 404
    finally:
        await fake.close()
