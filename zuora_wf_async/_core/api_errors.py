"""What a non-2xx answer means: ``(status, headers, body)`` and the request -> the right
error leaf; and the run POST's answer, where a 409 can be a replay of the run, not an error.

No I/O here. The body is read through ``responses.read_body``, which never raises: Zuora's
error bodies come in several shapes (``{"errors": [{title}]}`` on /workflows,
``{"message"}`` on 401, ``{"code", "message"}`` on 403, opaque text or HTML from gateways)
and any of them is read. Whatever a message quotes from a body goes through
``redact.excerpt``: scrubbed first, then cut short.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.ratelimit import parse_rate_limit, parse_retry_after
from zuora_wf_async._core.redact import excerpt
from zuora_wf_async._core.responses import MAX_ID_CHARS, RawResponse, read_body, read_json
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


def is_run_record(body: object) -> bool:
    """True for a body shaped like a workflow run (the 200 or the 409 replay of one)."""
    return (
        isinstance(body, Mapping)
        and "errors" not in body
        and isinstance(body.get("id"), int | str)
        and ("name" in body or "status" in body or "originalWorkflowId" in body)
    )


_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_LEAVES: dict[int, type[ZuoraAPIError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    406: MissingParametersError,
    409: ConflictError,
    422: IdempotencyKeyReusedError,
    429: RateLimitError,
}
# Zuora's documented answer to a run id passed where a workflow id belongs (the official
# example of POST /workflows/{workflow_id}/run's 409): "Workflow WF-396-00000002 with Id
# 399 is an instance/run.", where 399 is the id the request put in its path.
_INSTANCE_TITLE = re.compile(r"Workflow \S{1,100} with Id (\d{1,20}) is an instance/run\.?")
_WORKFLOW_ID_IN_PATH = re.compile(r"/workflows/(\d{1,20})(?:/|\Z)")


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
    body, data, why = read_body(raw, max_bytes)
    messages = _messages(body, data, why)
    # What support will ask for; a part the exchange did not have is left out.
    request_id = raw.headers.get("Zuora-Request-Id")
    request_id = None if request_id is None else excerpt(request_id, MAX_ID_CHARS)
    track_id = raw.headers.get("Zuora-Track-Id")
    track_id = request.track_id if track_id is None else excerpt(track_id, MAX_ID_CHARS)
    context = []
    if request_id:
        context.append(f"Zuora-Request-Id: {request_id}")
    if request.idempotency_key:
        context.append(f"Idempotency-Key: {request.idempotency_key}")
    support = f" [{', '.join(context)}]" if context else ""
    status = raw.status
    leaf = _LEAVES.get(status, ServerError if 500 <= status <= 599 else ZuoraAPIError)
    detail = excerpt("; ".join(messages)) if messages else "no message"
    message = f"{_PHRASES.get(status, 'Unknown Status')} to {request.method} {request.path}"
    message = f"Zuora answered {status} {message}: {detail}{support}"
    extra: dict[str, Any] = {}
    if status == 429:
        info = parse_rate_limit(raw.headers)
        retry_after = parse_retry_after(raw.headers, now=now)
        if retry_after is None and info is not None:
            retry_after = info.reset
        extra = {"retry_after": retry_after, "rate_limit": info}
    elif status == 406:
        extra = {"parameters": body.get("parameters") if isinstance(body, Mapping) else None}
    elif status == 409 and _names_the_path_id_as_a_run(body, request):
        leaf = WorkflowIdIsRunError
    elif status == 409 and request.idempotency_key:
        leaf = IdempotencyInProgressError
    elif status == 422 and (reasons := _refused_fields(body, request)) is not None:
        if reasons:
            messages = [f"{field}: {title}" if title else field for field, title in reasons]
        detail = "; ".join(messages) or "no reason given"
        message = f"Zuora refused the update ({request.method} {request.path}, 422): {detail}"
        message += support
        leaf, extra = WorkflowValidationError, {"reasons": reasons}
    elif status == 400 and "callout" in " ".join(messages).lower():
        leaf = CalloutNotEnabledError
    return leaf(
        message,
        status=status,
        method=request.method,
        path=request.path,
        request_id=request_id,
        track_id=track_id,
        idempotency_key=request.idempotency_key,
        messages=messages,
        body=body,
        headers=raw.headers,
        **extra,
    )


def _messages(body: Any, data: bytes | None, why: str) -> list[str]:
    """What an error body says, each message scrubbed and cut (``excerpt``)."""
    if isinstance(body, Mapping):
        # Objects ({"title"} or {"message"}) and bare strings alike: Zuora's DELETE and
        # PATCH 404s say {"errors": ["Invalid ID / ..."]}. A JSON body without a message
        # is not quoted: it may echo parameter values.
        said = []
        for key in ("errors", "Errors", "reasons"):
            items = body.get(key)
            for item in items if isinstance(items, list) else ():
                found = item
                if isinstance(item, Mapping):
                    found = item.get("title") or item.get("message")
                    found = str(found) if isinstance(found, int | float) else found
                if isinstance(found, str):
                    said.append(found)
        for key in ("message", "error", "error_description", "title"):
            if isinstance(body.get(key), str):
                said.append(body[key])  # noqa: PERF401 -- read as the loop above
    elif data is None or why.startswith("JSON nested"):  # not worth quoting: say why
        said = [f"unreadable body ({why})"]
    else:
        said = [data.decode("utf-8", errors="replace")]
    messages = []
    for text in said:
        quoted = excerpt(text)
        if quoted:
            messages.append(quoted)
    return messages


def _refused_fields(body: object, request: PreparedRequest) -> list[tuple[str, str]] | None:
    """The ``(fieldName, title)`` pairs of a 422 that refuses an update's fields, else None.

    Only PATCH /workflows/{id} (the Workflow API's only PATCH) is refused so, in the
    documented shape (``{"reasons": [...], "success": false}``, either part) or whatever it
    says when the request carried no Idempotency-Key that could have been reused. Read by
    the body's shape, never by a word in its text.
    """
    if request.method != "PATCH" or not request.path.startswith("/workflows/"):
        return None
    items = body.get("reasons") if isinstance(body, Mapping) else None
    documented = isinstance(items, list) or (
        isinstance(body, Mapping) and body.get("success") is False
    )
    if request.idempotency_key and not documented:
        return None
    return [
        (excerpt(str(item.get("fieldName") or "?")), excerpt(str(item.get("title") or "")))
        for item in (items if isinstance(items, list) else ())
        if isinstance(item, Mapping)
    ]


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
        body, _, _ = read_body(raw, max_bytes)
        if is_run_record(body):
            return body, True
    raise api_error(raw, request, max_bytes=max_bytes, now=now)
