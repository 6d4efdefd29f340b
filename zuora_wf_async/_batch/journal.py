"""``BatchJournal``: an open, locked journal and what it says so far, per key.

Its lines, the rules that make a resume safe and what the lines say so far per key are in
``journal_lines.py``, the lock in ``journal_lock.py``. A batch reads its items through
:meth:`BatchJournal.wrap`.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from zuora_wf_async._batch.journal_lines import (
    FORMAT,
    RETRY_NAMESPACE,
    JournalError,
    JournalState,
    Plan,
    check_open_args,
    key_digest,
    load,
    now,
    read_journal,
    retry_with,
)
from zuora_wf_async._batch.journal_lock import JournalBusyError, lock, unlock
from zuora_wf_async._batch.keys import derive_key
from zuora_wf_async._batch.outcomes import RunOutcome, RunRequest
from zuora_wf_async._errors import InvalidRequestError, ZuoraError

__all__ = ["BatchJournal", "JournalBusyError", "JournalError", "Plan", "key_digest"]

KeyFn = Callable[[Mapping[str, Any]], str]
_DONE = object()  # not None: a None among the items is a bad item, to fail alone


class BatchJournal:
    """An open, locked journal: what is done, and a flushed line per new event.

    ::

        with BatchJournal.open("runs.jsonl", workflow_id=396, key_scheme="accountId") as journal:
            outcomes = await client.run_many(396, rows, key_fn=key_of, journal=journal)

    or by hand: :meth:`plan` says whether to send an item and under which key,
    :meth:`started` goes just before sending, :meth:`record` after the outcome.
    ``key_scheme`` is whatever names how your keys are made ("accountId", "v2:{account}:
    {cycle}"): a journal refuses to resume under another scheme, because its keys would
    name other items.
    """

    def __init__(
        self,
        path: Path,
        file: IO[bytes],
        lock_fds: tuple[int, ...],
        header: dict[str, Any],
        state: JournalState,
        *,
        resumed: bool,
        dropped_bytes: int,
        on_record: Callable[[dict[str, Any]], object] | None,
        clock: Callable[[], str],
    ) -> None:
        self.path = path
        self.header = header
        self.resumed = resumed
        #: Bytes of a torn last line dropped on opening (0 when the journal was whole).
        self.dropped_bytes = dropped_bytes
        self._file = file
        self._lock_fds = lock_fds
        self._state = state
        self._on_record = on_record
        self._now = clock
        self._sent: dict[str, str] = {}  # sent key -> key, while in flight

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        workflow_id: int,
        key_scheme: str,
        batch_id: str | None = None,
        tool: str = "zuora_wf_async",
        info: Mapping[str, Any] | None = None,
        on_record: Callable[[dict[str, Any]], object] | None = None,
        clock: Callable[[], str] = now,
    ) -> BatchJournal:
        """Lock ``path`` and load it, or create it with a header; resumes when it exists.

        Raises :class:`JournalBusyError` if another process holds it, :class:`JournalError`
        for a line of the wrong shape or a header for another workflow, key scheme or
        batch id, and ``InvalidRequestError`` if the file cannot be opened.
        """
        path = Path(path)
        check_open_args(workflow_id, key_scheme, batch_id)
        at = clock()
        try:
            lock_fds = lock(path, at)
        except OSError as exc:
            raise InvalidRequestError(
                "journal", f"cannot lock {path}: {exc.strerror or exc}", "check the folder"
            ) from None
        try:
            header, state, dropped = load(path, workflow_id, key_scheme, batch_id)
            file = path.open("ab")
        except OSError as exc:
            unlock(lock_fds)
            raise InvalidRequestError(
                "journal", f"cannot open {path}: {exc.strerror or exc}", "check the path"
            ) from None
        except BaseException:
            unlock(lock_fds)
            raise
        journal = cls(
            path,
            file,
            lock_fds,
            header or {},
            state,
            resumed=header is not None,
            dropped_bytes=dropped,
            on_record=on_record,
            clock=clock,
        )
        if header is None:
            journal.header = {
                "journal": FORMAT,
                "workflow_id": workflow_id,
                "key_scheme": key_scheme,
                "batch_id": batch_id,
                "tool": tool,
                **(info or {}),
                "at": clock(),
            }
            journal._write(journal.header)
        return journal

    # -- what is known --------------------------------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """How many keys are ok, failed and in flight (left by an earlier process)."""
        state = self._state
        in_flight = sum(1 for _sent, _at, mine in state.in_flight.values() if not mine)
        ok = len(state.ok) + len(state.ok_now)
        return {"ok": ok, "failed": len(state.failed), "in_flight": in_flight}

    def in_flight_since(self) -> list[str]:
        """The ``at`` of each item an earlier process left in flight (for a staleness check)."""
        return [at for _sent, at, mine in self._state.in_flight.values() if not mine]

    def unsettled_runs(self) -> list[int]:
        """Run ids journaled ``ok`` and not yet seen to end (or stopped), in start order.

        Read back from the file (run ids are not kept in memory: a million would cost
        tens of MB that only ``--wait`` and ``batch stop`` need).
        """
        self._file.flush()
        runs: dict[int, None] = {}
        for number, record in read_journal(self.path):
            kind = record["event"] if number > 1 else "header"
            if kind == "ok":
                runs[record["run_id"]] = None
            elif kind == "settled" or (kind == "stopped" and record["success"]):
                runs.pop(record["run_id"], None)
        return list(runs)

    def plan(self, key: str, *, retry_failed: bool = False) -> Plan:
        """Whether to send the item whose key is ``key``, and the key to send it with."""
        state = self._state
        digest = key_digest(key)
        if digest in state.ok_now:
            return Plan(None, "duplicate")
        if digest in state.ok:
            return Plan(None, "done")
        if digest in state.in_flight:
            sent, _at, mine = state.in_flight[digest]
            return Plan(None, "duplicate") if mine else Plan(sent, "in flight")
        if digest in state.failed:
            sent, new_key, mine = state.failed[digest]
            if mine:
                return Plan(None, "duplicate")
            if not retry_failed:
                return Plan(None, "failed")
            return Plan(derive_key(RETRY_NAMESPACE, sent) if new_key else sent, "retry")
        return Plan(key, "new")

    # -- recording ------------------------------------------------------------------------

    def started(self, key: str, send_key: str | None = None, **info: Any) -> None:
        """Journal that ``key`` is about to be sent (as ``send_key``); call before sending."""
        sent = send_key or key
        extra = {"sent_key": sent} if sent != key else {}
        self._write({"event": "started", "key": key, **extra, **info, "at": self._now()})
        self._sent[sent] = key

    def record(self, outcome: RunOutcome, **info: Any) -> str:
        """Journal how a started item ended; returns its key."""
        sent = outcome.idempotency_key or ""
        key = self._sent.pop(sent, sent)
        extra: dict[str, Any] = {"sent_key": sent} if sent != key else {}
        extra.update(attempts=outcome.attempts, elapsed=round(outcome.elapsed, 3))
        if outcome.run is not None:
            run = outcome.run
            self._event(
                "ok",
                key=key,
                run_id=run.id,
                run_name=run.name,
                status=str(run.status),
                **extra,
                **info,
            )
            if outcome.detail is not None:
                self.settled(run.id, str(outcome.detail.status), outcome.detail.succeeded)
            elif outcome.error is not None:  # started, then the wait gave up
                self.wait_failed(run.id, outcome.error)
            return key
        error = outcome.error
        assert error is not None  # noqa: S101 -- an outcome has a run or an error
        self.failed(key, error, **extra, **info)  # extra names sent_key when it differs
        return key

    def failed(
        self, key: str | None, error: ZuoraError | str, *, message: str = "", **info: Any
    ) -> None:
        """Journal a failure: a ``ZuoraError``, or the name of a problem (a bad input row)."""
        sent = info.pop("sent_key", None) or key
        fields: dict[str, Any] = {"event": "failed", "key": key}
        if sent is not None and sent != key:
            fields["sent_key"] = sent
        if isinstance(error, ZuoraError):
            fields.update(
                error=type(error).__name__,
                status=getattr(error, "status", None),
                message=str(error),
                request_id=getattr(error, "request_id", None),
                retry_with=retry_with(error),
            )
        else:
            fields.update(error=error, message=message)
        self._write({**fields, **info, "at": self._now()})

    def settled(self, run_id: int, status: str, succeeded: bool, **info: Any) -> None:
        self._event("settled", run_id=run_id, status=status, succeeded=succeeded, **info)

    def wait_failed(self, run_id: int, error: ZuoraError) -> None:
        self._event("wait_failed", run_id=run_id, error=type(error).__name__, message=str(error))

    def stopped(self, run_id: int, success: bool, status: str) -> None:
        self._event("stopped", run_id=run_id, success=success, status=status)

    # -- run_many / stream_runs (journal=) -------------------------------------------------

    def wrap(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        key_fn: KeyFn | None = None,
        *,
        retry_failed: bool = False,
    ) -> Iterable[Any] | AsyncIterable[Any]:
        """``items`` less those already done, each journaled ``started`` as it is read
        (what ``run_many(..., journal=)`` reads: it reads an item right before sending it,
        so the line precedes the request).

        An item's key is its ``RunRequest``'s own, else ``key_fn(params)``; it comes out
        as a ``RunRequest`` under the key to send. An item with neither comes out keyless
        (the batch fails it alone, unsent: a random key could not be found again); what
        is not an item at all passes through, to fail alone as without a journal.
        """
        if isinstance(items, AsyncIterable):
            return self._wrap_async(items, key_fn, retry_failed)
        return self._wrap_sync(items, key_fn, retry_failed)

    def _wrap_sync(self, items: Iterable[Any], key_fn: KeyFn | None, retry: bool) -> Iterator[Any]:
        for number, item in enumerate(items):
            planned = self._planned(number, item, key_fn, retry)
            if planned is not _DONE:
                yield planned

    async def _wrap_async(
        self, items: AsyncIterable[Any], key_fn: KeyFn | None, retry: bool
    ) -> AsyncIterator[Any]:
        number = 0
        async for item in items:
            planned = self._planned(number, item, key_fn, retry)
            number += 1
            if planned is not _DONE:
                yield planned

    def _planned(self, number: int, item: object, key_fn: KeyFn | None, retry: bool) -> object:
        """The item as it is to be sent; ``_DONE`` when the journal says it is done."""
        if isinstance(item, RunRequest):
            params, key, track_id = item.params, item.idempotency_key, item.track_id
        elif isinstance(item, Mapping):
            params, key, track_id = item, None, None
        else:
            return item  # a None among the items included: a bad item, failed alone
        if key is None and key_fn is not None:
            try:
                key = key_fn(params)
            except Exception:  # noqa: BLE001 -- the caller's callback: this item fails alone
                key = None
        if not isinstance(key, str) or not key:
            return RunRequest(params=params, idempotency_key=None, track_id=track_id)
        plan = self.plan(key, retry_failed=retry)
        if plan.send_key is None:
            return _DONE
        self.started(key, plan.send_key, item=number)
        return RunRequest(params=params, idempotency_key=plan.send_key, track_id=track_id)

    def _event(self, kind: str, **fields: Any) -> None:
        self._write({"event": kind, **fields, "at": self._now()})

    def _write(self, record: dict[str, Any]) -> None:
        try:
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON input: keep it escaped
            data = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
        # One write of the whole line: a kill leaves at worst a line without its newline.
        self._file.write(data + b"\n")
        self._file.flush()
        self._state.apply(record, mine=True)
        if self._on_record is not None:
            self._on_record(record)

    def close(self) -> None:
        """fsync, close and unlock (idempotent)."""
        if self._file.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            try:
                self._file.close()  # raises again on a full disk: unlock all the same
            finally:
                unlock(self._lock_fds)
                self._lock_fds = ()

    def __enter__(self) -> BatchJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
