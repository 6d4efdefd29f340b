"""When its output is not a terminal, the CLI never wraps a message mid-line.

rich wraps at 80 columns by default when it cannot ask a terminal for its width, so a
message naming a long path broke in two in log files (``(re-sent with their\\nrecorded
keys)``), and a test grepping for a phrase failed whenever pytest's temporary folder was
26 to 28 characters long (a fresh machine's first ten runs as root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AT = "2026-11-28T09:00:00.000Z"
HEADER = {"journal": "zuora-wf-journal/2", "workflow_id": 396, "key_scheme": "content", "at": AT}


def line_with(text: str, phrase: str) -> str:
    found = [line for line in text.splitlines() if phrase in line]
    assert found, f"{phrase!r} is on no line of:\n{text}"
    return found[0]


async def test_messages_naming_a_long_path_stay_on_one_line(
    cli, fake, write_jsonl, tmp_path, capsys
):
    folder = tmp_path / ("a-long-folder-name-" * 8)
    folder.mkdir()
    journal = folder / "runs.jsonl"
    journal.write_text(json.dumps(HEADER) + "\n" + '{"event": "ok", "ke', encoding="utf-8")
    rows = write_jsonl([{"a": 1}, {"b": "x" * 150}, [1]])

    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 1
    out = capsys.readouterr().out
    torn = line_with(out, "dropped a torn last line")
    assert torn.startswith(str(journal))
    assert torn.endswith("its row is redone with its key")
    assert line_with(out, "row 3: InvalidRow").endswith("expected a JSON object, got list")

    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 1
    resumed = line_with(capsys.readouterr().out, f"resuming {journal}")
    assert resumed.endswith("(re-sent with their recorded keys)")


async def test_a_dry_run_report_line_is_one_line_however_long(cli, tmp_path, capsys):
    rows = tmp_path / ("rows-" * 30 + ".jsonl")
    rows.write_text('{"a": 1}\n{"a": 1}\n', encoding="utf-8")

    assert await cli("batch", "396", "--input", str(rows), "--dry-run") == 1
    out = capsys.readouterr().out
    assert line_with(out, "row 2: shares its key with row 1").endswith("would start one run")
    assert line_with(out, "share a key with an earlier row").endswith("separate run")


def basetemp_of_length(root: Path, length: int) -> Path:
    """A fresh folder path of exactly ``length`` characters under ``root``."""
    padding = length - len(str(root)) - 1
    assert padding > 0, root
    return root / ("b" * padding)


# 27 characters is /tmp/pytest-of-root/pytest-0's length: the first ten runs as root.
@pytest.mark.parametrize("length", [27, 240])
def test_the_cli_tests_pass_whatever_the_length_of_pytests_temporary_folder(length):
    with tempfile.TemporaryDirectory(prefix="t", dir="/tmp") as root:
        basetemp = basetemp_of_length(Path(root), length)
        assert len(str(basetemp)) == length
        env = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
        done = subprocess.run(  # noqa: S603 -- this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--basetemp={basetemp}",
                "tests/cli/test_journal_lines.py",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
