"""The journal's lines: what each says, how it is read back and checked, what they say per key.

A batch's memory, so that a re-run resumes instead of repeating (``BatchJournal`` in
``journal.py`` keeps it, ``journal_lock.py`` holds it for one process). A JSON Lines file:
a header, then one event per line about one item, named by its *key* (``started``, ``ok``,
``failed``, ``settled``, ``wait_failed``, ``stopped``). The format and the rules that make a
resume safe are the user guide's ("The journal", ``docs/guides/batch.md``); here they are:
``started`` is flushed before the request goes out; the last ``ok``/``failed`` of a key is
final, and ``failed`` says whether a retry reuses the key (``retry_with``: the run may
exist) or needs a new one (Zuora refused it and would replay the refusal), derived as
``derive_key(RETRY_NAMESPACE, key)`` so that a crash mid-retry cannot fork it; a torn last
line (no newline: never acknowledged) is dropped on opening, any other wrong line is a
``JournalError`` naming the line and field; lines are flushed one by one and fsynced on
close (a power cut costs re-sends under the same keys, never a second run). Zuora keeps
an idempotency key for 24 hours: resume within a day.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs

from zuora_wf_async._core.bodies import shown_value
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

__all__ = [
    "EVENTS",
    "FORMAT",
    "RETRY_NAMESPACE",
    "JournalError",
    "JournalState",
    "Plan",
    "check_open_args",
    "key_digest",
    "load",
    "now",
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


def now() -> str:
    """The time for an ``at`` field: UTC, milliseconds, ``Z``."""
    moment = datetime.now(UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


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


def short(value: object) -> str:
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
        # bool is an int to Python, never to the journal.
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in wanted)
            raise JournalError(path, number, field, f"should be {names}, got {short(value)}")
        if isinstance(value, str) and not value and field in ("key", "sent_key"):
            raise JournalError(path, number, field, "is empty")


def _check_at(path: Path, number: int, record: dict[str, Any]) -> None:
    at = record.get("at")
    if not isinstance(at, str):
        raise JournalError(path, number, "at", f"should be a timestamp, got {short(at)}")
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        raise JournalError(path, number, "at", f"is not an ISO-8601 time: {short(at)}") from None
    if parsed.tzinfo is None:
        raise JournalError(path, number, "at", f"has no time zone: {short(at)}")


def check_header(path: Path, number: int, record: object) -> dict[str, Any]:
    """The header line, checked; :class:`JournalError` naming the field otherwise."""
    if not isinstance(record, dict):
        raise JournalError(path, number, "header", f"should be an object, got {short(record)}")
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
        raise JournalError(path, number, "journal", f"should be {FORMAT!r}, got {short(found)}")
    _check_fields(path, number, record, _HEADER_FIELDS)
    _check_at(path, number, record)
    return record


def check_event(path: Path, number: int, record: object) -> dict[str, Any]:
    """One event line, checked; :class:`JournalError` naming the field otherwise."""
    if not isinstance(record, dict):
        raise JournalError(path, number, "event", f"should be an object, got {short(record)}")
    kind = record.get("event")
    if kind not in EVENTS:
        raise JournalError(
            path,
            number,
            "event",
            f"should be one of {', '.join(sorted(EVENTS))}, got {short(kind)}",
        )
    _check_fields(path, number, record, _EVENT_FIELDS[kind])
    if kind == "failed" and record.get("retry_with", "same-key") not in ("same-key", "new-key"):
        raise JournalError(
            path,
            number,
            "retry_with",
            f"should be same-key or new-key, got {short(record['retry_with'])}",
        )
    _check_at(path, number, record)
    return record


_decode = json.JSONDecoder().decode


def parse_line(path: Path, number: int, line: bytes) -> object:
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
            record = parse_line(path, number, line)
            check = check_header if number == 1 else check_event
            yield number, check(path, number, record)


def check_open_args(workflow_id: object, key_scheme: object, batch_id: object) -> None:
    if isinstance(workflow_id, bool) or not isinstance(workflow_id, int):
        raise InvalidRequestError(
            "workflow_id", f"must be an int, got {shown_value(workflow_id)}", "pass e.g. 396"
        )
    if not isinstance(key_scheme, str) or not key_scheme:
        raise InvalidRequestError(
            "key_scheme",
            f"must be a non-empty str, got {shown_value(key_scheme)}",
            "name how keys are made, e.g. key_scheme='accountId'",
        )
    if batch_id is not None and not isinstance(batch_id, str):
        raise InvalidRequestError(
            "batch_id", f"must be a str, got {shown_value(batch_id)}", "or None"
        )


def check_same_batch(
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
                f"this journal has {short(header.get(field))}, not {short(wanted)}",
                "its keys would name other items: resume with the same settings, or use a "
                "new journal",
            )


# -- what the lines say so far, per key: loaded from the file, then kept up to date ------


@attrs.frozen
class Plan:
    """What to do with one item: send it under ``send_key``, or skip it for ``reason``."""

    send_key: str | None
    reason: str  # "new", "in flight", "retry", or why skipped: "done", "failed", "duplicate"


def key_digest(key: str) -> bytes:
    """12 bytes standing for a key in memory: a million keys fit in a few tens of MB.

    BLAKE2b truncated to 96 bits: two keys of a batch meet by chance with odds near
    n**2 / 2**97, about 1e-17 for a million.
    """
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).digest()


@attrs.define
class JournalState:
    """Per key digest, what the journal says so far (run ids are re-read when needed).

    ``mine`` marks what this process started: a second row with that key is a duplicate.
    """

    ok: set[bytes] = attrs.field(factory=set)  # loaded from the file
    ok_now: set[bytes] = attrs.field(factory=set)  # recorded by this process
    # -> (sent key, whether a retry needs a new key, mine)
    failed: dict[bytes, tuple[str, bool, bool]] = attrs.field(factory=dict)
    in_flight: dict[bytes, tuple[str, str, bool]] = attrs.field(factory=dict)  # (sent, at, mine)

    def apply(self, record: dict[str, Any], *, mine: bool = False) -> None:
        """Fold one checked event in: read from the file, or (``mine``) just written."""
        kind, key = record.get("event"), record.get("key")
        if key is None or kind not in ("started", "ok", "failed"):
            return  # a bad input row's failure has no key: nothing to resume
        digest = key_digest(key)
        sent = record.get("sent_key") or key
        self.in_flight.pop(digest, None)
        if kind == "started":
            self.failed.pop(digest, None)
            self.in_flight[digest] = (sent, record["at"], mine)
        elif kind == "ok":
            (self.ok_now if mine else self.ok).add(digest)
        else:
            self.failed[digest] = (sent, record.get("retry_with") == "new-key", mine)


def load(
    path: Path, workflow_id: int, key_scheme: str, batch_id: str | None
) -> tuple[dict[str, Any] | None, JournalState, int]:
    """The header (None for a new journal), the state, and the bytes of a torn last line.

    A torn last line is cut off the file here, under the lock, before anything appends.
    """
    state = JournalState()
    header: dict[str, Any] | None = None
    length = dropped = 0
    with path.open("ab+") as file:
        file.seek(0)
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                dropped = len(line)  # torn by a kill mid-write: never acknowledged
                break
            record = parse_line(path, number, line)
            if number == 1:
                header = check_header(path, number, record)
                check_same_batch(path, header, workflow_id, key_scheme, batch_id)
            else:
                state.apply(check_event(path, number, record))
            length += len(line)
    if dropped:
        os.truncate(path, length)
    return header, state, dropped
