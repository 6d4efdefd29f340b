"""The fake's Workflow definition, task, version and usage operations, over raw HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from zuora_wf_async.testing import FakeZuora, TenantLimits, WorkflowConfig

EXPORT = {
    "workflow": {"name": "Call Echo", "version": "0.0.1", "callout_trigger": True},
    "tasks": [{"id": 849, "name": "Call Echo", "action_type": "Callout"}],
    "linkages": [
        {
            "linkage_type": "Start",
            "source_workflow_id": 1,
            "source_task_id": None,
            "target_task_id": 849,
        }
    ],
}


async def _import(
    wire: Any, fake: FakeZuora, path: str = "/workflows/import", **params: str
) -> Any:
    return await wire.request(fake, "POST", path, json=EXPORT, params=params)


async def test_import_creates_a_definition_with_a_version(wire, fake):
    imported = await _import(wire, fake, activate="true")
    assert imported.status == 200
    version = imported.body
    assert (version["name"], version["version"], version["type"]) == (
        "Call Echo",
        "0.0.1",
        "Workflow::Setup",
    )
    definition = (await wire.request(fake, "GET", f"/workflows/{version['id']}")).body
    assert definition["status"] == "Active"
    assert definition["active_version"]["id"] == version["id"]
    versions = (await wire.request(fake, "GET", f"/workflows/{version['id']}/versions")).body
    assert [v["version"] for v in versions["data"]] == ["0.0.1"]
    exported = (await wire.request(fake, "GET", f"/workflows/{version['id']}/export")).body
    assert exported["tasks"][0]["name"] == "Call Echo"
    assert exported["linkages"] == EXPORT["linkages"]


async def test_patch_switches_the_active_version_and_status(wire, fake):
    workflow_id = (await _import(wire, fake, activate="true")).body["id"]
    second = await _import(wire, fake, f"/workflows/{workflow_id}/versions/import", version="0.0.2")
    assert second.body["active_version"]["id"] == workflow_id  # not activated
    new_id = next(
        v["id"]
        for v in (await wire.request(fake, "GET", f"/workflows/{workflow_id}/versions")).body[
            "data"
        ]
        if v["version"] == "0.0.2"
    )
    patched = await wire.request(
        fake,
        "PATCH",
        f"/workflows/{workflow_id}",
        json={"active_workflow_version_id": new_id, "status": "Inactive"},
    )
    assert patched.body["active_version"]["id"] == new_id
    assert patched.body["status"] == "Inactive"
    # Runs of an inactive workflow are refused.
    refused = await wire.run(fake, workflow_id)
    assert refused.status == 400
    assert "inactive" in refused.body["errors"][0]["title"]


async def test_patch_with_a_bad_status_is_422_with_reasons(wire, fake):
    bad = await wire.request(fake, "PATCH", "/workflows/42", json={"status": "on"})
    assert bad.status == 422
    assert bad.body == {
        "reasons": [
            {
                "fieldName": "status",
                "title": "on is not a valid status. Choose from Active or Inactive",
            }
        ],
        "success": False,
    }


async def test_deleting_the_active_version_is_refused_with_403(wire, fake):
    workflow_id = (await _import(wire, fake, activate="true")).body["id"]
    refused = await wire.request(fake, "DELETE", f"/workflows/versions/{workflow_id}")
    assert refused.status == 403
    assert refused.body == {
        "errors": [
            {
                "code": "invalid",
                "status": 403,
                "title": "Cannot delete the active version of a workflow.",
            }
        ]
    }
    await _import(wire, fake, f"/workflows/{workflow_id}/versions/import", version="0.0.2")
    versions = (await wire.request(fake, "GET", f"/workflows/{workflow_id}/versions")).body["data"]
    old = next(v["id"] for v in versions if v["version"] == "0.0.2")
    deleted = await wire.request(fake, "DELETE", f"/workflows/versions/{old}")
    assert deleted.body == {"id": str(old), "success": True}


async def test_delete_workflow_then_it_is_gone(wire, fake):
    assert (await wire.request(fake, "GET", "/workflows/42")).status == 200
    deleted = await wire.request(fake, "DELETE", "/workflows/42")
    assert deleted.body == {"id": "42", "success": True}
    gone = await wire.request(fake, "GET", "/workflows/42")
    assert gone.status == 404
    assert gone.body["errors"][0].startswith("Invalid ID")
    assert (await wire.run(fake, 42)).status == 404


async def test_rerun_changes_the_task_and_usage_counts_tasks_that_ran(wire, fake):
    fake.configure_workflow(42, WorkflowConfig(task_count=3, failed_tasks=1))
    run_id = (await wire.run(fake, 42)).body["id"]
    tasks = (
        await wire.request(fake, "GET", "/workflows/tasks", params={"workflow_id": run_id})
    ).body["data"]
    failed = next(t for t in tasks if t["status"] == "Error")
    rerun = await wire.request(
        fake, "POST", f"/workflows/tasks/{failed['id']}/rerun", headers={"Idempotency-Key": "r-1"}
    )
    assert rerun.status == 200
    assert (rerun.body["status"], rerun.body["error"]) == ("Success", None)
    again = await wire.request(fake, "GET", f"/workflows/tasks/{failed['id']}")
    assert again.body["status"] == "Success"
    detail = (await wire.get_run(fake, run_id)).body
    assert detail["tasks"]["error"] == 0
    assert detail["tasks"]["success"] == 3
    # A repeat under the same key replays the rerun instead of running the task again.
    await wire.request(
        fake, "POST", f"/workflows/tasks/{failed['id']}/rerun", headers={"Idempotency-Key": "r-1"}
    )
    usage = await wire.request(
        fake,
        "GET",
        "/workflows/metrics.json",
        params={"startDate": "2024-01-01", "endDate": "2024-01-31", "metrics": "taskCount"},
    )
    assert usage.body == {"metrics": [{"date": "2024-01-01", "values": {"taskCount": 4}}]}


async def test_batch_update_changes_tasks_and_answers_documented_errors(wire, fake):
    run_id = (await wire.run(fake, 42)).body["id"]
    task_id = (
        await wire.request(fake, "GET", "/workflows/tasks", params={"workflow_id": run_id})
    ).body["data"][0]["id"]
    updated = await wire.request(
        fake,
        "PUT",
        "/workflows/tasks/batch_update",
        json={"data": [{"id": task_id, "name": "Renamed", "tags": ["x"]}]},
    )
    assert updated.body["data"][0]["name"] == "Renamed"
    assert updated.body["pagination"] == {"page": None, "page_length": None}
    tagged = await wire.request(fake, "GET", "/workflows/tasks", params={"tags": "x,y"})
    assert [t["id"] for t in tagged.body["data"]] == [task_id]
    missing = await wire.request(
        fake, "PUT", "/workflows/tasks/batch_update", json={"data": [{"id": 999999}]}
    )
    assert missing.status == 404
    assert missing.body == {
        "errors": [{"code": "Task", "status": 404, "title": "Missing ids for tasks."}]
    }
    empty = await wire.request(fake, "PUT", "/workflows/tasks/batch_update", json={"data": "no"})
    assert empty.body == {
        "errors": [{"code": "Task", "status": 400, "title": "Data not present or not in array."}]
    }


@pytest.mark.parametrize(
    "params",
    [
        [("tags", "billing,other")],  # the schema's form style, as the official SDK sends it
        [("tags[]", "billing"), ("tags[]", "other")],  # the prose's syntax
        [("tags", "billing"), ("tags", "other")],
    ],
)
async def test_tags_are_read_in_every_documented_form(wire, fake, params):
    fake.configure_workflow(7, task_tags=("billing",))
    await wire.run(fake, 7)
    await wire.run(fake, 8)
    listed = await wire.request(fake, "GET", "/workflows/tasks", params=params)
    assert [t["original_workflow_id"] for t in listed.body["data"]] == [7]


async def test_list_workflows_pages_and_filters(wire, start_fake):
    fake = await start_fake(canonical_host="https://rest.zuora.com", workflows=())
    ids = [fake.create_workflow(f"W{n}", callout_trigger=n % 2 == 0) for n in range(3)]
    first = await wire.request(fake, "GET", "/workflows", params={"page_length": "2"})
    assert [w["id"] for w in first.body["data"]] == ids[:2]
    assert (
        first.body["pagination"]["next_page"]
        == "https://rest.zuora.com/workflows?page=2&page_length=2"
    )
    assert first.body["data"][0]["latest_inactive_verisons"] == []
    on = await wire.request(fake, "GET", "/workflows", params={"callout_trigger": "true"})
    assert [w["name"] for w in on.body["data"]] == ["W0", "W2"]
    too_long = await wire.request(fake, "GET", "/workflows", params={"page_length": "51"})
    assert too_long.status == 400


async def test_export_versions_and_their_errors(wire, fake):
    assert (
        await wire.request(fake, "GET", "/workflows/42/export", params={"version": "1"})
    ).body == {
        "errors": [
            {"code": "invalid", "status": 400, "title": "The input of version '1' is invalid."}
        ]
    }
    missing = await wire.request(fake, "GET", "/workflows/42/export", params={"version": "9.9.9"})
    assert missing.status == 404
    latest = await wire.request(fake, "GET", "/workflows/42/export", params={"version": "latest"})
    assert latest.body["workflow"]["version"] == "0.0.1"


async def test_idempotent_import_creates_one_definition(wire, fake):
    headers = {"Idempotency-Key": "imp-1"}
    first = await wire.request(fake, "POST", "/workflows/import", json=EXPORT, headers=headers)
    second = await wire.request(fake, "POST", "/workflows/import", json=EXPORT, headers=headers)
    assert first.body == second.body
    listed = await wire.request(fake, "GET", "/workflows", params={"name": "Call Echo"})
    assert [w["id"] for w in listed.body["data"]] == [first.body["id"]]
    other = await wire.request(
        fake, "POST", "/workflows/import", json={**EXPORT, "tasks": []}, headers=headers
    )
    assert other.status == 422


async def test_run_detail_original_workflow_id_is_a_string(wire, fake):
    run_id = (await wire.run(fake, 42)).body["id"]
    assert (await wire.get_run(fake, run_id)).body["originalWorkflowId"] == "42"


async def test_41_concurrent_requests_get_exactly_one_429(wire, fake):
    """The default tenant limit is 40 in flight; the 41st is refused at once, as Zuora does."""
    token = fake.issue_token()
    fake.pause_requests()
    held = [
        asyncio.create_task(wire.request(fake, "GET", "/workflows/42", token=token))
        for _ in range(40)
    ]
    await fake.wait_until(lambda: fake.tenant_in_flight == 40)
    refused = await wire.request(fake, "GET", "/workflows/42", token=token)
    fake.resume_requests()
    answered = await asyncio.gather(*held)
    assert [r.status for r in answered] == [200] * 40
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit-Limit"].startswith("50000, 50000;w=60, ")
    assert "Concurrency-Limit-Limit" not in refused.headers  # only on /v1 paths at Zuora
    assert refused.body == {
        "message": "Too many concurrent requests: the tenant's concurrency limit is 40."
    }
    assert fake.peak_tenant_in_flight == 40
    # The token call is not bound by the concurrency limit.
    assert (await wire.token(fake, wire.credentials(fake))).status == 200


async def test_the_concurrency_limit_is_configurable(wire, start_fake):
    fake = await start_fake(limits=TenantLimits(concurrency=1))
    fake.pause_requests()
    held = asyncio.create_task(wire.request(fake, "GET", "/workflows/1"))
    await fake.wait_until(lambda: fake.tenant_in_flight == 1)
    assert (await wire.request(fake, "GET", "/workflows/1")).status == 429
    fake.resume_requests()
    assert (await held).status == 200


async def test_quotas_per_minute_hour_and_day(wire, start_fake, clock):
    fake = await start_fake(limits=TenantLimits(per_minute=2, per_hour=3, per_day=100))
    first = await wire.request(fake, "GET", "/workflows/1")
    assert first.headers["RateLimit-Limit"] == "2, 2;w=60, 3;w=3600, 100;w=86400"
    assert first.headers["RateLimit-Remaining"] == "1"
    await wire.request(fake, "GET", "/workflows/1")
    over = await wire.request(fake, "GET", "/workflows/1")
    assert over.status == 429
    assert over.headers["RateLimit-Remaining"] == "0"
    clock.advance(60)  # a new minute, but the hour's 3 are spent (the 429 counted too)
    hour = await wire.request(fake, "GET", "/workflows/1")
    assert hour.status == 429
    assert hour.headers["RateLimit-Limit"].startswith("3, ")
    assert int(hour.headers["RateLimit-Reset"]) == 3600 - 60
    clock.advance(3600)
    assert (await wire.request(fake, "GET", "/workflows/1")).status == 200


def test_tenant_types_follow_zuoras_table():
    assert TenantLimits.api_sandbox() == TenantLimits(per_minute=2500, per_hour=5000, per_day=10000)
    assert TenantLimits.developer_sandbox().per_day == 50_000
    with pytest.raises(ValueError, match="concurrency"):
        TenantLimits(concurrency=0)


async def test_every_answer_validates_against_the_official_schema(wire, fake, official):
    """Bodies in official shapes: each 200 body fits its operation's schema."""
    fake.configure_workflow(42, task_count=2, failed_tasks=1)
    run_id = (await wire.run(fake, 42)).body["id"]
    task_id = (
        await wire.request(fake, "GET", "/workflows/tasks", params={"workflow_id": run_id})
    ).body["data"][1]["id"]
    imported = (await _import(wire, fake, activate="true")).body["id"]
    calls = [
        ("GET", "/workflows", None, {}),
        ("GET", "/workflows/42", None, {}),
        ("PATCH", "/workflows/42", {"name": "N"}, {}),
        ("GET", f"/workflows/workflow_runs/{run_id}", None, {}),
        ("GET", "/workflows/tasks", None, {}),
        ("GET", f"/workflows/tasks/{task_id}", None, {}),
        ("POST", f"/workflows/tasks/{task_id}/rerun", None, {}),
        (
            "PUT",
            "/workflows/tasks/batch_update",
            {"data": [{"id": task_id, "status": "Success"}]},
            {},
        ),
        (
            "GET",
            "/workflows/metrics.json",
            None,
            {"startDate": "2024-01-01", "endDate": "2024-01-02", "metrics": "taskCount"},
        ),
        ("GET", f"/workflows/{imported}/export", None, {}),
        ("POST", "/workflows/import", EXPORT, {}),
        ("GET", f"/workflows/{imported}/versions", None, {}),
        ("POST", f"/workflows/{imported}/versions/import", EXPORT, {"version": "0.0.2"}),
        ("PUT", f"/workflows/workflow_runs/{run_id}/stop", None, {}),
        ("POST", "/workflows/42/run", {"accountId": "A-1"}, {}),
        ("DELETE", "/workflows/42", None, {}),
    ]
    for method, path, body, params in calls:
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": "application/json"}
        answer = await wire.request(fake, method, path, **kwargs)
        assert answer.status == 200, (method, path, answer.body)
        template, operation, _ = official.operation_for(method, path)
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert official.schema_errors(answer.body, schema) == [], (method, template)


async def test_the_422_of_patch_validates_against_validation_errors(wire, fake, official):
    """An error body whose official example agrees with its schema is checked too."""
    answer = await wire.request(fake, "PATCH", "/workflows/42", json={"status": "on"})
    _, operation, _ = official.operation_for("PATCH", "/workflows/42")
    schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
    assert answer.status == 422
    assert official.schema_errors(answer.body, schema) == []


@pytest.fixture(scope="module")
def official() -> Any:
    """The official-document helpers of tests/workflows/conftest.py (importlib mode)."""
    path = Path(__file__).parent.parent / "workflows" / "conftest.py"
    spec = importlib.util.spec_from_file_location("workflow_spec", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
