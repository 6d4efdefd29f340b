"""Reading responses: ``(status, headers, body)`` -> the ``RawResponse`` and its JSON body.

No I/O here. The transport hands over the bytes exactly as received; this module undoes
the content encoding (with a size cap) and parses JSON. What an error status means is
decided in ``api_errors``, which reads error bodies through ``read_error_body`` here:
Zuora's error bodies come in several shapes (``{"errors": [{title}]}`` on /workflows,
``{"message"}`` on 401, ``{"code", "message"}`` on 403, opaque text or HTML from
gateways), so that reader accepts any of them and never raises on a strange body.

Every byte of JSON is parsed in one place, ``_parse_json``, which turns whatever
``json.loads`` can raise (``RecursionError`` on a body nested 100,000 deep included) into
one answer, and refuses bodies nested deeper than ``MAX_JSON_DEPTH``.

Secrets: a response's headers (names and values) are scrubbed once, as the ``RawResponse``
is built, so every reader of them (errors, hook events, log extras, span attributes) gets
the scrubbed values. Whatever a message quotes from a body goes through
``redact.excerpt``: scrubbed first, then cut short.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from zuora_wf_async._core.compression import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodyTooLargeError,
    decode_body,
)
from zuora_wf_async._core.redact import excerpt, scrub_headers
from zuora_wf_async._errors import ResponseDecodeError

__all__ = [
    "MAX_JSON_DEPTH",
    "RawResponse",
    "case_insensitive",
    "read_error_body",
    "read_json",
]

# Zuora's records nest three or four levels; a task's user data a few more. A hundred is
# far beyond anything real and far below where Python's recursion (in json, repr, or a
# caller's code walking the value) would fail.
MAX_JSON_DEPTH = 100
_MAX_REQUEST_ID_CHARS = 100


class _NotJsonError(ValueError):
    """A body ``_parse_json`` refuses; the message never quotes the body."""


def case_insensitive(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` as one case-insensitive mapping, built once per response.

    HTTP header names have no case (an HTTP/2 proxy sends them all in lower case), so every
    reader above this point looks them up by their canonical names. aiohttp's headers are
    such a mapping already (kept as they are); anything else is copied into one.
    """
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers
    return CIMultiDictProxy(CIMultiDict(headers))


def _received_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    return scrub_headers(case_insensitive(headers))


@attrs.frozen(kw_only=True)
class RawResponse:
    """A response as the transport received it: body still content-encoded, headers
    already scrubbed of secrets (names and values; see ``redact.scrub_headers``)."""

    status: int
    headers: Mapping[str, str] = attrs.field(converter=_received_headers)
    body: bytes = attrs.field(repr=False)

    @property
    def request_id(self) -> str | None:
        """``Zuora-Request-Id`` as every exit shows it: scrubbed, at most 100 characters."""
        return _short_header(self.headers.get("Zuora-Request-Id"))

    @property
    def track_id(self) -> str | None:
        """``Zuora-Track-Id`` as Zuora echoed it: scrubbed, at most 100 characters."""
        return _short_header(self.headers.get("Zuora-Track-Id"))


def _short_header(value: str | None) -> str | None:
    # Zuora's ids are 36 characters; a server can send 8 KB. Already scrubbed (at
    # construction), so the cut cannot leave a prefix of a secret that was found whole.
    if value is None or (len(value) <= _MAX_REQUEST_ID_CHARS and value.isprintable()):
        return value
    return excerpt(value, _MAX_REQUEST_ID_CHARS)


def _decoded_text(raw: RawResponse, max_bytes: int) -> bytes:
    return decode_body(raw.body, raw.headers.get("Content-Encoding"), max_bytes=max_bytes)


def _depth(value: Any) -> int:
    """How deep containers nest in decoded JSON, walked without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


_DECODER = json.JSONDecoder()


def _loads(data: bytes | str) -> Any:
    """``json.loads(data)``, at half its cost for the common body.

    ``json.loads`` on bytes first guesses their encoding (UTF-8, -16 or -32, with or
    without a byte order mark), then skips whitespace with a regex on both ends. A body
    that starts with ``{`` or ``[`` followed by a non-zero byte can only be UTF-8 (every
    other candidate has a zero byte or a BOM up front) and has no leading whitespace, so
    it is decoded and handed to ``JSONDecoder.raw_decode`` directly. Anything else, and
    anything the short way refuses, takes ``json.loads`` for its exact result or error.
    """
    if type(data) is bytes and data[:1] in (b"{", b"[") and data[1:2] != b"\x00":
        try:
            text = data.decode()
            value, end = _DECODER.raw_decode(text)
        except ValueError:  # invalid UTF-8 or JSON: json.loads says exactly what
            pass
        else:
            if end == len(text) or text[end:].isspace():
                return value
    return json.loads(data)


def _parse_json(data: bytes | str) -> Any:
    """``json.loads(data)``, or ``_NotJsonError`` saying why not, without quoting ``data``.

    The refusal is raised after the ``except`` block, not inside it: ``from None`` only
    hides the context, and json's exception keeps the whole body in its ``doc`` attribute
    (a token response's body is the token), reachable as ``__context__``.
    """
    try:
        value = _loads(data)
    except RecursionError:
        # The C decoder recurses once per level; a body nested 100,000 deep ends here.
        reason = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        reason = str(exc) if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
    else:
        reason = ""
    if reason:
        raise _NotJsonError(reason)
    # Counting brackets is C-fast; only a body with enough of them can nest too deep.
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise _NotJsonError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def read_error_body(raw: RawResponse, max_bytes: int) -> tuple[Any, str]:
    """Best-effort (json, text) of an error body; (None, description) when unreadable."""
    try:
        data = _decoded_text(raw, max_bytes)
    except (BodyTooLargeError, zlib.error, EOFError) as exc:
        return None, f"unreadable body ({exc})"
    # The whole text (within max_bytes): excerpt scrubs before it cuts, and reads only as
    # far as its quote needs. A prefix cut here could split a token and hide it from the
    # scrubber.
    text = data.decode("utf-8", errors="replace")
    try:
        return _parse_json(data), text
    except _NotJsonError as exc:
        if str(exc).startswith("JSON nested"):
            return None, f"unreadable body ({exc})"
        return None, text


def read_json(
    raw: RawResponse,
    *,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    allow_empty: bool = False,
    quote_body: bool = True,
) -> Any:
    """The JSON body of a success response, or ``ResponseDecodeError`` saying what is wrong.

    The error quotes a short, scrubbed excerpt of a body that is not JSON, unless
    ``quote_body`` is False: a token response must quote nothing, since the token in it is
    not known (and so cannot be scrubbed) until the body has been read.
    """
    data = raw.body
    if raw.headers.get("Content-Encoding") is not None or len(data) > max_bytes:
        data = _decoded_or_refused(raw, max_bytes)  # the common body needs neither
    if allow_empty and not data.strip():
        return None
    try:
        return _parse_json(data)
    except _NotJsonError as exc:
        reason = str(exc)
    if quote_body:
        # The whole text: excerpt scrubs it before cutting (see read_error_body).
        found = f"got {excerpt(data.decode('utf-8', errors='replace'))!r} ({reason})"
    else:
        found = f"got {len(data)} bytes that are not ({reason}); not quoted, they may hold a token"
    raise ResponseDecodeError(
        f"expected a JSON body from Zuora (HTTP {raw.status}), {found}", status=raw.status
    )


def _decoded_or_refused(raw: RawResponse, max_bytes: int) -> bytes:
    """The body with its Content-Encoding undone, or ``ResponseDecodeError``."""
    try:
        return _decoded_text(raw, max_bytes)
    except BodyTooLargeError as exc:
        raise ResponseDecodeError(str(exc), status=raw.status) from None
    except (zlib.error, EOFError) as exc:
        raise ResponseDecodeError(
            f"response body is corrupt or truncated "
            f"({excerpt(raw.headers.get('Content-Encoding') or 'identity', 40)}): {exc}",
            status=raw.status,
        ) from None
