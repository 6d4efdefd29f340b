"""A batch through a journal: what ``run_many(..., journal=)`` and ``stream_runs`` add.

Two steps around the fan-out. Reading: items the journal records as done are left out,
and each other item is journaled ``started`` as it is read (the fan-out reads an item
right before sending it, so the line precedes its request). Ending: each outcome is
journaled. An item with no key of its own and no ``key_fn`` cannot be resumed (a random
key could not be found again): it fails alone, unsent.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import TYPE_CHECKING, Any

from zuora_wf_async._batch.outcomes import RunOutcome, RunRequest
from zuora_wf_async._errors import InvalidRequestError

if TYPE_CHECKING:
    from zuora_wf_async._batch.journal import BatchJournal

__all__ = ["journaled_items", "journaled_start"]

KeyFn = Callable[[Mapping[str, Any]], str]
StartFn = Callable[[int, Mapping[str, Any], str | None, str | None], Awaitable[RunOutcome]]


class _Done:
    """What planning gives for an item the journal says is done: it is left out. Not
    None: a None among the items is a bad item, passed on to fail alone."""


_DONE = _Done()


def journaled_items(
    journal: BatchJournal,
    items: Iterable[Any] | AsyncIterable[Any],
    key_fn: KeyFn | None,
    *,
    retry_failed: bool = False,
) -> Iterable[Any] | AsyncIterable[Any]:
    """``items`` less those already done, each journaled ``started`` as it is read.

    An item's key is its ``RunRequest``'s own, else ``key_fn(params)``; an item with
    neither passes through keyless (``journaled_start`` fails it alone).
    """
    if isinstance(items, AsyncIterable):
        return _read_async(journal, items, key_fn, retry_failed)
    return _read_sync(journal, items, key_fn, retry_failed)


def _read_sync(
    journal: BatchJournal, items: Iterable[Any], key_fn: KeyFn | None, retry_failed: bool
) -> Iterator[Any]:
    for number, item in enumerate(items):
        planned = _planned(journal, number, item, key_fn, retry_failed)
        if planned is not _DONE:
            yield planned


async def _read_async(
    journal: BatchJournal, items: AsyncIterable[Any], key_fn: KeyFn | None, retry_failed: bool
) -> AsyncIterator[Any]:
    number = 0
    async for item in items:
        planned = _planned(journal, number, item, key_fn, retry_failed)
        number += 1
        if planned is not _DONE:
            yield planned


def _planned(
    journal: BatchJournal, number: int, item: object, key_fn: KeyFn | None, retry_failed: bool
) -> object:
    """The item as it is to be sent, or ``_DONE``."""
    if isinstance(item, RunRequest):
        params, key, track_id = item.params, item.idempotency_key, item.track_id
    elif isinstance(item, Mapping):
        params, key, track_id = item, None, None
    else:
        return item  # not an item at all: the fan-out fails it alone, as without a journal
    if key is None and key_fn is not None:
        try:
            key = key_fn(params)
        except Exception:  # noqa: BLE001 -- the caller's callback: this item fails alone
            key = None
    if not isinstance(key, str) or not key:
        return RunRequest(params=params, idempotency_key=None, track_id=track_id)
    plan = journal.plan(key, retry_failed=retry_failed)
    if plan.send_key is None:
        return _DONE
    journal.started(key, plan.send_key, item=number)
    return RunRequest(params=params, idempotency_key=plan.send_key, track_id=track_id)


def journaled_start(journal: BatchJournal, start: StartFn) -> StartFn:
    """``start`` that journals each outcome; a keyless item fails without being sent."""

    async def journaled(
        index: int, params: Mapping[str, Any], key: str | None, track_id: str | None
    ) -> RunOutcome:
        if key is None:
            error = InvalidRequestError(
                f"items[{index}]",
                "has no idempotency key, and a journal can only resume keyed items",
                "pass key_fn=... (e.g. from the fields that identify the run) or "
                "RunRequest(idempotency_key=...) items",
            )
            return RunOutcome(index=index, params=params, idempotency_key=None, error=error)
        outcome = await start(index, params, key, track_id)
        journal.record(outcome)
        return outcome

    return journaled
