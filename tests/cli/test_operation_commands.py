"""The commands that were missing (issue 25 item 7), each against FakeZuora.

``delete-workflow``, ``delete-version``, ``update-workflow``, ``update-tasks`` (JSON,
JSONL and CSV; a failure part way prints the tasks updated and names the failed request's
ids, its error and the ids never sent), ``tasks`` with filters, ``rerun-failed`` (keys
naming the failure) and ``wait`` of several runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def _run_tasks(cli, capsys, workflow_id: str) -> tuple[int, list[int]]:
    assert await cli("run", workflow_id) == 0
    run_id = _lines(capsys.readouterr().out)[0]["id"]
    assert await cli("tasks", str(run_id)) == 0
    return run_id, [task["id"] for task in _lines(capsys.readouterr().out)]


# -- definitions -----------------------------------------------------------------------


async def test_delete_workflow_asks_for_yes_then_deletes(cli, fake, capsys):
    workflow_id = str(fake.create_workflow("Old sync"))
    assert await cli("delete-workflow", workflow_id) == 2
    assert "--yes" in capsys.readouterr().err
    assert fake.requests_to("delete_workflow") == []
    assert await cli("delete-workflow", workflow_id, "--yes") == 0
    assert _lines(capsys.readouterr().out) == [{"id": int(workflow_id), "success": True}]
    assert await cli("workflow", workflow_id) == 1  # gone: Zuora answers 404
    assert "NotFoundError" in capsys.readouterr().err


async def test_delete_version_deletes_an_inactive_version_not_the_active_one(
    cli, fake, capsys, tmp_path: Path
):
    workflow_id = str(fake.create_workflow("Versioned", tasks=[{"name": "Call"}]))
    export = tmp_path / "flow.json"
    assert await cli("export", workflow_id, "--output", str(export)) == 0
    assert await cli("import", str(export), "--workflow", workflow_id) == 0  # draft 0.0.2
    capsys.readouterr()
    assert await cli("versions", workflow_id) == 0
    versions = {v["version"]: v["id"] for v in _lines(capsys.readouterr().out)}
    assert set(versions) == {"0.0.1", "0.0.2"}
    assert await cli("delete-version", str(versions["0.0.2"]), "--yes") == 0
    assert _lines(capsys.readouterr().out) == [{"id": versions["0.0.2"], "success": True}]
    assert await cli("delete-version", str(versions["0.0.1"]), "--yes") == 1  # the active one
    assert "403" in capsys.readouterr().err
    assert await cli("versions", workflow_id) == 0
    assert [v["version"] for v in _lines(capsys.readouterr().out)] == ["0.0.1"]


async def test_update_workflow_renames_and_changes_status(cli, fake, capsys):
    workflow_id = str(fake.create_workflow("Invoice sync"))
    argv = ("update-workflow", workflow_id, "--name", "Invoice sync v2", "--status", "Inactive")
    assert await cli(*argv) == 0
    (updated,) = _lines(capsys.readouterr().out)
    assert (updated["name"], updated["status"]) == ("Invoice sync v2", "Inactive")
    (sent,) = fake.requests_to("update_workflow")
    assert sent.body == {"name": "Invoice sync v2", "status": "Inactive"}
    assert sent.header("Idempotency-Key")
    assert await cli("workflow", workflow_id) == 0
    assert _lines(capsys.readouterr().out)[0]["name"] == "Invoice sync v2"


async def test_update_workflow_without_a_change_is_a_usage_error(cli, fake, capsys):
    assert await cli("update-workflow", "396") == 2
    assert "changes nothing" in capsys.readouterr().err
    assert fake.requests_to("update_workflow") == []


# -- tasks -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv"])
async def test_update_tasks_from_a_file(cli, fake, capsys, tmp_path: Path, kind):
    fake.configure_workflow(42, task_count=3)
    _run_id, ids = await _run_tasks(cli, capsys, "42")
    path = tmp_path / f"updates.{kind}"
    if kind == "json":
        path.write_text(json.dumps([{"id": i, "tags": ["billing", "q4"]} for i in ids]))
    elif kind == "jsonl":
        path.write_text(
            "".join(json.dumps({"id": i, "tags": ["billing", "q4"]}) + "\n" for i in ids)
        )
    else:
        path.write_text("id,name,tags\n" + "".join(f"{i},,billing;q4\n" for i in ids))
    assert await cli("update-tasks", str(path)) == 0
    tasks = _lines(capsys.readouterr().out)
    assert [task["id"] for task in tasks] == ids
    assert all(task["tags"] == ["billing", "q4"] for task in tasks)
    (sent,) = fake.requests_to("update_tasks")
    assert sent.body["data"][0] == {"id": ids[0], "tags": ["billing", "q4"]}  # no empty name


async def test_update_tasks_failing_part_way_reports_what_was_done_and_what_was_not(
    cli, fake, capsys, tmp_path: Path
):
    fake.configure_workflow(42, task_count=120)
    _run_id, ids = await _run_tasks(cli, capsys, "42")
    updates = [{"id": task_id, "tags": ["x"]} for task_id in ids]
    updates[60]["id"] = 999_999  # chunk 2 names a task Zuora does not have: 404
    path = tmp_path / "updates.json"
    path.write_text(json.dumps(updates))
    assert await cli("update-tasks", str(path)) == 1
    captured = capsys.readouterr()
    assert [task["id"] for task in _lines(captured.out)] == ids[:50]  # these were updated
    (line,) = captured.err.splitlines()
    failed = [*ids[50:60], 999_999, *ids[61:100]]
    assert "50 task(s) updated" in line
    assert f"the request for ids {json.dumps(failed)} failed (NotFoundError" in line
    assert f"never sent: {json.dumps(ids[100:])}" in line


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("u.json", '[{"id": 1}, {"id": 1, "colour": "red"}]', "u.json entry 2: updates[1]"),
        ("u.jsonl", '{"id": 1}\n\n{"id": "x"}\n', "u.jsonl line 3: updates[1].id"),
        ("u.csv", "id,status\n5,Done\n", "u.csv line 2: updates[0].status"),
        ("u.csv", "id\n5,6\n", "u.csv line 2: more values than the header"),
        ("u.json", '{"id": 1}', "expected a JSON list of updates"),
        ("u.json", "[" * 30_000, "nested too deeply"),
        ("u.txt", "id\n5\n", "name the file .json, .jsonl or .csv"),
    ],
)
async def test_bad_updates_name_the_line_and_send_nothing(
    cli, fake, capsys, tmp_path: Path, name, text, message
):
    path = tmp_path / name
    path.write_text(text)
    assert await cli("update-tasks", str(path)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line
    assert fake.requests_to("update_tasks") == []


async def test_tasks_filters_are_sent_and_the_run_id_is_optional(cli, fake, capsys):
    fake.configure_workflow(42, task_count=3, task_tags=("billing",))
    run_id, ids = await _run_tasks(cli, capsys, "42")
    argv = ("tasks", str(run_id), "--name", "Task 2", "--tag", "billing", "--tag", "x")
    assert await cli(*argv) == 0
    assert [task["id"] for task in _lines(capsys.readouterr().out)] == [ids[1]]
    sent = fake.requests_to("tasks")[-1].query
    assert (sent["workflow_id"], sent["name"], sent["tags"]) == (str(run_id), "Task 2", "billing,x")
    assert await cli("tasks", "--id", str(ids[2]), "--page-length", "5") == 0
    assert [task["id"] for task in _lines(capsys.readouterr().out)] == [ids[2]]
    sent = fake.requests_to("tasks")[-1].query
    assert "workflow_id" not in sent
    assert sent["page_length"] == "5"


async def test_tasks_with_run_id_and_workflow_id_filter_is_a_usage_error(cli, fake, capsys):
    assert await cli("tasks", "5", "--workflow-id", "6") == 2
    assert "workflow_run_id" in capsys.readouterr().err


async def test_rerun_failed_reruns_each_failure_once_under_a_key_naming_it(cli, fake, capsys):
    fake.configure_workflow(42, task_count=4, failed_tasks=2)
    run_id, _ids = await _run_tasks(cli, capsys, "42")
    assert await cli("rerun-failed", str(run_id)) == 0
    outcomes = _lines(capsys.readouterr().out)
    assert len(outcomes) == 2
    assert all(o["ok"] and o["error"] is None for o in outcomes)
    for outcome in outcomes:  # the task and its failed instance's end time
        assert outcome["idempotency_key"].startswith(
            f"zuora-wf-rerun-task-{outcome['task_id']}-failed-"
        )
    keys = {o["idempotency_key"] for o in outcomes}
    assert {r.header("Idempotency-Key") for r in fake.requests_to("rerun_task")} == keys
    assert await cli("rerun-failed", str(run_id)) == 0  # nothing failed any more
    assert capsys.readouterr().out == ""
    assert len(fake.requests_to("rerun_task")) == 2


async def test_rerun_failed_with_an_attempt_name_puts_it_in_the_key(cli, fake, capsys):
    fake.configure_workflow(42, task_count=1, failed_tasks=1)
    run_id, (task_id,) = await _run_tasks(cli, capsys, "42")
    assert await cli("rerun-failed", str(run_id), "--attempt", "night-1") == 0
    (outcome,) = _lines(capsys.readouterr().out)
    assert outcome["idempotency_key"] == f"zuora-wf-rerun-task-{task_id}-attempt-night-1"


async def test_rerun_failed_exits_1_when_a_rerun_is_refused(cli, capsys):
    """Zuora refuses one rerun (a 400, not retried): that task's line carries the error."""
    plan = FaultPlan(rules=[Fault.error_before_record(400, on=[1], endpoints=["rerun_task"])])
    async with FakeZuora(faults=plan) as fake:
        env = {
            "ZUORA_BASE_URL": fake.base_url,
            "ZUORA_CLIENT_ID": fake.client_id,
            "ZUORA_CLIENT_SECRET": fake.client_secret,
        }
        fake.configure_workflow(42, task_count=2, failed_tasks=1)
        assert await cli("run", "42", env=env) == 0
        run_id = _lines(capsys.readouterr().out)[0]["id"]
        assert await cli("rerun-failed", str(run_id), env=env) == 1
    (outcome,) = _lines(capsys.readouterr().out)
    assert outcome["ok"] is False
    assert outcome["error"].startswith("BadRequestError: ")


# -- runs ------------------------------------------------------------------------------


async def test_wait_for_several_runs_prints_each_and_an_error_line(cli, fake, capsys):
    run_ids = []
    for _ in range(2):
        assert await cli("run", "396") == 0
        run_ids.append(str(_lines(capsys.readouterr().out)[0]["id"]))
    assert await cli("wait", *run_ids) == 0
    assert [d["id"] for d in _lines(capsys.readouterr().out)] == [int(r) for r in run_ids]
    assert await cli("wait", run_ids[0], "999999", run_ids[1]) == 1
    lines = _lines(capsys.readouterr().out)
    assert [line.get("id", line.get("run_id")) for line in lines] == [
        int(run_ids[0]),
        999999,
        int(run_ids[1]),
    ]
    assert lines[1]["error"].startswith("NotFoundError: ")
