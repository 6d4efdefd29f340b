"""``run``, ``get``, ``wait``, ``stop``, ``tasks``: one call each, JSON on stdout."""

from __future__ import annotations

import json


async def test_run_prints_the_run_as_json_with_the_params_given(cli, fake, capsys):
    code = await cli(
        "run", "396", "--params-json", '{"accountId": "A-1", "n": 1}',
        "--param", "region=EU", "--param", "n:=2", "--idempotency-key", "op-1",
    )  # fmt: skip
    assert code == 0
    run = json.loads(capsys.readouterr().out)
    assert run["original_workflow_id"] == 396
    assert run["status"] == "Queued"
    assert run["name"].startswith("WF-396-")
    [execution] = fake.executions
    assert execution.params == {"accountId": "A-1", "n": 2, "region": "EU"}
    assert execution.idempotency_key == "op-1"


async def test_run_wait_prints_the_run_then_its_final_state(cli, fake, capsys):
    assert await cli("run", "396", "--param", "accountId=A-1", "--wait") == 0
    run, detail = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert detail["id"] == run["id"]
    assert detail["status"] == "Finished"


async def test_run_wait_exits_1_when_tasks_failed(cli, fake, capsys):
    fake.configure_workflow(396, task_count=2, failed_tasks=1)
    assert await cli("run", "396", "--wait") == 1
    detail = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert detail["tasks"]["error"] == 1


async def test_get_wait_stop_and_tasks(cli, fake, capsys):
    fake.configure_workflow(396, task_count=3)
    assert await cli("run", "396") == 0
    run_id = str(json.loads(capsys.readouterr().out)["id"])

    assert await cli("get", run_id) == 0
    assert json.loads(capsys.readouterr().out)["id"] == int(run_id)

    assert await cli("wait", run_id) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "Finished"

    assert await cli("tasks", run_id) == 0
    tasks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(tasks) == 3
    assert {task["workflow_id"] for task in tasks} == {int(run_id)}

    # A Finished run cannot be stopped: Zuora says success false, the command exits 1.
    assert await cli("stop", run_id) == 1
    assert json.loads(capsys.readouterr().out) == {"run_id": int(run_id), "success": False}


async def test_an_unknown_run_is_one_line_on_stderr_and_exit_1(cli, fake, capsys):
    assert await cli("get", "999999") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("zuora-wf: NotFoundError: ")
    assert captured.err.count("\n") == 1


async def test_bad_params_are_a_usage_error_before_anything_is_sent(cli, fake, capsys):
    assert await cli("run", "396", "--param", "id=1") == 2
    assert await cli("run", "396", "--param", "novalue") == 2
    assert await cli("run", "396", "--params-json", "[1]") == 2
    assert await cli("run", "396", "--param", "n:=nope") == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4
    assert all(line.startswith("zuora-wf: ") for line in err)
    assert fake.requests == []
