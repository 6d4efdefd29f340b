"""The batch journal: which row was sent under which key, and what came of it.

A JSON Lines file. The first line is the header, every other line one event::

    {"journal": "zuora-wf/1", "workflow_id": 396, "input": "items.jsonl",
     "input_sha256": "...", "batch_id": null, "tool": "zuora-wf 0.1.0", "at": "..."}
    {"row": 1, "key": "...", "event": "started", "at": "..."}
    {"row": 1, "key": "...", "event": "ok", "run_id": 10000, "run_name": "WF-396-00000001",
     "status": "Queued", "attempts": 1, "elapsed": 0.041, "at": "..."}
    {"row": 2, "key": "...", "event": "failed", "error": "MissingParametersError",
     "status": 406, "message": "...", "request_id": "...", "attempts": 1, ...}
    {"row": 1, "key": "...", "event": "settled", "run_id": 10000, "status": "Finished",
     "succeeded": true, "at": "..."}

``started`` is written *before* the request goes out, so a row that was in flight when the
process died is known, with its key. Each line is flushed to the operating system as it is
written: a ``kill -9`` loses nothing already written. Lines are not fsynced one by one (that
would cap a batch at a few hundred rows a second on most disks); the file is fsynced when
the batch ends. A power cut can therefore lose the last lines, which costs no safety: keys
are derived from the row, so a row whose ``started`` line was lost is re-sent under the very
key it had, and Zuora answers with the run it already created.

The last event of a row decides what a re-run does with it: ``ok`` and ``failed`` are final
(``--retry-failed`` re-sends failed rows), ``started`` alone means in flight: re-send with
the recorded key. A ``failed`` line says ``"retry_with": "same-key"`` when the outcome is
unknown (no answer, 5xx, 429: the run may exist) and ``"new-key"`` when Zuora refused the
request (a 4xx it stores under the key and would replay). A torn last line (the process
died mid-write) is dropped on reopening.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import attrs

from zuora_wf_async import derive_key

from ._config import UsageError

__all__ = ["FORMAT", "Header", "Journal", "JournalState", "now"]

FORMAT = "zuora-wf/1"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.frozen(kw_only=True)
class Header:
    workflow_id: int
    input: str
    input_sha256: str
    batch_id: str | None
    tool: str


@attrs.define
class JournalState:
    """Per row, what the journal says so far. Holds ints for final rows, keys for the rest."""

    ok: dict[int, int] = attrs.field(factory=dict)  # row -> run id
    # row -> (key, whether a retry needs a new key); the key is None for a bad row.
    failed: dict[int, tuple[str | None, bool]] = attrs.field(factory=dict)
    in_flight: dict[int, tuple[str, str]] = attrs.field(factory=dict)  # row -> (key, at)
    settled: dict[int, bool] = attrs.field(factory=dict)  # row -> succeeded

    def apply(self, event: dict[str, Any]) -> None:
        row, kind = event["row"], event["event"]
        if kind == "started":
            self.failed.pop(row, None)
            self.in_flight[row] = (event["key"], event.get("at", ""))
        elif kind == "ok":
            self.in_flight.pop(row, None)
            self.ok[row] = event["run_id"]
        elif kind == "failed":
            self.in_flight.pop(row, None)
            self.failed[row] = (event.get("key"), event.get("retry_with") == "new-key")
        elif kind == "settled":
            self.settled[row] = bool(event["succeeded"])

    def key_for(self, row: int) -> str | None:
        """The key to send this row with again, if it was sent before.

        A row in flight, or one that failed with its outcome unknown (no answer, a 5xx, a
        429), keeps its key: Zuora may have run it, and the key makes the resend return
        that run. A row Zuora definitely refused (a 4xx it stores under the key, and would
        replay for 24 hours) gets a new key, derived from the old one so that a crash
        during the retry resends the same new key.
        """
        if row in self.in_flight:
            return self.in_flight[row][0]
        key, new_key = self.failed.get(row, (None, False))
        if key is not None and new_key:
            return derive_key("zuora-wf retry", key)
        return key


def _check_header(path: Path, found: dict[str, Any], wanted: Header) -> None:
    if found.get("journal") != FORMAT:
        raise UsageError(f"{path} is not a zuora-wf journal; pass a new file to --journal")
    if found.get("workflow_id") != wanted.workflow_id:
        raise UsageError(
            f"{path} is the journal of workflow {found.get('workflow_id')}, not "
            f"{wanted.workflow_id}; pass a new file to --journal"
        )
    if found.get("input_sha256") != wanted.input_sha256:
        raise UsageError(
            f"{path} was written for a different input ({found.get('input')}); "
            f"{wanted.input} has changed since, so its row numbers may name other rows: "
            "resume with the original file or pass a new --journal"
        )
    if found.get("batch_id") != wanted.batch_id:
        raise UsageError(
            f"{path} was written with --batch-id {found.get('batch_id')!r}, not "
            f"{wanted.batch_id!r}; use the same batch id or a new --journal"
        )


def _load(path: Path, wanted: Header) -> tuple[JournalState, int]:
    """The state the journal records, and the byte length of its complete lines."""
    state = JournalState()
    good_length = 0
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                break  # torn by a crash mid-write: never acknowledged, dropped
            try:
                record = json.loads(line)
            except ValueError:
                raise UsageError(
                    f"{path}: line {number} is not JSON; was the journal edited? "
                    "pass a new file to --journal"
                ) from None
            if number == 1:
                _check_header(path, record, wanted)
            elif isinstance(record, dict) and "row" in record and "event" in record:
                state.apply(record)
            else:
                raise UsageError(f"{path}: line {number} is not a journal event")
            good_length += len(line)
    if good_length == 0:
        raise UsageError(f"{path} has no header line; pass a new file to --journal")
    return state, good_length


class Journal:
    """An open journal, appending one flushed line per event."""

    def __init__(
        self, file: IO[str], *, on_record: Callable[[dict[str, Any]], object] | None = None
    ) -> None:
        self._file = file
        self._on_record = on_record

    @classmethod
    def open(
        cls,
        path: Path,
        header: Header,
        *,
        on_record: Callable[[dict[str, Any]], object] | None = None,
    ) -> tuple[Journal, JournalState, bool]:
        """Open ``path`` to append; returns the journal, its state and whether it resumed."""
        try:
            exists = path.exists() and path.stat().st_size > 0
            if exists:
                state, length = _load(path, header)
                with path.open("rb+") as raw:
                    raw.truncate(length)
                file = path.open("a", encoding="utf-8")
            else:
                state = JournalState()
                file = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot open journal {path}: {exc.strerror or exc}") from None
        journal = cls(file, on_record=on_record)
        if not exists:
            journal.write({"journal": FORMAT, **attrs.asdict(header), "at": now()})
        return journal, state, exists

    def event(self, row: int, event: str, **fields: Any) -> None:
        """Append ``{"row", "key", "event", ...fields, "at"}`` (``key`` when given)."""
        key = {"key": fields.pop("key")} if "key" in fields else {}
        self.write({"row": row, **key, "event": event, **fields, "at": now()})

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        if self._on_record is not None:
            self._on_record(record)

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.flush()
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
