"""``BatchJournal``: a batch's memory, so that a re-run resumes instead of repeating.

A JSON Lines file, one event per line, readable with ``less``, ``jq`` or ``zuora-wf batch
report``. The first line is the header; every other line is an event about one item,
named by its *key* (the item's own idempotency key, derived from what the item is)::

    {"journal": "zuora-wf-journal/2", "workflow_id": 396, "key_scheme": "columns:accountId",
     "batch_id": null, "tool": "zuora-wf 0.1.0", "at": "2026-11-28T09:00:00.000Z"}
    {"event": "started", "key": "5f0c...", "row": 2, "at": "..."}
    {"event": "ok", "key": "5f0c...", "run_id": 10000, "run_name": "WF-396-00000001",
     "status": "Queued", "attempts": 1, "elapsed": 0.041, "row": 2, "at": "..."}
    {"event": "failed", "key": "...", "error": "MissingParametersError", "retry_with":
     "new-key", "message": "...", "at": "..."}
    {"event": "settled", "run_id": 10000, "status": "Finished", "succeeded": true, "at": "..."}
    {"event": "stopped", "run_id": 10001, "success": true, "at": "..."}

Rules that make it safe:

* ``started`` is written (and flushed to the operating system) *before* the request goes
  out, so an item in flight when the process died is known, with the key it was sent with.
  A re-run sends it again under that key, and Zuora answers with the run it already made.
* The last ``ok``/``failed`` of a key is final. ``failed`` says ``"retry_with": "same-key"``
  when the run may exist (``ZuoraError.may_have_run``: no answer, 5xx, 429) and
  ``"new-key"`` when Zuora refused the request (it stores the refusal under the key and
  would replay it), in which case a retry is sent as ``derive_key("zuora-wf retry", key)``
  (recorded as ``sent_key``), the same on every retry, so a crash mid-retry cannot fork it.
* One process at a time: :meth:`BatchJournal.open` takes an exclusive ``flock`` on the
  journal file itself, so a symlink or a hard link to it meets the same lock, and notes
  the owner's pid and host in ``<real path>.lock`` (see "the lock" below). The kernel
  drops the lock when its process dies, however it dies, so a killed batch never blocks
  its resume; a second live process fails at once with :class:`JournalBusyError`.
* A torn last line (the process was killed in the middle of writing it: it has no final
  newline) was never acknowledged and is dropped on reopening; the event it was writing
  is redone by the resume. Any *other* line of the wrong shape is an edit or damage that
  a program must not guess about: :class:`JournalError` names the line and the field.
* Lines are flushed one by one, not fsynced one by one (that would cap a batch at a few
  hundred items a second); the file is fsynced on :meth:`close`. A power cut may lose the
  last lines, which costs no safety: their items are re-sent under the keys they had.

Only keys matter, never positions: two input files holding the same items in another
order resume each other, as long as the key scheme (recorded in the header) is the same.
Zuora keeps an idempotency key for 24 hours, so resume within a day: an item in flight for
longer may run again if its first request did create a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import attrs

from zuora_wf_async._errors import (
    BadRequestError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    MissingParametersError,
    NotFoundError,
    WorkflowIdIsRunError,
    ZuoraError,
)
from zuora_wf_async._outcomes import RunOutcome, RunRequest, derive_key

if sys.platform != "win32":
    import fcntl

__all__ = [
    "FORMAT",
    "BatchJournal",
    "JournalBusyError",
    "JournalError",
    "Plan",
    "read_journal",
    "retry_with",
]

FORMAT: Final = "zuora-wf-journal/2"
OLD_FORMAT: Final = "zuora-wf/1"
RETRY_NAMESPACE: Final = "zuora-wf retry"
EVENTS: Final = frozenset({"started", "ok", "failed", "settled", "wait_failed", "stopped"})
# Zuora judged these requests and created no run; it stores the answer under the key and
# replays it, so a retry needs a new key. Every other failure may hide a run: same key.
REFUSALS: Final = (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    MissingParametersError,
    WorkflowIdIsRunError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
)


DAMAGED: Final = (
    "the journal was edited or damaged; repair or delete that line, or use a new journal"
)


class JournalError(InvalidRequestError):
    """A journal line of the wrong shape: ``line`` and ``field`` say where; nothing was sent."""

    def __init__(self, path: Path, line: int, field: str, problem: str, fix: str = DAMAGED) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}: line {line}: {field}", problem, fix)


class JournalBusyError(ZuoraError):
    """Another live process holds the journal's lock; ``pid`` and ``host`` name it, or
    are None when it opened the file under another name (a hard link to it)."""

    def __init__(
        self, path: Path, pid: str | None, host: str | None, since: str | None = None
    ) -> None:
        self.path, self.pid, self.host = path, pid, host
        who = (
            f"pid {pid} on host {host} (since {since})"
            if pid is not None
            else f"another process, which opened the file under another name (`fuser {path}` "
            "names it)"
        )
        super().__init__(
            f"{path} is in use by {who}; wait for that batch to end or stop it: one "
            "process per journal, whatever its name (a killed process's lock frees itself)"
        )


_last_stamp: list[Any] = [-1, ""]  # (millisecond, its text): lines in one ms share it


def now() -> str:
    """The time for an ``at`` field: UTC, milliseconds, ``Z`` (formatted once per ms)."""
    millis = time.time_ns() // 1_000_000
    if millis != _last_stamp[0]:
        moment = datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")
        _last_stamp[:] = [millis, moment.replace("+00:00", "Z")]
    text: str = _last_stamp[1]
    return text


def retry_with(error: ZuoraError) -> str:
    """``"same-key"`` when the run may exist, ``"new-key"`` when Zuora refused the request."""
    if error.may_have_run or not isinstance(error, REFUSALS):
        return "same-key"
    return "new-key"


# -- reading: a pure check of each line's shape, from a table ---------------------------

_HEADER_FIELDS: Final[Mapping[str, tuple[type | tuple[type, ...], bool]]] = {
    "workflow_id": (int, True),
    "key_scheme": (str, True),
    "batch_id": ((str, type(None)), False),
}
# event -> (field -> (types, required))
_EVENT_FIELDS: Final[Mapping[str, Mapping[str, tuple[type | tuple[type, ...], bool]]]] = {
    "started": {"key": (str, True), "sent_key": (str, False)},
    "ok": {"key": (str, True), "run_id": (int, True), "sent_key": (str, False)},
    "failed": {
        "key": ((str, type(None)), True),
        "error": (str, True),
        "retry_with": (str, False),
        "sent_key": (str, False),
    },
    "settled": {"run_id": (int, True), "succeeded": (bool, True), "status": (str, False)},
    "wait_failed": {"run_id": (int, True), "error": (str, True)},
    "stopped": {"run_id": (int, True), "success": (bool, True)},
}


_MISSING: Final = object()


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_fields(
    path: Path, number: int, record: dict[str, Any], table: Mapping[str, Any]
) -> None:
    for field, (kinds, required) in table.items():
        value = record.get(field, _MISSING)
        if value is _MISSING:
            if required:
                raise JournalError(path, number, field, "is missing")
            continue
        wanted = kinds if isinstance(kinds, tuple) else (kinds,)
        kind = type(value)
        if kind in wanted and (value or kind is not str):
            continue  # the common case, in one test: an exact type (so never bool for int)
        # bool is an int to Python, never to the journal.
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in wanted)
            raise JournalError(path, number, field, f"should be {names}, got {_short(value)}")
        if isinstance(value, str) and not value and field in ("key", "sent_key"):
            raise JournalError(path, number, field, "is empty")


_checked_at: list[object] = [None]  # the last good ``at``: lines of one ms share it


def _check_at(path: Path, number: int, record: dict[str, Any]) -> None:
    at = record.get("at")
    if at == _checked_at[0] and isinstance(at, str):
        return
    if not isinstance(at, str):
        raise JournalError(path, number, "at", f"should be a timestamp, got {_short(at)}")
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        raise JournalError(path, number, "at", f"is not an ISO-8601 time: {_short(at)}") from None
    if parsed.tzinfo is None:
        raise JournalError(path, number, "at", f"has no time zone: {_short(at)}")
    _checked_at[0] = at


def check_header(path: Path, number: int, record: object) -> dict[str, Any]:
    """The header line, checked; :class:`JournalError` naming the field otherwise."""
    if not isinstance(record, dict):
        raise JournalError(path, number, "header", f"should be an object, got {_short(record)}")
    found = record.get("journal")
    if found == OLD_FORMAT:
        raise JournalError(
            path,
            number,
            "journal",
            "was written by an older zuora-wf whose keys held row numbers; finish it with "
            "that version",
        )
    if found != FORMAT:
        raise JournalError(path, number, "journal", f"should be {FORMAT!r}, got {_short(found)}")
    _check_fields(path, number, record, _HEADER_FIELDS)
    _check_at(path, number, record)
    return record


def check_event(path: Path, number: int, record: object) -> dict[str, Any]:
    """One event line, checked; :class:`JournalError` naming the field otherwise."""
    if not isinstance(record, dict):
        raise JournalError(path, number, "event", f"should be an object, got {_short(record)}")
    kind = record.get("event")
    if kind not in EVENTS:
        raise JournalError(
            path,
            number,
            "event",
            f"should be one of {', '.join(sorted(EVENTS))}, got {_short(kind)}",
        )
    _check_fields(path, number, record, _EVENT_FIELDS[kind])
    if kind == "failed" and record.get("retry_with", "same-key") not in ("same-key", "new-key"):
        raise JournalError(
            path,
            number,
            "retry_with",
            f"should be same-key or new-key, got {_short(record['retry_with'])}",
        )
    _check_at(path, number, record)
    return record


_decode = json.JSONDecoder().decode


def _parse(path: Path, number: int, line: bytes) -> object:
    try:
        return _decode(line.decode("utf-8"))
    except (ValueError, RecursionError):
        raise JournalError(path, number, "line", "is not JSON") from None


def read_journal(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each complete line, checked, header first.

    Reads without the lock (a report may run beside a live batch): a torn last line, or
    one still being written, is not yielded. :class:`JournalError` for a wrong shape.
    """
    try:
        file = path.open("rb")
    except OSError as exc:
        raise InvalidRequestError(
            "journal", f"cannot read {path}: {exc.strerror or exc}", "check the path"
        ) from None
    with file:
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                return
            record = _parse(path, number, line)
            check = check_header if number == 1 else check_event
            yield number, check(path, number, record)


# -- the state: what the journal says so far, per key -----------------------------------


@attrs.frozen
class Plan:
    """What to do with one item: send it under ``send_key``, or skip it for ``reason``."""

    send_key: str | None
    reason: str  # "new", "in flight", "retry", or why skipped: "done", "failed", "duplicate"

    @property
    def send(self) -> bool:
        return self.send_key is not None


def _digest(key: str) -> bytes:
    """12 bytes standing for a key in memory: a million keys fit in a few tens of MB.

    BLAKE2b truncated to 96 bits: two keys of a batch meet by chance with odds near
    n**2 / 2**97, about 1e-17 for a million.
    """
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).digest()


# What planning returns for an item the journal says is done: it is left out.
_DONE_ALREADY = object()


@attrs.define
class _State:
    """Per key digest, what the journal says so far (run ids are re-read when needed).

    ``mine`` marks what this process started: a second row with that key is a duplicate.
    """

    ok: set[bytes] = attrs.field(factory=set)  # loaded from the file
    ok_now: set[bytes] = attrs.field(factory=set)  # recorded by this process
    # -> (sent key, whether a retry needs a new key, mine)
    failed: dict[bytes, tuple[str, bool, bool]] = attrs.field(factory=dict)
    in_flight: dict[bytes, tuple[str, str, bool]] = attrs.field(factory=dict)  # (sent, at, mine)

    def apply(self, record: dict[str, Any]) -> None:
        """Fold one checked event in (``check_event`` has vouched for its fields)."""
        kind, key = record["event"], record.get("key")
        if key is None or kind not in ("started", "ok", "failed"):
            return  # a bad input row's failure has no key: nothing to resume
        digest = _digest(key)
        if kind == "started":
            self.failed.pop(digest, None)
            self.in_flight[digest] = (record.get("sent_key") or key, record["at"], False)
        elif kind == "ok":
            self.in_flight.pop(digest, None)
            self.ok.add(digest)
        else:
            self.in_flight.pop(digest, None)
            sent = record.get("sent_key") or key
            self.failed[digest] = (sent, record.get("retry_with") == "new-key", False)


# -- the lock ----------------------------------------------------------------------------
#
# The lock is on the journal file itself: an exclusive ``flock`` on an open descriptor of
# it, so every name of the file (a symlink, a hard link, a path through another folder)
# meets the same lock; a lock file beside the name given let three batches write one
# journal through three names. ``flock`` (not ``fcntl``/``lockf`` record locks) because it
# belongs to the open file: the journal's other descriptors (appending, ``read_journal``)
# neither take nor drop it, and a second open in the same process is refused too.
#
# Who holds it is written to ``<real path>.lock`` (the symlinks resolved), with the file's
# device and inode, and that file is locked as well: by an older version, which knows only
# that lock, and so that a refused process can tell a live holder's note from one left by
# a killed process. A holder that opened the file under another name (a hard link) wrote
# its note beside that name: the refusal then says so, and ``fuser`` finds the process.


def _lock(path: Path, at: str) -> tuple[int, ...]:
    """Lock the journal file (created if need be) and its note; the descriptors to keep
    open while the journal is. :class:`JournalBusyError` if another holds either."""
    if sys.platform == "win32":  # pragma: no cover -- flock is POSIX; Windows runs unlocked
        return ()
    journal_fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    held = [journal_fd]
    try:
        facts = os.fstat(journal_fd)
        identity = [facts.st_dev, facts.st_ino]
        note = Path(os.path.realpath(path))
        note = note.with_name(note.name + ".lock")
        try:
            fcntl.flock(journal_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusyError(path, *_holder(note, identity)) from None
        note_fd = os.open(note, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        held.append(note_fd)
        try:
            fcntl.flock(note_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # an older version, or a journal replaced under a batch
            holder = _read_note(note_fd)
            raise JournalBusyError(
                path,
                str(holder.get("pid", "?")),
                str(holder.get("host", "?")),
                str(holder.get("at", "?")),
            ) from None
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "at": at}
        owner.update(dev=facts.st_dev, ino=facts.st_ino)
        os.ftruncate(note_fd, 0)
        os.pwrite(note_fd, json.dumps(owner).encode() + b"\n", 0)
    except BaseException:
        _unlock(tuple(held))
        raise
    return tuple(held)


def _read_note(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder(note: Path, identity: list[int]) -> tuple[str | None, str | None, str | None]:
    """(pid, host, since) of the journal's holder, from the note beside its real path;
    Nones when that note is not the holder's: no note, a note nobody holds (its writer
    has ended), or a note about another file (the holder came through a hard link)."""
    try:
        fd = os.open(note, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None, None, None
    try:
        try:
            # A shared lock we get means no holder: let go at once (a batch starting at
            # this very moment may be refused, which is safe, and rerunning it works).
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_note(fd)
        else:
            holder = {}
    finally:
        os.close(fd)
    if [holder.get("dev"), holder.get("ino")] != identity:
        return None, None, None
    return str(holder.get("pid", "?")), str(holder.get("host", "?")), str(holder.get("at", "?"))


def _unlock(fds: tuple[int, ...]) -> None:
    # The note stays: unlinking it would let a third process lock a new inode while a
    # second still waits on the old one. Closing the descriptors releases the flocks.
    for fd in fds:
        os.close(fd)


# -- the journal -------------------------------------------------------------------------


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
        state: _State,
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
        _check_open_args(workflow_id, key_scheme, batch_id)
        at = clock()
        try:
            lock_fds = _lock(path, at)
        except OSError as exc:
            raise InvalidRequestError(
                "journal", f"cannot lock {path}: {exc.strerror or exc}", "check the folder"
            ) from None
        try:
            header, state, dropped = _load(path, workflow_id, key_scheme, batch_id)
            file = path.open("ab")
        except OSError as exc:
            _unlock(lock_fds)
            raise InvalidRequestError(
                "journal", f"cannot open {path}: {exc.strerror or exc}", "check the path"
            ) from None
        except BaseException:
            _unlock(lock_fds)
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
        digest = _digest(key)
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
        at = self._now()
        extra = {"sent_key": sent} if sent != key else {}
        self._write({"event": "started", "key": key, **extra, **info, "at": at})
        digest = _digest(key)
        self._state.failed.pop(digest, None)
        self._state.in_flight[digest] = (sent, at, True)
        self._sent[sent] = key

    def record(self, outcome: RunOutcome, **info: Any) -> str:
        """Journal how a started item ended; returns its key."""
        sent = outcome.idempotency_key or ""
        key = self._sent.pop(sent, sent)
        extra: dict[str, Any] = {"sent_key": sent} if sent != key else {}
        extra.update(attempts=outcome.attempts, elapsed=round(outcome.elapsed, 3))
        if outcome.run is not None:
            run = outcome.run
            digest = _digest(key)
            self._state.in_flight.pop(digest, None)
            self._state.ok_now.add(digest)
            self._write(
                {
                    "event": "ok",
                    "key": key,
                    "run_id": run.id,
                    "run_name": run.name,
                    "status": str(run.status),
                    **extra,
                    **info,
                    "at": self._now(),
                }
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
        if key is not None:
            digest = _digest(key)
            self._state.in_flight.pop(digest, None)
            new_key = fields.get("retry_with") == "new-key"
            self._state.failed[digest] = (sent or key, new_key, True)

    def settled(self, run_id: int, status: str, succeeded: bool, **info: Any) -> None:
        self._write(
            {
                "event": "settled",
                "run_id": run_id,
                "status": status,
                "succeeded": succeeded,
                **info,
                "at": self._now(),
            }
        )

    def wait_failed(self, run_id: int, error: ZuoraError) -> None:
        self._write(
            {
                "event": "wait_failed",
                "run_id": run_id,
                "error": type(error).__name__,
                "message": str(error),
                "at": self._now(),
            }
        )

    def stopped(self, run_id: int, success: bool, status: str) -> None:
        self._write(
            {
                "event": "stopped",
                "run_id": run_id,
                "success": success,
                "status": status,
                "at": self._now(),
            }
        )

    # -- run_many / iter_runs (journal=) ---------------------------------------------------

    def wrap(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        key_fn: Callable[[Mapping[str, Any]], str] | None = None,
        *,
        retry_failed: bool = False,
    ) -> Iterable[Any] | AsyncIterable[Any]:
        """``items`` less those already done, each journaled ``started`` as it is read.

        ``iter_runs`` reads items only as a slot frees, right before sending, so the
        ``started`` line precedes its request. An item's key is its ``RunRequest``'s own,
        else ``key_fn(params)``; an item with neither passes through keyless and fails
        alone (a random key could not be resumed).
        """
        if isinstance(items, AsyncIterable):
            return self._wrap_async(items, key_fn, retry_failed)
        return self._wrap_sync(items, key_fn, retry_failed)

    def _wrap_sync(
        self,
        items: Iterable[Any],
        key_fn: Callable[[Mapping[str, Any]], str] | None,
        retry_failed: bool,
    ) -> Iterator[Any]:
        for number, item in enumerate(items):
            planned = self._planned(number, item, key_fn, retry_failed)
            if planned is not _DONE_ALREADY:
                yield planned

    async def _wrap_async(
        self,
        items: AsyncIterable[Any],
        key_fn: Callable[[Mapping[str, Any]], str] | None,
        retry_failed: bool,
    ) -> AsyncIterator[Any]:
        number = 0
        async for item in items:
            planned = self._planned(number, item, key_fn, retry_failed)
            number += 1
            if planned is not _DONE_ALREADY:
                yield planned

    def _planned(
        self,
        number: int,
        item: object,
        key_fn: Callable[[Mapping[str, Any]], str] | None,
        retry_failed: bool,
    ) -> object:
        """The item as it is to be sent, or ``_DONE_ALREADY`` (not None: a None among the
        items is a bad item, passed on to fail alone)."""
        if isinstance(item, RunRequest):
            params, key, track_id = item.params, item.idempotency_key, item.track_id
        elif isinstance(item, Mapping):
            params, key, track_id = item, None, None
        else:
            return item  # not an item at all: the stream fails it alone, as without a journal
        if key is None and key_fn is not None:
            try:
                key = key_fn(params)
            except Exception:  # noqa: BLE001 -- the caller's callback: this item fails alone
                key = None
        if not isinstance(key, str) or not key:
            return RunRequest(params=params, idempotency_key=None, track_id=track_id)
        plan = self.plan(key, retry_failed=retry_failed)
        if plan.send_key is None:
            return _DONE_ALREADY
        self.started(key, plan.send_key, item=number)
        return RunRequest(params=params, idempotency_key=plan.send_key, track_id=track_id)

    def recording(
        self,
        start: Callable[[int, Mapping[str, Any], str | None, str | None], Awaitable[RunOutcome]],
    ) -> Callable[[int, Mapping[str, Any], str | None, str | None], Awaitable[RunOutcome]]:
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
            self.record(outcome)
            return outcome

        return journaled

    def _write(self, record: dict[str, Any]) -> None:
        try:
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON input: keep it escaped
            data = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
        # One write of the whole line: a kill leaves at worst a line without its newline.
        self._file.write(data + b"\n")
        self._file.flush()
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
                _unlock(self._lock_fds)
                self._lock_fds = ()

    def __enter__(self) -> BatchJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _load(
    path: Path, workflow_id: int, key_scheme: str, batch_id: str | None
) -> tuple[dict[str, Any] | None, _State, int]:
    """The header (None for a new journal), the state, and the bytes of a torn last line.

    A torn last line is cut off the file here, under the lock, before anything appends.
    """
    state = _State()
    header: dict[str, Any] | None = None
    length = dropped = 0
    with path.open("ab+") as file:
        file.seek(0)
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                dropped = len(line)  # torn by a kill mid-write: never acknowledged
                break
            record = _parse(path, number, line)
            if number == 1:
                header = check_header(path, number, record)
                _check_same_batch(path, header, workflow_id, key_scheme, batch_id)
            else:
                state.apply(check_event(path, number, record))
            length += len(line)
    if dropped:
        os.truncate(path, length)
    return header, state, dropped


def _check_open_args(workflow_id: object, key_scheme: object, batch_id: object) -> None:
    if isinstance(workflow_id, bool) or not isinstance(workflow_id, int):
        raise InvalidRequestError(
            "workflow_id", f"must be an int, got {workflow_id!r}", "pass e.g. 396"
        )
    if not isinstance(key_scheme, str) or not key_scheme:
        raise InvalidRequestError(
            "key_scheme",
            f"must be a non-empty str, got {key_scheme!r}",
            "name how keys are made, e.g. key_scheme='accountId'",
        )
    if batch_id is not None and not isinstance(batch_id, str):
        raise InvalidRequestError("batch_id", f"must be a str, got {batch_id!r}", "or None")


def _check_same_batch(
    path: Path, header: dict[str, Any], workflow_id: int, key_scheme: str, batch_id: str | None
) -> None:
    for field, wanted in (
        ("workflow_id", workflow_id),
        ("key_scheme", key_scheme),
        ("batch_id", batch_id),
    ):
        if header.get(field) != wanted:
            raise JournalError(
                path,
                1,
                field,
                f"this journal has {_short(header.get(field))}, not {_short(wanted)}",
                "its keys would name other items: resume with the same settings, or use a "
                "new journal",
            )
