"""``zuora-wf`` follows Zuora's semantics (issue 25): ``export`` exports the active version
unless ``--version`` says otherwise; a pending run is not a failed one (its own line in a
batch summary, its own journal value, exit code 4) and ``--until-pending`` stops a wait
on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


async def test_export_defaults_to_the_active_version(cli, fake, capsys, tmp_path: Path):
    workflow_id = str(fake.create_workflow("Reviewed", tasks=[{"name": "Call"}]))
    path = tmp_path / "flow.json"
    assert await cli("export", workflow_id, "--output", str(path)) == 0
    assert await cli("import", str(path), "--workflow", workflow_id) == 0  # a draft 0.0.2
    capsys.readouterr()
    assert await cli("export", workflow_id) == 0
    assert json.loads(capsys.readouterr().out)["workflow"]["version"] == "0.0.1"
    assert await cli("export", workflow_id, "--version", "latest") == 0
    assert json.loads(capsys.readouterr().out)["workflow"]["version"] == "0.0.2"
    sent = [request.query.get("version") for request in fake.requests_to("export")]
    assert sent == [None, None, "latest"]


# -- pending is not failure ---------------------------------------------------------------


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.splitlines()[-1])


@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({"task_count": 2}, 0),
        ({"task_count": 3, "pending_tasks": 1}, 4),  # Finished, a task still pending
        ({"task_count": 3, "pending_tasks": 1, "failed_tasks": 1}, 1),  # a failure wins
        ({"task_count": 2, "failed_tasks": 1}, 1),
    ],
)
async def test_run_wait_exits_4_for_pending_and_1_for_failed(cli, fake, capsys, config, code):
    fake.configure_workflow(396, **config)
    assert await cli("run", "396", "--wait") == code
    assert _last_json(capsys)["status"] == "Finished"


async def test_until_pending_returns_a_pending_run_at_once(cli, fake, capsys):
    """A run in ``Pending`` (an approval may pend for 90 days): --until-pending stops the
    wait there, on ``run --wait`` and on ``wait``, and exits 4."""
    fake.configure_workflow(396, task_count=2, pending_tasks=1, pending_status=True)
    assert await cli("run", "396", "--wait", "--until-pending") == 4
    detail = _last_json(capsys)
    assert detail["status"] == "Pending"
    assert await cli("wait", str(detail["id"]), "--until-pending") == 4
    assert _last_json(capsys)["status"] == "Pending"
    polls = len(fake.requests_to("get_run"))
    assert polls == 2  # one poll each: no waiting on


async def test_batch_wait_counts_pending_apart_from_failures(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    fake.configure_workflow(396, task_count=3, pending_tasks=1)
    rows = write_jsonl([{"accountId": f"A-{n}"} for n in range(3)])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal), "--wait")
    assert await cli(*argv) == 4
    out = capsys.readouterr().out
    assert re.search(r"runs pending\s*│\s*3 ", out), out  # a line of its own
    assert "failed tasks" not in out
    settled = [e for e in read_journal(journal)[1:] if e["event"] == "settled"]
    assert [(e["ending"], e["succeeded"], e["tasks_pending"]) for e in settled] == [
        ("pending", False, 1)
    ] * 3
    assert await cli("batch", "report", str(journal)) == 0
    assert "runs ended: pending 3" in capsys.readouterr().out


async def test_batch_wait_until_pending_stops_waiting_on_pending_runs(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    fake.configure_workflow(396, task_count=2, pending_tasks=1, pending_status=True)
    rows = write_jsonl([{"accountId": "A-1"}, {"accountId": "A-2"}])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal), "--wait")
    assert await cli(*argv, "--until-pending") == 4
    settled = [e for e in read_journal(journal)[1:] if e["event"] == "settled"]
    assert [(e["status"], e["ending"]) for e in settled] == [("Pending", "pending")] * 2
