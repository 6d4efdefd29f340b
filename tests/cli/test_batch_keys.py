"""Keys from what a row is, never where it sits: inserting a row starts one run, not N."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan


def write_csv(path, rows):
    path.write_text("accountId,cycle\n" + "".join(f"{a},{c}\n" for a, c in rows))
    return path


K1 = [("K-1", "2026-11"), ("K-2", "2026-11"), ("K-3", "2026-11")]
K2 = [("K-0", "2026-11"), *K1]  # the same rows with K-0 inserted at the top


@pytest.mark.parametrize(
    "key_flags",
    [(), ("--key-column", "accountId"), ("--key-template", "{accountId}:{cycle}")],
    ids=["content", "column", "template"],
)
@pytest.mark.parametrize("same_journal", [True, False], ids=["old-journal", "new-journal"])
async def test_inserting_a_row_starts_one_run_per_account(
    cli, fake, tmp_path, key_flags, same_journal
):
    k1 = write_csv(tmp_path / "k1.csv", K1)
    k2 = write_csv(tmp_path / "k2.csv", K2)
    first = tmp_path / "first.jsonl"
    second = first if same_journal else tmp_path / "second.jsonl"

    assert await cli("batch", "396", "--input", str(k1), "--journal", str(first), *key_flags) == 0
    assert await cli("batch", "396", "--input", str(k2), "--journal", str(second), *key_flags) == 0

    runs = Counter(execution.params["accountId"] for execution in fake.executions)
    assert runs == Counter({"K-0": 1, "K-1": 1, "K-2": 1, "K-3": 1})
    if same_journal:
        # The rows already done were not even sent again.
        assert len(fake.requests_to("run")) == 4


async def test_the_header_records_the_scheme_and_started_lines_the_identity(
    cli, tmp_path, read_journal
):
    k1 = write_csv(tmp_path / "k1.csv", K1)
    journal = tmp_path / "j.jsonl"
    argv = ("batch", "396", "--input", str(k1), "--journal", str(journal))
    assert await cli(*argv, "--key-template", "{accountId}:{cycle}") == 0
    events = read_journal(journal)
    assert events[0]["key_scheme"] == "template:{accountId}:{cycle}"
    started = [e for e in events[1:] if e["event"] == "started"]
    assert sorted(e["id"] for e in started) == ["K-1:2026-11", "K-2:2026-11", "K-3:2026-11"]


async def test_dry_run_names_rows_that_share_a_key_and_asks_for_a_key_column(
    cli, fake, write_jsonl, capsys
):
    rows = write_jsonl(
        [
            {"accountId": "A-1", "amount": 1},
            {"accountId": "A-2", "amount": 2},
            {"accountId": "A-1", "amount": 1},  # the same content as row 1
        ]
    )
    assert await cli("batch", "396", "--input", str(rows), "--dry-run") == 1
    out = capsys.readouterr().out
    assert "row 3: shares its key with row 1 (the same content)" in out
    assert "pass --key-column COL" in out

    assert await cli("batch", "396", "--input", str(rows), "--dry-run", "--key-column", "amount")
    assert "row 3: shares its key with row 1 (1)" in capsys.readouterr().out
    assert fake.requests == []


async def test_rows_sharing_a_key_start_one_run_and_are_counted(
    cli, fake, write_jsonl, tmp_path, capsys
):
    rows = write_jsonl([{"accountId": "A-1", "n": 1}, {"accountId": "A-1", "n": 2}])
    journal = tmp_path / "j.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert await cli(*argv, "--key-column", "accountId") == 0
    assert len(fake.executions) == 1
    assert "same key as an earlier row" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--key-template", "{}"), "is not a column name"),
        (("--key-template", "{a.b}"), "is not a column name"),
        (("--key-template", "static"), "names no column"),
        (("--key-template", "{a"), "--key-template '{a'"),
        (("--key-column", "a", "--key-template", "{a}"), "not both"),
    ],
)
async def test_bad_key_flags_are_one_line_usage_errors(cli, write_jsonl, capsys, flags, message):
    rows = write_jsonl([{"a": 1}])
    assert await cli("batch", "396", "--input", str(rows), "--dry-run", *flags) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


async def test_a_row_without_its_key_column_fails_alone(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    rows = write_jsonl([{"accountId": "A-1"}, {"other": 2}, {"accountId": ""}])
    journal = tmp_path / "j.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert await cli(*argv, "--key-column", "accountId") == 1
    assert "row 2: InvalidRow: has no value in key column 'accountId'" in capsys.readouterr().out
    failed = [e for e in read_journal(journal)[1:] if e["event"] == "failed"]
    assert [(e["row"], e["key"]) for e in failed] == [(2, None), (3, None)]
    assert len(fake.executions) == 1


async def test_bad_rows_fail_alone_and_never_block_a_resume(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys
):
    """A lone surrogate, bytes that are not UTF-8: each row fails alone, every run."""
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b'{"a": 1}\n{"a": "\\ud800"}\n{"a": "\xff\xfe"}\n{"a": 4}\n{"\\udc80": 5}\n')
    journal = tmp_path / "j.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))

    assert await cli("batch", "396", "--input", str(rows), "--dry-run") == 1
    out = capsys.readouterr().out
    assert "row 2: holds text that is not valid Unicode" in out
    assert "row 3: is not UTF-8 text" in out
    assert "row 5: holds text that is not valid Unicode" in out

    for _ in range(2):  # the first run, then a resume that must not crash on them
        assert await cli(*argv) == 1
        assert "Traceback" not in capsys.readouterr().err
    assert len(fake.executions) == 2
    events = read_journal(journal)
    failed = {e["row"]: e for e in events[1:] if e["event"] == "failed"}
    assert set(failed) == {2, 3, 5}
    assert failed[3]["message"] == "is not UTF-8 text"
    assert json.loads(journal.read_text().splitlines()[1])  # the journal stays JSON


async def test_a_non_utf8_csv_row_fails_alone(cli, fake, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_bytes(b"accountId\nA-1\nA-\xff\nA-3\n")
    journal = tmp_path / "j.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 1
    assert "row 3: InvalidRow: is not UTF-8 text" in capsys.readouterr().out
    assert sorted(e.params["accountId"] for e in fake.executions) == ["A-1", "A-3"]


async def test_a_refused_row_retried_and_refused_again_gets_a_fresh_key_each_time(
    cli, fake, write_jsonl, read_journal, tmp_path
):
    fake.configure_workflow(396, required_params=("accountId",))
    rows = write_jsonl([{"amount": 1}])
    journal = tmp_path / "j.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal), "--retry-failed")
    for _ in range(3):
        assert await cli(*argv) == 1
    failed = [e for e in read_journal(journal)[1:] if e["event"] == "failed"]
    assert [e["retry_with"] for e in failed] == ["new-key"] * 3
    sent = [e.get("sent_key", e["key"]) for e in failed]
    assert len(set(sent)) == 3  # Zuora would replay a 406 for a used key
    assert len({e["key"] for e in failed}) == 1  # still the same row
    assert len(fake.requests_to("run")) == 3


async def test_a_row_whose_run_may_exist_is_retried_under_the_same_key(
    cli, write_jsonl, read_journal, tmp_path
):
    """A 503 after Zuora recorded the run: may_have_run, so retry_with same-key."""
    rule = Fault(kind="error_after_record", status=503, on={1})
    async with FakeZuora(faults=FaultPlan(rules=[rule])) as fake:
        env = {
            "ZUORA_BASE_URL": fake.base_url,
            "ZUORA_CLIENT_ID": fake.client_id,
            "ZUORA_CLIENT_SECRET": fake.client_secret,
            "ZUORA_MAX_ATTEMPTS": "1",  # no retry inside the call: the row fails
        }
        rows = write_jsonl([{"accountId": "A-1"}])
        journal = tmp_path / "j.jsonl"
        argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
        assert await cli(*argv, env=env) == 1
        assert await cli(*argv, "--retry-failed", env=env) == 0
        events = read_journal(journal)[1:]
        failed = next(e for e in events if e["event"] == "failed")
        assert failed["error"] == "ServerError"
        assert failed["retry_with"] == "same-key"
        assert "sent_key" not in events[-2]  # the retry's started line: the same key
        assert list(fake.execution_counts_by_key().values()) == [1]
