"""Reading responses: ``(status, headers, body)`` -> decoded JSON or the right error leaf.

No I/O here. The transport hands over the bytes exactly as received; this module undoes
the content encoding (with a size cap), parses JSON, and decides what an error status
means. Zuora's error bodies come in several shapes (``{"errors": [{title}]}`` on
/workflows, ``{"message"}`` on 401, ``{"code", "message"}`` on 403, opaque text or HTML from
gateways), so every reader here accepts any of them and never raises on a strange body.

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
import re
import zlib
from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from zuora_wf_async._core.compression import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodyTooLargeError,
    decode_body,
)
from zuora_wf_async._core.ratelimit import parse_rate_limit, parse_retry_after
from zuora_wf_async._core.redact import excerpt, scrub_headers
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._errors import (
    BadRequestError,
    CalloutNotEnabledError,
    ConflictError,
    ForbiddenError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    MissingParametersError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UnauthorizedError,
    WorkflowIdIsRunError,
    WorkflowValidationError,
    ZuoraAPIError,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "RawResponse",
    "api_error",
    "is_run_record",
    "read_json",
    "read_run",
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


def _loads_lenient(raw: RawResponse, max_bytes: int) -> tuple[Any, str]:
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
        # The whole text: excerpt scrubs it before cutting (see _loads_lenient).
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


def is_run_record(body: object) -> bool:
    """True for a body shaped like a workflow run (the 200 or the 409 replay of one)."""
    return (
        isinstance(body, Mapping)
        and "errors" not in body
        and isinstance(body.get("id"), int | str)
        and ("name" in body or "status" in body or "originalWorkflowId" in body)
    )


def _messages(body: object, text: str) -> list[str]:
    if isinstance(body, Mapping):
        found: list[str] = []
        for key in ("errors", "Errors", "reasons"):
            items = body.get(key)
            if isinstance(items, list):
                for item in items:
                    # Objects ({"title"} or {"message"}) and bare strings alike: Zuora's
                    # DELETE and PATCH 404s say {"errors": ["Invalid ID / ..."]}.
                    if isinstance(item, Mapping):
                        message = item.get("title") or item.get("message")
                    else:
                        message = item if isinstance(item, str) else None
                    if isinstance(message, str | int | float):
                        found.append(excerpt(str(message)))
        found.extend(
            excerpt(body[key])
            for key in ("message", "error", "error_description", "title")
            if isinstance(body.get(key), str)
        )
        # A JSON body without a message is not quoted: it may echo parameter values.
        return [message for message in found if message]
    snippet = excerpt(text)
    return [snippet] if snippet else []


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"


def _is_workflow_update(request: PreparedRequest) -> bool:
    # PATCH /workflows/{workflow_id} is the only PATCH of the Workflow API.
    return request.method == "PATCH" and request.path.startswith("/workflows/")


def _is_validation_answer(body: object, request: PreparedRequest) -> bool:
    """PATCH's 422 is a validation failure in its documented shape (``{"reasons": [...],
    "success": false}``, either part), or when the request carried no Idempotency-Key
    that could have been reused."""
    if not request.idempotency_key:
        return True
    return isinstance(body, Mapping) and (
        isinstance(body.get("reasons"), list) or body.get("success") is False
    )


def _validation_error(body: object, common: dict[str, Any]) -> WorkflowValidationError:
    """PATCH's 422 ``{"reasons": [{"fieldName", "title"}], "success": false}``.

    The same status answers a reused Idempotency-Key elsewhere; on PATCH it is read by the
    body's shape (see ``_is_validation_answer``), never by a word in its text.
    """
    items = body.get("reasons") if isinstance(body, Mapping) else None
    reasons = [
        (excerpt(str(item.get("fieldName") or "?")), excerpt(str(item.get("title") or "")))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, Mapping)
    ]
    parts = [f"{field}: {title}" if title else field for field, title in reasons]
    said = parts or common["messages"]
    context = [
        f"{name}: {value}"
        for name, value in (
            ("Zuora-Request-Id", common["request_id"]),
            ("Idempotency-Key", common["idempotency_key"]),
        )
        if value
    ]
    message = (
        f"Zuora refused the update ({common['method']} {common['path']}, 422): "
        f"{'; '.join(said) or 'no reason given'}" + (f" [{', '.join(context)}]" if context else "")
    )
    return WorkflowValidationError(message, reasons=reasons, **{**common, "messages": said})


# Zuora's documented answer to a run id passed where a workflow id belongs (the official
# example of POST /workflows/{workflow_id}/run's 409): "Workflow WF-396-00000002 with Id
# 399 is an instance/run.", where 399 is the id the request put in its path.
_INSTANCE_TITLE = re.compile(r"Workflow \S{1,100} with Id (\d{1,20}) is an instance/run\.?")
_WORKFLOW_ID_IN_PATH = re.compile(r"/workflows/(\d{1,20})(?:/|\Z)")


def _names_the_path_id_as_a_run(body: object, request: PreparedRequest) -> bool:
    """True when an ``errors`` entry reads, whole, as Zuora's documented "with Id <id> is an
    instance/run." and names the workflow id in the request's path.

    Nothing looser: a 409 that merely mentions an instance ("already being processed by
    another instance; retry later") is no statement about the id, and reading it as one
    turned a same-key-in-progress answer into a final error, after which a batch resent the
    row under a new key and started it twice.
    """
    in_path = _WORKFLOW_ID_IN_PATH.match(request.path)
    items = body.get("errors") if isinstance(body, Mapping) else None
    if in_path is None or not isinstance(items, list):
        return False
    for item in items:
        title = item.get("title") if isinstance(item, Mapping) else item
        named = _INSTANCE_TITLE.fullmatch(title.strip()) if isinstance(title, str) else None
        if named is not None and int(named.group(1)) == int(in_path.group(1)):
            return True
    return False


def api_error(
    raw: RawResponse,
    request: PreparedRequest,
    *,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    now: datetime | None = None,
) -> ZuoraAPIError:
    """The error leaf for a non-2xx response to ``request``.

    Rules read documented facts (a status, a header, a body's documented shape or Zuora's
    exact wording), never a loose word in free text. Where the facts are thin we lean
    towards the outcome that cannot duplicate a run: a 409 to a request that carried an
    Idempotency-Key is "same key in progress" (resent under that same key, so safe
    whatever it meant) unless it is Zuora's documented "that id is a run" answer.
    """
    body, text = _loads_lenient(raw, max_bytes)
    messages = _messages(body, text)
    status = raw.status
    lowered = " ".join(messages).lower()
    detail = excerpt("; ".join(messages)) if messages else "no message"
    request_id = raw.request_id
    # What support will ask for; a part the exchange did not have is left out.
    context = [
        f"{name}: {value}"
        for name, value in (
            ("Zuora-Request-Id", request_id),
            ("Idempotency-Key", request.idempotency_key),
        )
        if value
    ]
    message = (
        f"Zuora answered {status} {_reason(status)} to {request.method} {request.path}: "
        f"{detail}" + (f" [{', '.join(context)}]" if context else "")
    )
    common: dict[str, Any] = {
        "status": status,
        "method": request.method,
        "path": request.path,
        "request_id": request_id,
        "track_id": raw.track_id or request.track_id,
        "idempotency_key": request.idempotency_key,
        "messages": messages,
        "body": body,
        "headers": raw.headers,
    }
    if status == 429:
        rate_limit = parse_rate_limit(raw.headers)
        retry_after = parse_retry_after(raw.headers, now=now)
        if retry_after is None and rate_limit is not None:
            retry_after = rate_limit.reset
        return RateLimitError(message, retry_after=retry_after, rate_limit=rate_limit, **common)
    if status == 406:
        parameters = body.get("parameters") if isinstance(body, Mapping) else None
        return MissingParametersError(message, parameters=parameters, **common)
    if status == 409:
        if _names_the_path_id_as_a_run(body, request):
            return WorkflowIdIsRunError(message, **common)
        if request.idempotency_key:
            return IdempotencyInProgressError(message, **common)
        return ConflictError(message, **common)
    if status == 422 and _is_workflow_update(request) and _is_validation_answer(body, request):
        return _validation_error(body, common)
    leaf: type[ZuoraAPIError]
    if status == 400:
        leaf = CalloutNotEnabledError if "callout" in lowered else BadRequestError
    elif 500 <= status <= 599:  # a "999" from a broken proxy is no server error we know
        leaf = ServerError
    else:
        leaf = {
            401: UnauthorizedError,
            403: ForbiddenError,
            404: NotFoundError,
            422: IdempotencyKeyReusedError,
        }.get(status, ZuoraAPIError)
    return leaf(message, **common)


def read_run(
    raw: RawResponse,
    request: PreparedRequest,
    *,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    now: datetime | None = None,
) -> tuple[Mapping[str, Any], bool]:
    """The run record of a ``POST .../run`` response and whether it was a 409 replay.

    Zuora's guides disagree on how a repeated Idempotency-Key is answered: the stored 200
    as is, or a 409 whose body is the stored run. Both mean "this run already exists", so
    both return the run.
    """
    if 200 <= raw.status < 300:
        body = read_json(raw, max_bytes=max_bytes)
        if not isinstance(body, dict):  # json.loads makes every object a dict
            raise ResponseDecodeError(
                f"expected a JSON object for the run, got {type(body).__name__}",
                status=raw.status,
            )
        return body, False
    if raw.status == 409:
        body, _ = _loads_lenient(raw, max_bytes)
        if is_run_record(body):
            return body, True
    raise api_error(raw, request, max_bytes=max_bytes, now=now)
