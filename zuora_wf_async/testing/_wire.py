"""Bytes in, bytes out: body decoding, response encoding and Zuora's body shapes.

Everything here is pure so the HTTP adapter stays a thin shell. A handler produces a
:class:`Reply` (status, extra headers, uncompressed body); :func:`encode` applies the
response-side rules every Zuora answer follows, such as gzip above 1000 bytes.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl

import attrs

__all__ = [
    "DROP",
    "GZIP_THRESHOLD",
    "BodyError",
    "Drop",
    "Reply",
    "decode_for_record",
    "encode",
    "errors_body",
    "format_timestamp",
    "gunzip",
    "is_form",
    "json_reply",
    "parse_json_object",
    "text_reply",
]

# Zuora compresses only bodies "over 1000 bytes" when the caller accepts gzip.
GZIP_THRESHOLD: Final = 1000
JSON_TYPE: Final = "application/json"
FORM_TYPE: Final = "application/x-www-form-urlencoded"


class BodyError(ValueError):
    """The request body could not be decoded; the message is the 400 title sent back."""


@attrs.frozen
class Reply:
    """An answer before encoding: the body is uncompressed, headers are endpoint-specific."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    def with_status(self, status: int) -> Reply:
        return attrs.evolve(self, status=status)


@attrs.frozen
class Drop:
    """Close the connection without answering (a response lost after the work was done)."""


DROP: Final = Drop()


# One encoder for every answer: json.dumps with separators builds a new one per call.
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))


def json_reply(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, _COMPACT.encode(body).encode(), JSON_TYPE, headers)


def text_reply(status: int, text: str, content_type: str = "text/html") -> Reply:
    return Reply(status, text.encode(), content_type)


def errors_body(status: int, title: str, code: str = "invalid") -> dict[str, Any]:
    """The ``{"errors": [{code, status, title}]}`` shape of the /workflows endpoints."""
    return {"errors": [{"code": code, "status": status, "title": title}]}


def format_timestamp(moment: datetime) -> str:
    """Zuora's run timestamps: ``YYYY-MM-DD HH:MM:SS UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def gunzip(raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise BodyError("The request body is not valid gzip data.") from exc


def _is_gzip(content_encoding: str | None) -> bool:
    return content_encoding is not None and content_encoding.strip().lower() == "gzip"


def parse_json_object(raw: bytes, content_encoding: str | None) -> dict[str, Any]:
    """A run body: optional gzip, then a JSON object; absent or empty means ``{}``."""
    data = gunzip(raw) if _is_gzip(content_encoding) else raw
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError("The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise BodyError("The request body must be a JSON object of workflow parameters.")
    return value


def is_form(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip().lower() == FORM_TYPE


def decode_for_record(raw: bytes, content_encoding: str | None, content_type: str | None) -> Any:
    """Best-effort decoding for :class:`RecordedRequest.body`; never raises."""
    try:
        data = gunzip(raw) if _is_gzip(content_encoding) else raw
        if not data:
            return None
        if is_form(content_type):
            return dict(parse_qsl(data.decode(), keep_blank_values=True))
        return json.loads(data)
    except (BodyError, UnicodeDecodeError, ValueError):
        return None


def encode(
    reply: Reply, accept_encoding: str | None, common: Mapping[str, str]
) -> tuple[dict[str, str], bytes]:
    """Final headers and wire bytes: common headers added, gzip applied when Zuora would."""
    headers = dict(common)
    headers.update(reply.headers)
    headers["Content-Type"] = (
        f"{reply.content_type}; charset=utf-8"
        if reply.content_type.startswith(("application/json", "text/"))
        else reply.content_type
    )
    body = reply.body
    if len(body) > GZIP_THRESHOLD and _accepts_gzip(accept_encoding):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return headers, body


def _accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False
