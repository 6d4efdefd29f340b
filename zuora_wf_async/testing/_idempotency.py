"""The Idempotency-Key store: one stored answer per key, replayed to every repeat.

Zuora keeps the status, headers and body of the first request made with a key, whether it
succeeded or failed, for 24 hours. A key is global: reusing it for another tenant, method,
path or body is a different request and is refused (422). A repeat arriving while the first
is still being handled gets a 409, since there is nothing to replay yet.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._wire import Reply

__all__ = ["Claimed", "Fingerprint", "IdempotencyStore", "InProgress", "Mismatch", "Replay"]


@attrs.frozen
class Fingerprint:
    """What makes two requests "the same": the body is compared decoded (gzip or not)."""

    tenant: str
    method: str
    path: str
    body: Any


@attrs.frozen
class Claimed:
    """The key is new (or expired): do the work, then :meth:`IdempotencyStore.complete`."""


@attrs.frozen
class Replay:
    reply: Reply


@attrs.frozen
class InProgress:
    """The first request with this key is still being handled."""


@attrs.frozen
class Mismatch:
    """The key was first used for a different tenant, method, path or body."""


@attrs.define
class _Entry:
    fingerprint: Fingerprint
    expires_at: float
    reply: Reply | None = None


@attrs.define
class IdempotencyStore:
    ttl: float
    _entries: dict[str, _Entry] = attrs.field(factory=dict, init=False)

    def begin(
        self, key: str, fingerprint: Fingerprint, now: float
    ) -> Claimed | Replay | InProgress | Mismatch:
        entry = self._entries.get(key)
        if entry is not None and now >= entry.expires_at:
            del self._entries[key]
            entry = None
        if entry is None:
            self._entries[key] = _Entry(fingerprint, now + self.ttl)
            return Claimed()
        if entry.fingerprint != fingerprint:
            return Mismatch()
        if entry.reply is None:
            return InProgress()
        return Replay(entry.reply)

    def complete(self, key: str, reply: Reply) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.reply = reply

    def release(self, key: str) -> None:
        """Forget a claim whose work never happened, so a retry can do it."""
        entry = self._entries.get(key)
        if entry is not None and entry.reply is None:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
