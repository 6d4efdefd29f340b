"""run_many/stream_runs when the caller's items raise part way: nothing started is lost.

The fake holds every run (``pause_runs``) until the batch has read all it can, so the runs
are certainly in flight when the items raise: they must end and be handed back (carried
on ``BatchInputError``, yielded by ``stream_runs``, journaled), never be cancelled.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from zuora_wf_async import BatchInputError, BatchJournal, ZuoraError, derive_key

BEFORE = 40  # items the source yields before it raises
CONCURRENCY = 64  # more than BEFORE: every item read is in flight when the source raises


class SourceBrokeError(ValueError):
    """The caller's own failure (a database cursor lost, a file cut short)."""


def rows():
    for n in range(BEFORE):
        yield {"accountId": f"A-{n}"}
    raise SourceBrokeError("row 41 of secret-customers.csv")


async def async_rows():
    for n in range(BEFORE):
        yield {"accountId": f"A-{n}"}
    raise SourceBrokeError("row 41 of secret-customers.csv")


SOURCES = pytest.mark.parametrize("source", [rows, async_rows], ids=["generator", "async"])


def key_of(params):
    return derive_key("test-input-error", params["accountId"])


async def held_until_read(fake, batch: asyncio.Task) -> None:
    """Let the runs go once every item the source yields is in flight."""
    try:
        await fake.wait_for_in_flight(BEFORE, timeout=30)
        assert not batch.done()  # nothing cancelled: the batch waits for its runs
    finally:
        fake.resume_runs()


def assert_names_the_cause_only(error: BatchInputError) -> None:
    assert isinstance(error, ZuoraError)
    assert isinstance(error.__cause__, SourceBrokeError)
    assert error.items_read == BEFORE
    assert error.may_have_run
    assert "SourceBrokeError after 40 item(s)" in str(error)
    assert "secret-customers" not in str(error)  # the caller's text may quote its rows


@SOURCES
async def test_run_many_lets_the_started_runs_end_and_carries_every_outcome(
    fake, make_client, source
):
    fake.pause_runs()
    async with make_client(max_concurrency=CONCURRENCY) as client:
        batch = asyncio.create_task(client.run_many(396, source()))
        await held_until_read(fake, batch)
        with pytest.raises(BatchInputError) as caught:
            await batch

    error = caught.value
    assert_names_the_cause_only(error)
    assert [outcome.index for outcome in error.outcomes] == list(range(BEFORE))
    assert all(outcome.ok for outcome in error.outcomes)
    # Every run the server created is among the outcomes, and nothing else is.
    assert len(fake.executions) == len(error.outcomes) == BEFORE
    assert {o.run.id for o in error.outcomes} == {e.run_id for e in fake.executions}


@SOURCES
async def test_stream_runs_yields_what_finished_then_raises(fake, make_client, source):
    fake.pause_runs()
    seen = []
    async with make_client(max_concurrency=CONCURRENCY) as client:

        async def consume() -> None:
            async with client.stream_runs(396, source()) as stream:
                async for outcome in stream:
                    seen.append(outcome)  # noqa: PERF401 -- kept as each comes: the end raises

        batch = asyncio.create_task(consume())
        await held_until_read(fake, batch)
        with pytest.raises(BatchInputError) as caught:
            await batch

    assert_names_the_cause_only(caught.value)
    assert caught.value.outcomes == []  # each was yielded: the stream keeps none
    assert sorted(outcome.index for outcome in seen) == list(range(BEFORE))
    assert len(fake.executions) == len(seen)
    assert {o.run.id for o in seen} == {e.run_id for e in fake.executions}


@SOURCES
async def test_a_journal_records_every_run_started_before_the_items_raised(
    fake, make_client, tmp_path, source
):
    path = tmp_path / "runs.jsonl"
    fake.pause_runs()
    with BatchJournal.open(path, workflow_id=396, key_scheme="accountId") as journal:
        async with make_client(max_concurrency=CONCURRENCY) as client:
            batch = asyncio.create_task(
                client.run_many(396, source(), key_fn=key_of, journal=journal)
            )
            await held_until_read(fake, batch)
            with pytest.raises(BatchInputError) as caught:
                await batch

    assert len(caught.value.outcomes) == BEFORE
    events = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert Counter(event["event"] for event in events) == {"started": BEFORE, "ok": BEFORE}
    journaled = {event["run_id"] for event in events if event["event"] == "ok"}
    assert journaled == {execution.run_id for execution in fake.executions}
    with BatchJournal.open(path, workflow_id=396, key_scheme="accountId") as journal:
        assert journal.counts == {"ok": BEFORE, "failed": 0, "in_flight": 0}


class Unreadable:
    """An iterable whose ``__iter__`` itself raises: not one item can be read."""

    def __iter__(self):
        raise SourceBrokeError("cannot open secret-customers.csv")


async def test_items_that_cannot_even_be_iterated_send_nothing(fake, zuora):
    with pytest.raises(BatchInputError) as caught:
        await zuora.run_many(396, Unreadable())
    assert isinstance(caught.value.__cause__, SourceBrokeError)
    assert caught.value.items_read == 0
    assert not caught.value.may_have_run
    assert "nothing was sent" in str(caught.value)
    assert fake.requests == []
