"""The Workflow commands: workflows, workflow, activate/deactivate, versions, task, rerun,
usage, export and import, each against the shared FakeZuora."""

from __future__ import annotations

import json

from zuora_wf_async import OAuthCredentials, WorkflowClient
from zuora_wf_async.testing import DEFAULT_WORKFLOW_IDS


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


async def test_workflows_lists_definitions_with_filters(cli, fake, capsys):
    on = fake.create_workflow("Billing")
    fake.create_workflow("Quiet", callout_trigger=False)
    assert await cli("workflows") == 0
    added = [w for w in _lines(capsys) if w["id"] not in DEFAULT_WORKFLOW_IDS]
    assert [w["name"] for w in added] == ["Billing", "Quiet"]
    assert await cli("workflows", "--callout-trigger", "on") == 0
    assert [w["id"] for w in _lines(capsys) if w["id"] not in DEFAULT_WORKFLOW_IDS] == [on]


async def test_workflow_deactivate_and_activate(cli, fake, capsys):
    workflow_id = str(fake.create_workflow("Runaway"))
    assert await cli("deactivate", workflow_id) == 0
    assert _lines(capsys)[0]["status"] == "Inactive"
    assert fake.workflow_record(int(workflow_id))["status"] == "Inactive"
    assert await cli("activate", workflow_id) == 0
    assert await cli("workflow", workflow_id) == 0
    assert [line["status"] for line in _lines(capsys)] == ["Active", "Active"]


async def test_task_rerun_and_usage(cli, fake, capsys):
    fake.configure_workflow(396, task_count=2, failed_tasks=1)
    assert await cli("run", "396") == 0
    run_id = json.loads(capsys.readouterr().out)["id"]
    assert await cli("tasks", str(run_id)) == 0
    failed = next(t for t in _lines(capsys) if t["status"] == "Error")
    assert await cli("task", str(failed["id"])) == 0
    assert _lines(capsys)[0]["error_class"] == "WorkflowError::Callout"
    assert await cli("rerun", str(failed["id"]), "--idempotency-key", "rerun-1") == 0
    assert _lines(capsys)[0]["status"] == "Success"
    assert fake.requests_to("rerun_task")[0].header("Idempotency-Key") == "rerun-1"
    assert await cli("usage", "--from", "2000-01-01", "--to", "2100-12-31") == 0
    assert sum(day["task_count"] for day in _lines(capsys)) == 3


async def test_export_to_a_file_then_import_as_new_and_as_a_version(cli, fake, capsys, tmp_path):
    workflow_id = str(fake.create_workflow("Sandbox flow", tasks=[{"name": "Call"}]))
    path = tmp_path / "flow.json"
    assert await cli("export", workflow_id, "--output", str(path)) == 0
    exported = json.loads(path.read_text())
    assert exported["workflow"]["name"] == "Sandbox flow"
    assert exported["tasks"][0]["name"] == "Call"

    assert await cli("import", str(path), "--activate") == 0
    created = _lines(capsys)[0]
    assert created["name"] == "Sandbox flow"
    assert created["id"] != int(workflow_id)

    assert await cli("import", str(path), "--workflow", workflow_id) == 0  # next version
    capsys.readouterr()
    assert await cli("versions", workflow_id) == 0
    assert [v["version"] for v in _lines(capsys)] == ["0.0.1", "0.0.2"]


async def test_export_to_stdout(cli, fake, capsys):
    workflow_id = str(fake.create_workflow("Printed"))
    assert await cli("export", workflow_id, "--version", "0.0.1") == 0
    assert json.loads(capsys.readouterr().out)["workflow"]["version"] == "0.0.1"


async def test_bad_input_is_a_usage_error(cli, capsys, tmp_path):
    assert await cli("usage", "--from", "yesterday", "--to", "2026-01-01") == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert await cli("import", str(bad)) == 2
    assert "not a JSON export" in capsys.readouterr().err
    assert await cli("import", str(tmp_path / "missing.json")) == 2


async def test_a_deleted_workflow_is_exit_1_with_the_error(cli, fake, capsys):
    workflow_id = fake.create_workflow("Gone")
    auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
    async with WorkflowClient(fake.base_url, auth=auth) as zuora:
        await zuora.delete_workflow(workflow_id)
    assert await cli("workflow", str(workflow_id)) == 1
    assert "NotFoundError" in capsys.readouterr().err
    assert await cli("workflow", "abc") == 2
