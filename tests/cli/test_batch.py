"""``zuora-wf batch``: journal, resume with the same keys, exit codes, dry run."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

import pytest

from zuora_wf_async.cli._inputs import KeyScheme, canonical_json
from zuora_wf_async.testing import FakeZuora

ROWS = [{"accountId": f"A-{n:03d}", "amount": n} for n in range(1, 31)]


def keys_by_row(events):
    """Row -> the set of keys it was ever sent with (must be one key per row)."""
    keys = defaultdict(set)
    for event in events[1:]:
        if event["event"] == "started":
            keys[event["row"]].add(event.get("sent_key", event["key"]))
    return keys


def last_events(events):
    return {event["row"]: event["event"] for event in events[1:] if "row" in event}


async def test_a_clean_batch_journals_every_row_and_exits_0(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    rows = write_jsonl(ROWS[:5])
    journal = tmp_path / "runs.jsonl"

    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 0

    events = read_journal(journal)
    header = events[0]
    assert header["journal"] == "zuora-wf-journal/2"
    assert header["key_scheme"] == "content"
    assert header["workflow_id"] == 396
    assert len(header["input_sha256"]) == 64
    assert last_events(events) == dict.fromkeys(range(1, 6), "ok")
    ok = [e for e in events[1:] if e["event"] == "ok"]
    assert {e["run_id"] for e in ok} == {x.run_id for x in fake.executions}
    assert {e["key"] for e in ok} == set(fake.execution_counts_by_key())
    assert [e.params for e in sorted(fake.executions, key=lambda x: x.params["amount"])] == ROWS[:5]
    assert "ok" in capsys.readouterr().out


async def test_keys_are_deterministic_per_row_and_input(cli, fake, write_jsonl, tmp_path):
    rows = write_jsonl(ROWS[:3])
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(first)) == 0
    # A fresh journal for the same rows sends the same keys: Zuora replays, nothing new runs.
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(second)) == 0
    assert len(fake.executions) == 3
    # A new --batch-id is the way to run the same rows again on purpose.
    third = tmp_path / "c.jsonl"
    assert (
        await cli(
            "batch", "396", "--input", str(rows), "--journal", str(third), "--batch-id", "again"
        )
        == 0
    )
    assert len(fake.executions) == 6


async def test_cancelled_part_way_then_resumed_runs_each_row_exactly_once(
    cli, write_jsonl, read_journal, tmp_path
):
    """(a) Cancel once 10 rows are ok with 4 in flight; the re-run finishes the rest."""
    async with FakeZuora(latency=0.01) as fake:
        env = {
            "ZUORA_BASE_URL": fake.base_url,
            "ZUORA_CLIENT_ID": fake.client_id,
            "ZUORA_CLIENT_SECRET": fake.client_secret,
        }
        rows = write_jsonl(ROWS)
        journal = tmp_path / "runs.jsonl"
        argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
        argv += ("--concurrency", "4")
        ok = 0

        def cancel_after_ten(record):
            nonlocal ok
            ok += record.get("event") == "ok"
            if ok == 10:
                task.cancel()

        task = asyncio.ensure_future(cli(*argv, env=env, on_journal_record=cancel_after_ten))
        with pytest.raises(asyncio.CancelledError):
            await task

        before = read_journal(journal)
        finals = last_events(before)
        assert 10 <= Counter(finals.values())["ok"] < 30
        in_flight = [row for row, event in finals.items() if event == "started"]
        assert in_flight, "the cancel should land with rows in flight"

        assert await cli(*argv, env=env) == 0

        after = read_journal(journal)
        assert last_events(after) == dict.fromkeys(range(1, 31), "ok")
        keys = keys_by_row(after)
        assert all(len(k) == 1 for k in keys.values()), "a row was re-sent under a new key"
        row_keys = {row: next(iter(k)) for row, k in keys.items()}
        assert fake.execution_counts_by_key() == Counter(dict.fromkeys(row_keys.values(), 1))
        # Rows that were already ok were not sent again.
        sent = Counter(r.header("Idempotency-Key") for r in fake.requests_to("run"))
        for row, event in last_events(before).items():
            if event == "ok":
                assert sent[row_keys[row]] == 1


async def test_failed_rows_exit_1_and_retry_failed_resends_them_with_their_keys(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    fake.configure_workflow(396, required_params=("accountId",))
    rows = write_jsonl([{"accountId": "A-1"}, {"amount": 2}, {"accountId": "A-3"}])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))

    assert await cli(*argv) == 1
    out = capsys.readouterr().out
    assert "row 2: MissingParametersError" in out

    # Re-running skips every final row, failed ones included: still 1, nothing sent.
    requests = len(fake.requests)
    assert await cli(*argv) == 1
    assert len(fake.requests) == requests

    fake.configure_workflow(396)  # the operator fixed the workflow
    assert await cli(*argv, "--retry-failed") == 0
    events = read_journal(journal)
    assert last_events(events) == {1: "ok", 2: "ok", 3: "ok"}
    keys = keys_by_row(events)
    # Zuora stores a 406 under its key and would replay it: a definite refusal gets a new
    # key (derived from the old one, so a crash mid-retry resends the same new key).
    assert len(keys[2]) == 2
    failed = next(e for e in events[1:] if e["event"] == "failed")
    assert failed["retry_with"] == "new-key"
    assert len(keys[1]) == len(keys[3]) == 1
    assert set(fake.execution_counts_by_key().values()) == {1}


async def test_bad_rows_fail_with_their_row_numbers_and_good_rows_still_run(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    rows = write_jsonl(['{"a": 1}', "{not json", "", '["a list"]', '{"id": "reserved"}'])
    journal = tmp_path / "runs.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 1
    out = capsys.readouterr().out
    assert "row 2: InvalidRow: not valid JSON" in out
    assert "row 4: InvalidRow: expected a JSON object, got list" in out
    assert "row 5: InvalidRow: params['id']: is a name Zuora reserves" in out
    assert len(fake.executions) == 1
    assert last_events(read_journal(journal)) == {1: "ok", 2: "failed", 4: "failed", 5: "failed"}


async def test_csv_rows_are_numbered_by_line_and_sent_as_strings(cli, fake, read_journal, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("accountId,amount\nA-1,10\n\nA-2,20\n", encoding="utf-8")
    journal = tmp_path / "runs.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 0
    assert sorted(last_events(read_journal(journal))) == [2, 4]
    assert sorted(e.params["accountId"] for e in fake.executions) == ["A-1", "A-2"]
    assert {e.params["amount"] for e in fake.executions} == {"10", "20"}


async def test_a_torn_last_line_is_dropped_and_the_row_resent_with_its_key(
    cli, fake, write_jsonl, read_journal, tmp_path
):
    rows = write_jsonl(ROWS[:3])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert await cli(*argv) == 0
    # Simulate a crash: the last "ok" line half written, so row 3 looks in flight.
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]) + lines[-1][:20], encoding="utf-8")

    assert await cli(*argv) == 0
    events = read_journal(journal)
    assert last_events(events) == {1: "ok", 2: "ok", 3: "ok"}
    assert len(fake.executions) == 3


async def test_a_journal_of_another_workflow_or_key_scheme_is_refused(
    cli, fake, write_jsonl, tmp_path, capsys
):
    rows = write_jsonl(ROWS[:2])
    journal = tmp_path / "runs.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 0
    capsys.readouterr()

    assert await cli("batch", "397", "--input", str(rows), "--journal", str(journal)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "line 1: workflow_id: this journal has 396, not 397" in err

    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert await cli(*argv, "--key-column", "accountId") == 2
    err = capsys.readouterr().err
    assert 'key_scheme: this journal has "content", not "columns:accountId"' in err
    assert await cli(*argv, "--batch-id", "b2") == 2
    assert "batch_id" in capsys.readouterr().err
    assert len(fake.executions) == 2


async def test_a_changed_input_resumes_by_key(cli, fake, write_jsonl, read_journal, tmp_path):
    """Keys do not depend on positions, so an edited input file resumes the journal."""
    rows = write_jsonl(ROWS[:2])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert await cli(*argv) == 0
    write_jsonl([ROWS[2], ROWS[1], ROWS[0]])  # a new row on top, the old ones reordered
    assert await cli(*argv) == 0
    assert fake.execution_counts_by_key() == Counter(
        {e["key"]: 1 for e in read_journal(journal)[1:] if e["event"] == "ok"}
    )
    assert len(fake.executions) == 3


async def test_dry_run_sends_nothing_and_lists_every_bad_row(cli, fake, write_jsonl, capsys):
    big = json.dumps({"blob": "x" * 5_000_001})
    rows = write_jsonl(['{"a": 1}', "{oops", '{"action": 1}', big, '{"n": NaN}', "42"])

    assert await cli("batch", "396", "--input", str(rows), "--dry-run") == 1

    out = capsys.readouterr().out
    assert fake.requests == []
    for number, text in [
        (2, "not valid JSON"),
        (3, "params['action']: is a name Zuora reserves"),
        (4, "bytes; Zuora's task payload limit"),
        (5, "is not valid JSON"),
        (6, "expected a JSON object, got int"),
    ]:
        assert f"row {number}: " in out
        assert text in out
    assert "row 1:" not in out
    assert "6 row(s) checked, 5 bad row(s); nothing was sent" in out


async def test_dry_run_of_good_rows_exits_0_without_credentials(cli, fake, write_jsonl, capsys):
    rows = write_jsonl(ROWS[:3])
    assert await cli("batch", "396", "--input", str(rows), "--dry-run", env={}) == 0
    assert "every row is valid" in capsys.readouterr().out
    assert fake.requests == []


async def test_wait_journals_how_each_run_ended_and_exits_1_on_failed_tasks(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    rows = write_jsonl(ROWS[:3])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal), "--wait")
    assert await cli(*argv) == 0
    events = read_journal(journal)
    settled = [e for e in events[1:] if e["event"] == "settled"]
    assert sorted(e["run_id"] for e in settled) == sorted(
        e["run_id"] for e in events[1:] if e["event"] == "ok"
    )
    assert len(settled) == 3
    assert all(e["status"] == "Finished" and e["succeeded"] for e in settled)
    # Settled rows are not polled again on a re-run.
    polls = len(fake.requests_to("get_run"))
    assert await cli(*argv) == 0
    assert len(fake.requests_to("get_run")) == polls

    fake.configure_workflow(397, task_count=2, failed_tasks=1)
    other = tmp_path / "other.jsonl"
    assert await cli("batch", "397", "--input", str(rows), "--journal", str(other), "--wait") == 1
    assert "finished with failed tasks 3" in capsys.readouterr().out


async def test_resuming_rows_in_flight_for_over_a_day_warns(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    rows = write_jsonl(ROWS[:2])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert await cli(*argv, "--dry-run") == 0
    header = {"journal": "zuora-wf-journal/2", "workflow_id": 396, "key_scheme": "content"}
    header["at"] = "2020-01-01T00:00:00.000Z"
    key = KeyScheme(workflow_id=396).key(canonical_json(ROWS[0]))
    started = {"row": 1, "key": key, "sent_key": "k-1", "event": "started"}
    started["at"] = "2020-01-01T00:00:00.000Z"
    journal.write_text(json.dumps(header) + "\n" + json.dumps(started) + "\n")

    assert await cli(*argv) == 0
    assert "1 row(s) were in flight over 24 hours ago" in capsys.readouterr().out
    assert fake.execution_counts_by_key()["k-1"] == 1  # the recorded key, as recorded
    assert key not in fake.execution_counts_by_key()
