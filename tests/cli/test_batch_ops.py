"""``zuora-wf batch report`` and ``batch stop``; tuning flags and their ZUORA_* variables."""

from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

from zuora_wf_async import BatchJournal, OAuthCredentials, WorkflowClient
from zuora_wf_async.cli._config import UsageError, add_tuning_options, make_client
from zuora_wf_async.cli._render import Tally
from zuora_wf_async.testing import FakeZuora


def env_for(fake):
    return {
        "ZUORA_BASE_URL": fake.base_url,
        "ZUORA_CLIENT_ID": fake.client_id,
        "ZUORA_CLIENT_SECRET": fake.client_secret,
    }


@pytest.fixture
async def mixed_journal(cli, fake, write_jsonl, tmp_path, capsys):
    """Two ok rows (one waited for), two refused for a missing parameter, one bad row."""
    fake.configure_workflow(396, required_params=("accountId",))
    rows = write_jsonl([{"accountId": "A-1"}, {"n": 2}, "{oops", {"n": 4}, {"accountId": "A-5"}])
    journal = tmp_path / "runs.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 1
    capsys.readouterr()
    return journal


async def test_report_counts_groups_failures_and_names_the_slowest(cli, mixed_journal, capsys):
    assert await cli("batch", "report", str(mixed_journal), env={}) == 0
    out = capsys.readouterr().out
    assert "keys by content" in out
    assert "rows: 5 (ok 2, failed 3, in flight 0)" in out
    assert "MissingParametersError: 2 (rows 2, 4; retry with new-key)" in out
    assert "InvalidRow: 1 (rows 3)" in out
    assert "slowest rows:" in out
    assert "row 1:" in out
    assert "row 5:" in out


async def test_report_counts_each_row_once_after_resumes_and_retries(
    cli, fake, mixed_journal, write_jsonl, capsys
):
    fake.configure_workflow(396)  # the missing parameter is no longer required
    rows = write_jsonl([{"accountId": "A-1"}, {"n": 2}, "{oops", {"n": 4}, {"accountId": "A-5"}])
    argv = ("batch", "396", "--input", str(rows), "--journal", str(mixed_journal))
    assert await cli(*argv, "--retry-failed") == 1  # the unreadable row fails again
    capsys.readouterr()
    assert await cli("batch", "report", str(mixed_journal), env={}) == 0
    out = capsys.readouterr().out
    assert "rows: 5 (ok 4, failed 1, in flight 0)" in out
    assert "MissingParametersError" not in out
    assert await cli("batch", "report", str(mixed_journal), "--format", "jsonl", env={}) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["row"] for r in records) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_report_lists_every_rows_outcome(cli, mixed_journal, capsys, fmt):
    assert await cli("batch", "report", str(mixed_journal), "--format", fmt, env={}) == 0
    out = capsys.readouterr().out
    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(out)))
    else:
        records = [json.loads(line) for line in out.splitlines()]
    by_row = {int(r["row"]): r for r in records}
    assert {row: r["outcome"] for row, r in by_row.items()} == {
        1: "ok",
        2: "failed",
        3: "failed",
        4: "failed",
        5: "ok",
    }
    assert by_row[2]["error"] == "MissingParametersError"
    assert str(by_row[1]["run_id"]).isdigit()


async def test_stop_stops_the_runs_still_queued_and_records_them(
    write_jsonl, tmp_path, cli, capsys
):
    async with FakeZuora(queued_seconds=10_000) as fake:  # runs stay Queued in this test
        env = env_for(fake)
        rows = write_jsonl([{"accountId": f"A-{n}"} for n in range(3)])
        journal = tmp_path / "runs.jsonl"
        argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
        assert await cli(*argv, env=env) == 0
        ok = [json.loads(x) for x in journal.read_text().splitlines()[1:]]
        run_ids = [e["run_id"] for e in ok if e["event"] == "ok"]
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(fake.base_url, auth=auth) as client:
            assert await client.stop_run(run_ids[0])  # an operator got to one already

            # A batch holding the journal keeps batch stop out.
            with BatchJournal.open(journal, workflow_id=396, key_scheme="content"):
                assert await cli("batch", "stop", str(journal), env=env) == 2
                assert "in use by pid" in capsys.readouterr().err

            assert await cli("batch", "stop", str(journal), env=env) == 0
            out = capsys.readouterr().out
            assert "3 run(s) checked: already Stopped 1, stopped 2" in out
            statuses = [str((await client.get_run(r)).status) for r in run_ids]
        assert statuses == ["Stopped"] * 3
        events = [json.loads(x) for x in journal.read_text().splitlines()[1:]]
        assert sorted(e["run_id"] for e in events if e["event"] == "stopped") == run_ids[1:]
        stops = len(fake.requests_to("stop"))

        assert await cli("batch", "stop", str(journal), env=env) == 0  # nothing left
        assert "0 run(s) checked: nothing to stop" in capsys.readouterr().out
        assert len(fake.requests_to("stop")) == stops


def tuned(argv, environ):
    parser = argparse.ArgumentParser()
    parser.add_argument("--entity-ids")
    parser.add_argument("--org-ids")
    add_tuning_options(parser)
    args = parser.parse_args(argv)
    args.env = args.base_url = args.client_id = None
    args.client_secret_file = args.bearer_token_file = None
    base = {"ZUORA_BASE_URL": "http://127.0.0.1:9", "ZUORA_BEARER_TOKEN": "t"}
    return make_client(args, {**base, **environ})


def test_tuning_flags_win_over_zuora_variables_which_win_over_defaults():
    client = tuned(
        ["--max-attempts", "2", "--max-rate", "50"],
        {
            "ZUORA_MAX_ATTEMPTS": "9",
            "ZUORA_DEADLINE": "12.5",
            "ZUORA_TIMEOUT": "7",
            "ZUORA_MAX_CONCURRENCY": "4",
        },
    )
    assert client.retry.max_attempts == 2
    assert client.retry.deadline == 12.5
    assert client.max_rate == 50
    assert client.max_concurrency == 4
    assert client.timeout == 7
    assert tuned(["--concurrency", "3"], {}).max_concurrency == 3
    default = tuned([], {})
    assert (default.retry.max_attempts, default.max_concurrency, default.max_rate) == (5, 40, None)


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {"ZUORA_MAX_ATTEMPTS": "many"}, "ZUORA_MAX_ATTEMPTS: expected a number"),
        ([], {"ZUORA_MAX_RATE": "nan"}, "ZUORA_MAX_RATE: expected a number >= 0.001"),
        (["--max-concurrency", "0"], {}, "--max-concurrency: expected a number >= 1"),
        (["--timeout", "-1"], {}, "--timeout: expected a number >= 0.001"),
    ],
)
def test_bad_tuning_values_name_the_flag_or_variable(argv, environ, message):
    with pytest.raises(UsageError, match=message):
        tuned(argv, environ)


def test_the_rate_counts_only_rows_sent_not_rows_skipped_from_the_journal():
    resumed = Tally(done=1000, skipped=1000)
    assert resumed.rate == 0.0
    assert "(1000 from the journal)" in resumed.line()


async def test_stop_deactivate_switches_the_workflow_off_first(write_jsonl, tmp_path, cli, capsys):
    async with FakeZuora(queued_seconds=10_000) as fake:
        env = env_for(fake)
        workflow_id = str(fake.create_workflow(name="billing"))  # one Zuora can switch off
        rows = write_jsonl([{"accountId": "A-1"}])
        journal = tmp_path / "runs.jsonl"
        argv = ("batch", workflow_id, "--input", str(rows), "--journal", str(journal))
        assert await cli(*argv, env=env) == 0
        assert await cli("batch", "stop", str(journal), "--deactivate", env=env) == 0
        out = capsys.readouterr().out
        assert f"workflow {workflow_id} is now Inactive" in out
        assert "stopped 1" in out
        assert fake.workflow_record(int(workflow_id))["status"] == "Inactive"
