"""BatchJournal as a library: what it plans for each key, from a table, and its guards."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime

import pytest

from zuora_wf_async import (
    BatchJournal,
    InvalidRequestError,
    JournalBusyError,
    JournalError,
    MissingParametersError,
    RunOutcome,
    RunRequest,
    RunStatus,
    ServerError,
    WorkflowRun,
    derive_key,
)

AT = "2026-11-28T09:00:00.000Z"


def open_journal(path, **options):
    options.setdefault("workflow_id", 396)
    options.setdefault("key_scheme", "accountId")
    return BatchJournal.open(path, clock=lambda: AT, **options)


def run(run_id):
    now = datetime(2026, 11, 28, tzinfo=UTC)
    return WorkflowRun(
        id=run_id,
        name=f"WF-{run_id}",
        original_workflow_id=396,
        status=RunStatus.QUEUED,
        created_at=now,
        updated_at=now,
    )


def outcome(key, *, run_id=None, error=None):
    return RunOutcome(
        index=0, params={}, idempotency_key=key, run=run(run_id) if run_id else None, error=error
    )


@pytest.fixture
def earlier(tmp_path):
    """A journal an earlier process left: k-ok done, k-flight in flight, two failures."""
    path = tmp_path / "runs.jsonl"
    with open_journal(path) as journal:
        for key in ("k-ok", "k-flight", "k-refused", "k-unknown"):
            journal.started(key)
        journal.record(outcome("k-ok", run_id=1))
        journal.record(outcome("k-refused", error=MissingParametersError("no", status=406)))
        journal.record(outcome("k-unknown", error=ServerError("down", status=503)))
    return path


@pytest.mark.parametrize(
    ("key", "retry_failed", "send_key", "reason"),
    [
        ("k-new", False, "k-new", "new"),
        ("k-ok", False, None, "done"),
        ("k-flight", False, "k-flight", "in flight"),
        ("k-refused", False, None, "failed"),
        ("k-refused", True, derive_key("zuora-wf retry", "k-refused"), "retry"),
        ("k-unknown", True, "k-unknown", "retry"),
    ],
)
def test_what_a_resume_does_with_each_key(earlier, key, retry_failed, send_key, reason):
    with open_journal(earlier) as journal:
        plan = journal.plan(key, retry_failed=retry_failed)
    assert (plan.send_key, plan.reason) == (send_key, reason)


def test_counts_and_duplicates_within_one_process(earlier):
    with open_journal(earlier) as journal:
        assert journal.resumed
        assert journal.counts == {"ok": 1, "failed": 2, "in_flight": 1}
        journal.started("k-new")
        assert journal.plan("k-new").reason == "duplicate"
        journal.record(outcome("k-new", run_id=2))
        assert journal.plan("k-new").reason == "duplicate"
        assert journal.unsettled_runs() == [1, 2]
        journal.settled(1, "Finished", succeeded=True)
        assert journal.unsettled_runs() == [2]


def test_another_scheme_workflow_or_batch_id_is_refused(earlier):
    for options, field in (
        ({"key_scheme": "v2"}, "key_scheme"),
        ({"workflow_id": 7}, "workflow_id"),
        ({"batch_id": "b"}, "batch_id"),
    ):
        with pytest.raises(JournalError, match=f"line 1: {field}: this journal has") as caught:
            open_journal(earlier, **options)
        assert caught.value.line == 1


def test_a_second_open_is_refused_naming_pid_and_host_until_the_first_closes(tmp_path):
    path = tmp_path / "runs.jsonl"
    first = open_journal(path)
    with pytest.raises(JournalBusyError) as caught:
        open_journal(path)
    assert caught.value.pid == str(os.getpid())
    assert caught.value.host == socket.gethostname()
    first.close()
    open_journal(path).close()  # closed: free again


def links_to(path):
    """A symlink and two hard links (one in another folder) to the journal at ``path``."""
    symlink = path.with_name("via-symlink.jsonl")
    symlink.symlink_to(path)
    hard_link = path.with_name("via-hard-link.jsonl")
    os.link(path, hard_link)
    elsewhere = path.parent / "elsewhere"
    elsewhere.mkdir()
    os.link(path, elsewhere / "runs.jsonl")
    return symlink, hard_link, elsewhere / "runs.jsonl"


def test_a_link_to_a_held_journal_is_refused_like_the_journal_itself(tmp_path):
    # The lock used to be <name>.lock beside the name opened: each link had its own, so
    # three batches wrote one file at once.
    path = tmp_path / "runs.jsonl"
    first = open_journal(path)
    symlink, hard_link, elsewhere = links_to(path)

    with pytest.raises(JournalBusyError) as caught:
        open_journal(symlink)
    assert caught.value.pid == str(os.getpid())  # the same real path: the same lock file
    assert caught.value.host == socket.gethostname()
    for link in (hard_link, elsewhere):
        with pytest.raises(JournalBusyError) as caught:
            open_journal(link)
        assert caught.value.pid is None  # the holder's name for the file is another
        assert "in use by another process" in str(caught.value)
        assert f"fuser {link}" in str(caught.value)

    first.close()
    with open_journal(hard_link) as second:  # closed: free again, under any name
        with pytest.raises(JournalBusyError):
            open_journal(path)
        assert second.counts == {"ok": 0, "failed": 0, "in_flight": 0}


def test_a_note_left_by_a_killed_holder_names_no_one(tmp_path):
    # A killed batch's note stays beside the journal. Another batch holding the journal
    # through a hard link writes its note beside that name: a refusal through the first
    # name must not name the dead process.
    path = tmp_path / "runs.jsonl"
    open_journal(path).close()
    facts = path.stat()
    dead = {"pid": 999_999, "host": "gone", "at": AT, "dev": facts.st_dev, "ino": facts.st_ino}
    path.with_name("runs.jsonl.lock").write_text(json.dumps(dead) + "\n")
    hard_link = path.with_name("via-hard-link.jsonl")
    os.link(path, hard_link)

    with open_journal(hard_link), pytest.raises(JournalBusyError) as caught:
        open_journal(path)
    assert caught.value.pid is None
    assert "999999" not in str(caught.value)


async def test_wrap_reads_async_items_and_skips_done_ones(earlier):
    async def items():
        yield {"accountId": "ok"}
        yield RunRequest(params={"accountId": "x"}, idempotency_key="k-new")
        yield {"accountId": "flight"}

    with open_journal(earlier) as journal:
        wrapped = journal.wrap(items(), key_fn=lambda params: f"k-{params['accountId']}")
        sent = [item.idempotency_key async for item in wrapped]  # type: ignore[union-attr]
    assert sent == ["k-new", "k-flight"]


def test_bad_arguments_are_typed_errors(tmp_path):
    with pytest.raises(InvalidRequestError, match="key_scheme"):
        BatchJournal.open(tmp_path / "j.jsonl", workflow_id=396, key_scheme="")
    with pytest.raises(InvalidRequestError, match="workflow_id"):
        BatchJournal.open(tmp_path / "j.jsonl", workflow_id=True, key_scheme="x")
