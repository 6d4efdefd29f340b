"""`zuora-wf batch` checks the workflow once before its first row (the client's pre-flight)."""

from __future__ import annotations


async def test_a_batch_against_an_inactive_workflow_stops_before_any_row(
    cli, fake, write_jsonl, tmp_path, capsys
):
    workflow_id = fake.create_workflow("Monthly close", active=False)
    rows = write_jsonl([{"accountId": f"A-{n}"} for n in range(50)])
    argv = ("batch", str(workflow_id), "--input", str(rows), "--journal", str(tmp_path / "j"))

    code = await cli(*argv)

    captured = capsys.readouterr()
    assert code != 0
    assert "Inactive" in captured.err + captured.out
    assert "Traceback" not in captured.err
    assert fake.requests_to("run") == []
    assert len(fake.requests_to("get_workflow")) == 1


async def test_no_preflight_sends_every_row_to_be_refused_on_its_own(
    cli, fake, write_jsonl, tmp_path
):
    workflow_id = fake.create_workflow("Monthly close", active=False)
    rows = write_jsonl([{"accountId": f"A-{n}"} for n in range(3)])
    journal = tmp_path / "j"
    argv = ("batch", str(workflow_id), "--input", str(rows), "--journal", str(journal))

    assert await cli(*argv, "--no-preflight") == 1  # rows failed, each on its own

    assert len(fake.requests_to("run")) == 3
    assert fake.requests_to("get_workflow") == []
