"""Gzip for request bodies and a size-capped decoder for response bodies."""

from __future__ import annotations

import gzip
import zlib

# Workflow responses are a few hundred bytes; even a task page is tens of KiB. 16 MiB is far
# above anything legitimate and far below what would hurt a service.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

# Level 6 (zlib's default) costs ~3x level 1 for a few percent smaller JSON; request bodies
# are compressed once and sent immediately, so the fast level wins.
_LEVEL = 1


class BodyTooLargeError(ValueError):
    """A response body (after decoding) is larger than the cap."""


def compress(body: bytes) -> bytes:
    """Gzip ``body``; ``mtime=0`` makes the bytes repeatable for the same input."""
    return gzip.compress(body, compresslevel=_LEVEL, mtime=0)


def decode_body(
    body: bytes, content_encoding: str | None, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
) -> bytes:
    """Undo ``Content-Encoding`` on a response body, refusing to inflate past ``max_bytes``.

    Decoding is incremental so a gzip bomb stops at the cap instead of filling memory.
    Raises ``BodyTooLargeError`` past the cap and ``zlib.error``/``EOFError`` on corrupt or
    truncated data.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise BodyTooLargeError(f"response body of {len(body)} bytes exceeds {max_bytes}")
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise zlib.error(f"unsupported Content-Encoding {encoding!r}")
    # wbits 47 = 32 (auto-detect gzip or zlib header) + 15 (max window).
    inflater = zlib.decompressobj(47 if encoding != "deflate" else 15)
    decoded = inflater.decompress(body, max_bytes + 1)
    if len(decoded) > max_bytes or inflater.unconsumed_tail:
        raise BodyTooLargeError(f"decoded response body exceeds {max_bytes} bytes")
    if not inflater.eof:
        raise EOFError("compressed response body is truncated")
    return decoded
