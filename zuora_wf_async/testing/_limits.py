"""Header limits Zuora documents, enforced so a client's own checks can be tested.

``Idempotency-Key``: at most 255 characters. ``Zuora-Track-Id``: at most 64 US-ASCII
characters, none of ``: ; " '``. What Zuora answers when they are broken is not documented;
the fake answers 400 in the ``errors`` shape.
"""

from __future__ import annotations

from typing import Final

from ._records import Headers
from ._wire import Reply, errors_body, json_reply

__all__ = ["MAX_IDEMPOTENCY_KEY", "MAX_TRACK_ID", "invalid_headers"]

MAX_IDEMPOTENCY_KEY: Final = 255
MAX_TRACK_ID: Final = 64
_TRACK_ID_FORBIDDEN: Final = frozenset(":;\"'")


def invalid_headers(headers: Headers) -> Reply | None:
    """Zuora documents these limits; the fake enforces them so a client's checks are tested."""
    key = headers.get("Idempotency-Key")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        title = f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters."
        return json_reply(400, errors_body(400, title))
    track = headers.get("Zuora-Track-Id")
    if track is not None and (
        len(track) > MAX_TRACK_ID
        or not track.isascii()
        or any(char in _TRACK_ID_FORBIDDEN for char in track)
    ):
        title = (
            f"Zuora-Track-Id must be at most {MAX_TRACK_ID} US-ASCII characters "
            "without : ; \" or '."
        )
        return json_reply(400, errors_body(400, title))
    return None
