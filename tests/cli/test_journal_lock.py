"""One process per journal, with real processes: a second one refuses, a killed one never blocks.

The fake holds every run request (``pause_runs``), so the first process is certainly in
the middle of its batch, lock held, while the second starts: no sleeps, no timing luck.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections import Counter

import pytest

from zuora_wf_async import BatchJournal, JournalBusyError

ROWS = [{"accountId": f"A-{n}"} for n in range(8)]
STARTUP = 60.0  # generous: a busy 2-core machine starts Python slowly


def env_for(fake):
    return {
        **os.environ,
        "ZUORA_BASE_URL": fake.base_url,
        "ZUORA_CLIENT_ID": fake.client_id,
        "ZUORA_CLIENT_SECRET": fake.client_secret,
    }


async def start_batch(fake, rows, journal):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zuora_wf_async.cli",
        "batch",
        "396",
        "--input",
        str(rows),
        "--journal",
        str(journal),
        "--key-column",
        "accountId",
        "--concurrency",
        "2",
        env=env_for(fake),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def lines_of(journal):
    """Every line is whole JSON (json.loads raises on a torn or interleaved one)."""
    text = journal.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


async def test_a_second_process_refuses_at_once_naming_the_holder(fake, write_jsonl, tmp_path):
    rows = write_jsonl(ROWS)
    journal = tmp_path / "runs.jsonl"
    fake.pause_runs()
    first = await start_batch(fake, rows, journal)
    try:
        await fake.wait_for_in_flight(2, timeout=STARTUP)  # the first holds the lock now

        second = await start_batch(fake, rows, journal)
        _, err = await asyncio.wait_for(second.communicate(), STARTUP)
        assert second.returncode == 2
        message = err.decode()
        assert message.count("\n") == 1, message
        assert f"in use by pid {first.pid} on host {socket.gethostname()}" in message
        assert fake.in_flight == 2  # the second sent nothing

        fake.resume_runs()
        await asyncio.wait_for(first.communicate(), STARTUP)
        assert first.returncode == 0
    finally:
        fake.resume_runs()
        if first.returncode is None:
            first.kill()
            await first.wait()

    events = lines_of(journal)
    assert Counter(e["event"] for e in events[1:]) == {"started": 8, "ok": 8}
    assert set(fake.execution_counts_by_key().values()) == {1}
    assert len(fake.executions) == 8


async def test_links_to_a_journal_in_use_are_refused_like_the_journal(fake, write_jsonl, tmp_path):
    # The lock used to be <name>.lock beside the name given: a symlink and a hard link
    # to one journal let three batches write it at once.
    rows = write_jsonl(ROWS)
    journal = tmp_path / "runs.jsonl"
    fake.pause_runs()
    first = await start_batch(fake, rows, journal)
    try:
        await fake.wait_for_in_flight(2, timeout=STARTUP)  # the first holds the journal
        symlink = tmp_path / "via-symlink.jsonl"
        symlink.symlink_to(journal)
        hard_link = tmp_path / "via-hard-link.jsonl"
        os.link(journal, hard_link)

        with pytest.raises(JournalBusyError):  # the library, in this process
            BatchJournal.open(hard_link, workflow_id=396, key_scheme="columns:accountId")
        others = [await start_batch(fake, rows, link) for link in (symlink, hard_link)]
        errors = []
        for other in others:
            _, err = await asyncio.wait_for(other.communicate(), STARTUP)
            assert other.returncode == 2
            errors.append(err.decode())
        assert all(message.count("\n") == 1 for message in errors), errors
        assert f"in use by pid {first.pid} on host {socket.gethostname()}" in errors[0]
        assert "in use by another process" in errors[1]
        assert fake.in_flight == 2  # neither sent anything

        fake.resume_runs()
        await asyncio.wait_for(first.communicate(), STARTUP)
        assert first.returncode == 0
    finally:
        fake.resume_runs()
        if first.returncode is None:
            first.kill()
            await first.wait()

    events = lines_of(journal)
    assert Counter(e["event"] for e in events[1:]) == {"started": 8, "ok": 8}
    assert len(fake.executions) == 8


async def test_a_killed_process_never_blocks_the_resume_and_nothing_runs_twice(
    fake, write_jsonl, tmp_path
):
    rows = write_jsonl(ROWS)
    journal = tmp_path / "runs.jsonl"
    fake.pause_runs()
    first = await start_batch(fake, rows, journal)
    try:
        await fake.wait_for_in_flight(2, timeout=STARTUP)
    finally:
        first.send_signal(signal.SIGKILL)  # mid-batch: two requests held by the fake
        await first.wait()
    fake.resume_runs()  # the killed process's requests now complete inside Zuora
    lock = json.loads((tmp_path / "runs.jsonl.lock").read_text())
    assert lock["pid"] == first.pid  # the stale lock file is still there ...

    resumed = await start_batch(fake, rows, journal)  # ... and blocks nothing
    _, err = await asyncio.wait_for(resumed.communicate(), STARTUP)
    assert resumed.returncode == 0, err.decode()

    events = lines_of(journal)
    finals = {e["key"]: e["event"] for e in events[1:] if e["event"] in ("ok", "failed")}
    assert list(finals.values()) == ["ok"] * 8
    # The two in flight at the kill were re-sent under their keys: Zuora replayed them.
    assert fake.execution_counts_by_key() == Counter(dict.fromkeys(finals, 1))
