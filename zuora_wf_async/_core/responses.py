"""Reading answers: ``(status, headers, body)`` -> the ``RawResponse`` and its JSON body.

No I/O here. ``read_body`` reads every body, success or error: the content encoding undone
under a size cap, the JSON parsed, and whatever ``json.loads`` can raise (``RecursionError``
on a body nested 100,000 deep included) turned into one answer, never an exception.
``read_json`` is the success answers' reader on top of it; ``api_errors`` reads error
bodies with it.

``read_answer`` is the one door every answer goes through. Each operation hands the call a
reader (``workflow_readers``, ``read_run`` and the run decoders, the token reader) that
turns a 2xx into a value, and readers refuse the shapes they know with
``ResponseDecodeError``; but a body can make Python itself fail anywhere inside a reader (a
timestamp before 1 AD once its offset is applied: ``OverflowError``; an id of 5,000
digits; a shape nobody expected). The door makes any such failure the documented error, so
no reader can let ``OverflowError`` out of a call whose run Zuora has already created.
What the error implies (``may_have_run``) is the call's to say, from the request.

Secrets: a ``RawResponse`` keeps its headers as received, for the code that reads them
(rate limits, the content encoding). Whatever leaves toward a person is scrubbed on its way
out (``redact``): ``request_id`` (in events, spans and logs), the error constructors
(headers, body, messages), ``excerpt`` for any quote of body text. A success whose headers
nobody shows is never scrubbed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
from multidict import CIMultiDict

from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.redact import excerpt
from zuora_wf_async._errors import ResponseDecodeError, ZuoraError

T = TypeVar("T")

# Zuora's records nest three or four levels; a task's user data a few more. A hundred is
# far beyond anything real and far below where Python's recursion (in json, repr, or a
# caller's code walking the value) would fail.
MAX_JSON_DEPTH = 100
MAX_ID_CHARS = 100  # Zuora's ids are 36 characters; a server can send 8 KB


@attrs.frozen(kw_only=True)
class RawResponse:
    """An answer as the transport received it: the body still content-encoded, the headers
    as sent (one case-insensitive mapping, since HTTP/2 proxies send names in lower case).

    The headers are not scrubbed: read them, never show them. What a person may see goes
    through ``request_id``, ``redact.excerpt`` or an error's constructor.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(converter=CIMultiDict[str], repr=False)
    body: bytes = attrs.field(repr=False)

    @property
    def request_id(self) -> str | None:
        """``Zuora-Request-Id`` as an event, span or log shows it: scrubbed, then cut to at
        most 100 characters; None when absent."""
        value = self.headers.get("Zuora-Request-Id")
        return None if value is None else excerpt(value, MAX_ID_CHARS)


def read_body(raw: RawResponse, max_bytes: int) -> tuple[Any, bytes | None, str]:
    """``(json, body, "")`` for a JSON body, ``(None, body, why)`` for any other.

    ``body`` is the body with its content encoding undone, for a message to quote (None
    when it could not be undone); ``why`` never quotes it, and no exception is kept: json's
    keeps the whole body in its ``doc`` attribute (a token response's body is the token).
    """
    data = raw.body
    coding = (raw.headers.get("Content-Encoding") or "").strip().lower() or "identity"
    unconsumed = b""
    if coding != "identity":
        if coding not in ("gzip", "x-gzip", "deflate"):
            return None, None, f"unsupported Content-Encoding {excerpt(coding, 40)!r}"
        # Inflated step by step, so a gzip bomb stops at the cap instead of filling memory;
        # wbits 47 = 32 (a gzip or zlib header, detected) + 15 (the largest window).
        inflater = zlib.decompressobj(15 if coding == "deflate" else 47)
        try:
            data = inflater.decompress(data, max_bytes + 1)
        except zlib.error as exc:
            return None, None, f"response body is corrupt ({coding}): {exc}"
        unconsumed = inflater.unconsumed_tail
        if not inflater.eof and not unconsumed and len(data) <= max_bytes:
            return None, None, f"response body is truncated ({coding})"
    if len(data) > max_bytes or unconsumed:
        return None, None, f"response body exceeds {max_bytes} bytes"
    nested = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(data)
    except RecursionError:  # the C decoder recurses once per level
        return None, data, nested
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        return None, data, str(exc) if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
    # Counting brackets is C-fast; only a body with enough of them can nest too deep.
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return value, data, ""
    # How deep the containers nest, walked without recursion.
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return None, data, nested
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value, data, ""


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
    value, data, why = read_body(raw, max_bytes)
    if not why:
        return value
    if data is None:  # too large, or its content encoding could not be undone
        raise ResponseDecodeError(why, status=raw.status)
    if allow_empty and not data.strip():
        return None
    if quote_body:  # the whole text: excerpt scrubs it before it cuts
        found = f"got {excerpt(data.decode('utf-8', errors='replace'))!r} ({why})"
    else:
        found = f"got {len(data)} bytes that are not ({why}); not quoted, they may hold a token"
    raise ResponseDecodeError(
        f"expected a JSON body from Zuora (HTTP {raw.status}), {found}", status=raw.status
    )


def read_answer(
    read: Callable[[RawResponse], T],
    raw: RawResponse,
    request: PreparedRequest,
    *,
    quote: bool = True,
) -> T:
    """``read(raw)``, or ``ResponseDecodeError`` for anything but a ``ZuoraError`` it raises.

    ``quote`` False keeps the failure's own text out of the message (the token answer:
    its token is not known, so not scrubbable, until it has been read). The error is
    raised after the ``except`` block so the original exception, which may quote a
    value from the body, is not kept as its ``__context__``.
    """
    try:
        return read(raw)
    except ZuoraError:
        raise  # a reader's own verdict: ResponseDecodeError, or a 409's error leaf
    except Exception as exc:  # noqa: BLE001 -- the door: whatever the body made fail
        problem = type(exc).__name__
        if quote:
            problem += f": {_text_of(exc)}"
    raise ResponseDecodeError(
        f"Zuora's answer to {request.method} {request.path} (HTTP {raw.status}) could not "
        f"be read ({problem})",
        status=raw.status,
    )


def _text_of(exc: Exception) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 -- an exception whose __str__ fails says nothing
        return "no description"
    return excerpt(text, 120) or "no description"
