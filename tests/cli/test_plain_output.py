"""What ``zuora-wf`` prints without drawing (issue 25 item 9).

* ``batch --dry-run`` draws nothing, so it works without rich (the ``[cli]`` extra): it
  exited 2 with "install the CLI extra". Checked in a child Python in which ``import rich``
  fails, as it does where the extra is not installed.
* ``batch report`` of a journal without a batch id printed ``batch id None``.
* The demo's last progress line and its summary table gave two rates for one run (1,098
  and 1,125 runs/s): both now read the same measurement.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# The child: rich cannot be imported (None in sys.modules makes `import rich` raise
# ModuleNotFoundError, as a missing package does), then the console script's main.
WITHOUT_RICH = """
import sys
for name in ("rich", "rich.console", "rich.progress", "rich.table"):
    sys.modules[name] = None
from zuora_wf_async.cli import main
code = main(sys.argv[1:])
assert "rich.console" not in sys.modules or sys.modules["rich.console"] is None
sys.exit(code)
"""


def _without_rich(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- our own interpreter, our own arguments
        [sys.executable, "-c", WITHOUT_RICH, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )


def test_dry_run_works_without_rich(tmp_path: Path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"accountId": "A-1"}\n{"accountId": "A-2"}\nnot json\n', encoding="utf-8")
    done = _without_rich("batch", "396", "--input", str(rows), "--dry-run")
    assert done.returncode == 1, done.stderr  # one bad row; before: 2, "install the extra"
    assert "rich" not in done.stderr
    assert "row 3: " in done.stdout
    assert "3 row(s) checked, 1 bad row(s); nothing was sent" in done.stdout


def test_without_rich_a_drawing_command_still_asks_for_the_extra(tmp_path: Path):
    """The child really has no rich: a real batch (which draws) says to install it."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"accountId": "A-1"}\n', encoding="utf-8")
    journal = tmp_path / "runs.jsonl"
    done = _without_rich("batch", "396", "--input", str(rows), "--journal", str(journal))
    assert done.returncode == 2
    assert "pip install 'zuora-wf-async[cli]'" in done.stderr


async def test_report_of_a_journal_without_a_batch_id_says_so(cli, write_jsonl, tmp_path, capsys):
    rows = write_jsonl([{"accountId": "A-1"}])
    journal = tmp_path / "runs.jsonl"
    assert await cli("batch", "396", "--input", str(rows), "--journal", str(journal)) == 0
    capsys.readouterr()
    assert await cli("batch", "report", str(journal)) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "None" not in first
    assert "no batch id" in first
    named = tmp_path / "named.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(named), "--batch-id", "may")
    assert await cli(*argv) == 0
    capsys.readouterr()
    assert await cli("batch", "report", str(named)) == 0
    assert "batch id may" in capsys.readouterr().out.splitlines()[0]


async def test_the_demo_states_one_rate(cli, capsys):
    assert await cli("demo", "--runs", "120", "--concurrency", "8", env={}) == 0
    out = capsys.readouterr().out
    progress = re.findall(r"runs: 120/120 done.*?([\d,]+) runs/s", out)
    table = re.findall(r"throughput\s*│\s*([\d,]+) runs/s", out)
    assert progress, out
    assert table, out
    assert progress[-1] == table[0]
