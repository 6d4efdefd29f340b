"""A CSV row is one line: a stray quote or an oversized value fails its row alone.

csv's forgiving reader let a `"` that does not close swallow every line after it into one
value: a 21-row file sent 4 runs and exited 0, and ``--dry-run`` called every row valid.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async.cli._config import UsageError
from zuora_wf_async.cli._inputs import InputFile

QUOTE_PROBLEM = 'has a " that is not closed'
HEADER = "accountId,amount\n"


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good_lines(count: int) -> list[str]:
    return [f"A-{n},{n}" for n in range(1, count + 1)]


def failed_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if ": InvalidRow: " in line]


async def test_a_stray_quote_fails_its_row_and_every_other_row_is_sent(
    cli, fake, read_journal, tmp_path, capsys
):
    lines = good_lines(21)
    lines[4] = 'A-5,"oops,5'  # line 6 of the file: the header is line 1
    rows = write_csv(tmp_path / "rows.csv", lines)
    journal = tmp_path / "runs.jsonl"

    assert await cli("batch", "396", "--input", str(rows), "--dry-run") == 1
    out = capsys.readouterr().out
    assert f"row 6: {QUOTE_PROBLEM}" in out
    assert "21 row(s) checked, 1 bad row(s)" in out

    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 1
    assert [line.split(":")[0] for line in failed_rows(capsys.readouterr().out)] == ["row 6"]
    sent = sorted(e.params["accountId"] for e in fake.executions)
    assert sent == sorted(f"A-{n}" for n in range(1, 22) if n != 5)
    failed = [e for e in read_journal(journal)[1:] if e["event"] == "failed"]
    assert [(e["row"], e["error"]) for e in failed] == [(6, "InvalidRow")]


# (the data line, the problem its row fails with, or the values it is sent with)
LINES = [
    ('A-5,"oops,5', QUOTE_PROBLEM),
    ('A-5,oo"ps,5', QUOTE_PROBLEM),
    ('"A-5"x,5', QUOTE_PROBLEM),
    ('"A-5,5', QUOTE_PROBLEM),
    ('A-5,5"', QUOTE_PROBLEM),
    ('"A-5, Inc",5', {"accountId": "A-5, Inc", "amount": "5"}),
    ('"say ""hi""",5', {"accountId": 'say "hi"', "amount": "5"}),
    ('"",5', {"accountId": "", "amount": "5"}),
    ("A-5,5\r", {"accountId": "A-5", "amount": "5"}),
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_each_line_is_one_row_read_alone(tmp_path, line, expected):
    rows = write_csv(tmp_path / "rows.csv", ["A-1,1", line, "A-3,3"])
    found = list(InputFile(path=rows, format="csv").rows())
    assert [row.number for row in found] == [2, 3, 4]
    assert found[0].params == {"accountId": "A-1", "amount": "1"}
    assert found[2].params == {"accountId": "A-3", "amount": "3"}
    if isinstance(expected, str):
        assert found[1].params is None
        assert found[1].problem is not None
        assert expected in found[1].problem
    else:
        assert found[1].problem is None
        assert found[1].params == expected


def test_a_quoted_value_spanning_lines_fails_both_lines_and_loses_no_other_row(tmp_path):
    rows = write_csv(tmp_path / "rows.csv", ["A-1,1", '"A-2', 'continued",2', "A-3,3"])
    found = list(InputFile(path=rows, format="csv").rows())
    assert [(row.number, row.problem is None) for row in found] == [
        (2, True),
        (3, False),
        (4, False),
        (5, True),
    ]
    assert "a value cannot span lines" in (found[1].problem or "")


async def test_a_value_over_csvs_field_limit_fails_its_row_alone_on_every_resume(
    cli, fake, read_journal, tmp_path, capsys
):
    huge = "x" * (csv.field_size_limit() + 1)
    rows = write_csv(tmp_path / "rows.csv", ["A-1,1", f"A-2,{huge}", "A-3,3"])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))

    for _ in range(2):  # the first run, then a resume
        assert await cli(*argv) == 1
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        assert captured.err == ""
        [failure] = failed_rows(captured.out)
        assert failure.startswith("row 3: InvalidRow: has a value over 131,072 characters")
    assert sorted(e.params["accountId"] for e in fake.executions) == ["A-1", "A-3"]
    assert await cli("batch", "396", "--input", str(rows), "--dry-run") == 1
    assert "row 3: has a value over 131,072 characters" in capsys.readouterr().out


def test_a_header_with_a_stray_quote_is_a_usage_error_naming_line_1(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text('accountId,"amount\nA-1,1\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 1 .*not closed"):
        list(InputFile(path=rows, format="csv").rows())


CSV_LINE = st.text(alphabet='ab,"\r ', max_size=8).filter(lambda text: not text.endswith("\r"))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(CSV_LINE, max_size=12), newline=st.sampled_from(["\n", "\r\n"]))
def test_fuzz_every_line_of_the_file_is_one_row_and_the_count_matches(lines, newline):
    """Whatever the quotes, row N is line N: nothing merges lines, nothing is dropped."""
    text = "a,b" + newline + "".join(line + newline for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        path.write_bytes(text.encode())
        source = InputFile(path=path, format="csv")
        found = list(source.rows())
        count = source.count()
    physical = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:-1]
    expected = [number for number, line in enumerate(physical, start=2) if line]
    assert [row.number for row in found] == expected
    assert count == len(found)
    for row in found:
        assert (row.params is None) != (row.problem is None)
        if row.params is not None:
            assert all("\n" not in value and "\r" not in value for value in row.params.values())
