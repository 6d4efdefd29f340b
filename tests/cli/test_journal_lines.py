"""Every journal line and every input row is data, never a crash (tables and fuzzing)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zuora_wf_async import BatchJournal, JournalError
from zuora_wf_async._batch.journal_lines import FORMAT
from zuora_wf_async.cli._batch import keyed
from zuora_wf_async.cli._inputs import InputFile, KeyScheme, check_params

AT = "2026-11-28T09:00:00.000Z"
HEADER = {"journal": FORMAT, "workflow_id": 396, "key_scheme": "content", "at": AT}
STARTED = {"event": "started", "key": "k-1", "at": AT}
OK = {"event": "ok", "key": "k-1", "run_id": 7, "at": AT}


def without(record, field):
    return {name: value for name, value in record.items() if name != field}


# (lines after none, what the one-line error must say)
WRONG_SHAPES = [
    ([[]], "line 1: header: should be an object, got []"),
    ([{"journal": "zuora-wf/1"}], "line 1: journal: was written by an older zuora-wf"),
    ([{**HEADER, "journal": "x"}], "line 1: journal: should be 'zuora-wf-journal/2'"),
    ([without(HEADER, "key_scheme")], "line 1: key_scheme: is missing"),
    ([{**HEADER, "workflow_id": "396"}], 'line 1: workflow_id: should be int, got "396"'),
    ([HEADER, without(STARTED, "key")], "line 2: key: is missing"),
    ([HEADER, {**STARTED, "key": ""}], "line 2: key: is empty"),
    ([HEADER, STARTED, without(OK, "run_id")], "line 3: run_id: is missing"),
    ([HEADER, STARTED, {**OK, "run_id": True}], "line 3: run_id: should be int, got true"),
    ([HEADER, STARTED, {**OK, "run_id": "7"}], 'line 3: run_id: should be int, got "7"'),
    ([HEADER, {**STARTED, "at": "2026-11-28T09:00:00"}], "line 2: at: has no time zone"),
    ([HEADER, {**STARTED, "at": "yesterday"}], "line 2: at: is not an ISO-8601 time"),
    ([HEADER, without(STARTED, "at")], "line 2: at: should be a timestamp, got null"),
    ([HEADER, {**STARTED, "event": "begun"}], "line 2: event: should be one of failed, ok"),
    ([HEADER, "[1, 2]"], "line 2: event: should be an object, got [1, 2]"),
    ([HEADER, "{not json"], "line 2: line: is not JSON"),
    ([HEADER, '"\\ud800 x'], "line 2: line: is not JSON"),
    (
        [HEADER, {"event": "failed", "key": "k", "error": "E", "retry_with": "x", "at": AT}],
        "line 2: retry_with: should be same-key or new-key",
    ),
    ([HEADER, {"event": "settled", "run_id": 7, "at": AT}], "line 2: succeeded: is missing"),
]


def write_lines(path: Path, lines) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("lines", "message"), WRONG_SHAPES)
async def test_a_wrong_shaped_line_is_a_one_line_error_naming_line_and_field(
    cli, fake, write_jsonl, tmp_path, capsys, lines, message
):
    rows = write_jsonl([{"a": 1}])
    journal = tmp_path / "runs.jsonl"
    write_lines(journal, lines)
    for argv in (
        ("batch", "396", "--input", str(rows), "--journal", str(journal)),
        ("batch", "report", str(journal)),
    ):
        assert await cli(*argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert message in err
        assert "Traceback" not in err
    assert fake.requests == []


@pytest.mark.parametrize("torn", ['{"event": "ok", "ke', "\x00\x00\x00"])
async def test_a_torn_last_line_is_dropped_and_reported(
    cli, fake, write_jsonl, read_journal, tmp_path, capsys, torn
):
    """A kill -9 (or a power cut's zeros) mid-write leaves a last line with no newline."""
    rows = write_jsonl([{"a": 1}])
    journal = tmp_path / "runs.jsonl"
    write_lines(journal, [HEADER])
    with journal.open("a", encoding="utf-8") as file:
        file.write(torn)
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 0
    assert "dropped a torn last line" in capsys.readouterr().out
    assert [e["event"] for e in read_journal(journal)[1:]] == ["started", "ok"]


def open_journal(path: Path) -> BatchJournal:
    return BatchJournal.open(path, workflow_id=396, key_scheme="content")


# Text with lone surrogates ("\ud800") too: JSON can carry them, UTF-8 cannot.
any_text = st.text(st.characters(exclude_categories=()), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
fields = {
    "event": st.sampled_from(["started", "ok", "failed", "settled", "stopped", "x"]),
    "key": st.none() | any_text | st.integers(),
    "sent_key": st.text(max_size=5) | st.integers(),
    "run_id": st.integers() | st.booleans() | st.text(max_size=3),
    "error": st.text(max_size=5) | st.none(),
    "retry_with": st.sampled_from(["same-key", "new-key", "other"]),
    "succeeded": st.booleans() | st.integers(),
    "success": st.booleans() | st.none(),
    "at": st.sampled_from([AT, "2026-11-28T09:00:00", "2026-11-28T09:00:00+02:00", "", "x"]),
}
events = st.fixed_dictionaries({}, optional=fields) | json_values
lines = st.lists(
    events.map(lambda value: json.dumps(value).encode() + b"\n") | st.binary(max_size=20),
    max_size=6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=lines, tail=st.binary(max_size=12))
def test_fuzz_any_journal_opens_or_names_its_bad_line(body, tail):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runs.jsonl"
        path.write_bytes(json.dumps(HEADER).encode() + b"\n" + b"".join(body) + tail)
        try:
            journal = open_journal(path)
        except JournalError as exc:
            error = str(exc)
        else:
            error = None
        if error is not None:
            assert "\n" not in error
            assert f"{path}: line " in error
            return
        with journal:
            for key in ("k", "", "zz"):
                journal.plan(key or "k0", retry_failed=True)
            journal.unsettled_runs()
        # What it accepted it can reopen: the torn tail was cut, nothing else changed.
        open_journal(path).close()


json_rows = st.lists(
    json_values.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=16)
    | any_text.map(lambda text: json.dumps({"a": text, "b": 1}).encode()),
    max_size=5,
)
schemes = st.sampled_from(
    [
        KeyScheme(workflow_id=1),
        KeyScheme(workflow_id=1, columns=("a",)),
        KeyScheme(workflow_id=1, template="{a}-{b}"),
    ]
)


@settings(max_examples=100, deadline=None)
@given(rows=json_rows, scheme=schemes)
def test_fuzz_any_input_row_is_a_row_with_params_and_key_or_a_problem(rows, scheme):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_bytes(b"".join(row.replace(b"\n", b" ") + b"\n" for row in rows))
        source = InputFile(path=path, format="jsonl")
        with open_journal(Path(folder) / "runs.jsonl") as journal:
            for row in source.rows():
                item = keyed(row, scheme)
                problem = item.problem
                if problem is None:
                    assert item.key
                    problem = check_params(row.params)
                if problem is not None:
                    journal.failed(item.key, "InvalidRow", message=problem, row=row.number)
                else:
                    journal.started(item.key, row=row.number, id=item.identity)
        # Whatever the rows held, the journal they produced reads back.
        open_journal(Path(folder) / "runs.jsonl").close()
