"""What a journal says so far, per key: loaded from its file, then kept up to date."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import attrs

from zuora_wf_async._batch.journal_lines import (
    check_event,
    check_header,
    check_same_batch,
    parse_line,
)

__all__ = ["JournalState", "Plan", "key_digest", "load"]


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
