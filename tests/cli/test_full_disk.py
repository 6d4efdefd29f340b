"""A journal that cannot be written stops the batch with exit 3, naming the journal.

Exit 1 means a run or a row failed; a full disk under the journal is neither, and the bare
"No space left on device" it printed did not say which file. Two real ways to fill a disk:
a 16 KB tmpfs (needs the right to mount, so root), and a file-size limit (RLIMIT_FSIZE) on
the CLI's process, which any user may set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = (sys.executable, "-m", "zuora_wf_async.cli")
ROWS = [{"accountId": f"A-{n:04}", "note": "x" * 40} for n in range(300)]
JOURNAL_FULL = 3

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="tmpfs and RLIMIT_FSIZE")


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(  # noqa: S603 -- fixed arguments
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)  # noqa: S603, S607


def remount(folder: Path, size: str) -> None:
    subprocess.run(  # noqa: S603 -- fixed arguments
        ["mount", "-o", f"remount,size={size}", str(folder)],  # noqa: S607
        check=True,
    )


def assert_one_line_naming(err: str, journal: Path, reason: str) -> None:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert f"journal {journal}" in err
    assert reason in err
    assert "run the same command again to resume" in err


async def test_a_full_disk_under_the_journal_exits_3_naming_it_and_a_resume_loses_nothing(
    cli, fake, write_jsonl, tmp_path, capsys
):
    rows = write_jsonl(ROWS)
    with small_tmpfs(tmp_path / "disk", "16k") as disk:
        journal = disk / "runs.jsonl"
        argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))

        assert await cli(*argv) == JOURNAL_FULL
        assert_one_line_naming(capsys.readouterr().err, journal, "No space left on device")
        assert 0 < len(fake.executions) < len(ROWS)  # it stopped partway

        remount(disk, "4m")  # the operator frees space, and runs the same command again
        assert await cli(*argv) == 0
        assert capsys.readouterr().err == ""
    counts = fake.execution_counts_by_key()
    assert len(counts) == len(ROWS)
    assert set(counts.values()) == {1}  # every row ran once, none twice


def limit_file_size() -> None:
    """In the CLI's process: files may not grow past 8 KB (writes then fail with EFBIG)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))


async def test_a_journal_over_the_file_size_limit_exits_3_naming_it(fake, write_jsonl, tmp_path):
    rows = write_jsonl(ROWS)
    journal = tmp_path / "runs.jsonl"
    env = {
        **os.environ,
        "ZUORA_BASE_URL": fake.base_url,
        "ZUORA_CLIENT_ID": fake.client_id,
        "ZUORA_CLIENT_SECRET": fake.client_secret,
    }
    process = await asyncio.create_subprocess_exec(
        *CLI, "batch", "396", "--input", str(rows), "--journal", str(journal),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env, preexec_fn=limit_file_size,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == JOURNAL_FULL, err.decode()
    assert_one_line_naming(err.decode(), journal, "File too large")
    assert journal.stat().st_size <= 8192
    written = journal.read_bytes().splitlines()[:-1]  # the last may be torn
    assert all(json.loads(line) for line in written)
