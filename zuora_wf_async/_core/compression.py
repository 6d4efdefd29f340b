"""Gzip for request bodies, and the cap on a response body (``responses.read_body``)."""

from __future__ import annotations

import gzip

# Workflow responses are a few hundred bytes; even a task page is tens of KiB. 16 MiB is far
# above anything legitimate and far below what would hurt a service.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

# Level 6 (zlib's default) costs ~3x level 1 for a few percent smaller JSON; request bodies
# are compressed once and sent immediately, so the fast level wins.
_LEVEL = 1


def compress(body: bytes) -> bytes:
    """Gzip ``body``; ``mtime=0`` makes the bytes repeatable for the same input."""
    return gzip.compress(body, compresslevel=_LEVEL, mtime=0)
