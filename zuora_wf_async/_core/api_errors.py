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
from zuora_wf_async._core.responses import RawResponse, read_body, read_json
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

__all__ = ["api_error", "is_run_record", "read_run"]


def is_run_record(body: object) -> bool:
    """True for a body shaped like a workflow run (the 200 or the 409 replay of one)."""
    return (
        isinstance(body, Mapping)
        and "errors" not in body
        and isinstance(body.get("id"), int | str)
        and ("name" in body or "status" in body or "originalWorkflowId" in body)
    )


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _said(raw: RawResponse, max_bytes: int) -> tuple[Any, list[str]]:
    """An error body (None when it is not JSON) and what it says, each message quoted."""
    body, data, why = read_body(raw, max_bytes)
    # Unreadable, or nested too deep to be worth quoting: say so instead of the text.
    if data is None or why.startswith("JSON nested"):
        said = [f"unreadable body ({why})"]
    else:
        said = [data.decode("utf-8", errors="replace")]
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
                said.append(body[key])
    messages: list[str] = []
    for line in said:
        quoted = excerpt(line)
        if quoted:
            messages.append(quoted)
    return body, messages


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
    body, messages = _said(raw, max_bytes)
    status = raw.status
    request_id = raw.quoted_header("Zuora-Request-Id")
    # What support will ask for; a part the exchange did not have is left out.
    context = []
    if request_id:
        context.append(f"Zuora-Request-Id: {request_id}")
    if request.idempotency_key:
        context.append(f"Idempotency-Key: {request.idempotency_key}")
    detail = excerpt("; ".join(messages)) if messages else "no message"
    message = (
        f"Zuora answered {status} {_PHRASES.get(status, 'Unknown Status')} to "
        f"{request.method} {request.path}: {detail}"
        + (f" [{', '.join(context)}]" if context else "")
    )
    common: dict[str, Any] = {
        "status": status,
        "method": request.method,
        "path": request.path,
        "request_id": request_id,
        "track_id": raw.quoted_header("Zuora-Track-Id") or request.track_id,
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
        callout = "callout" in " ".join(messages).lower()
        leaf = CalloutNotEnabledError if callout else BadRequestError
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
        body, _, _ = read_body(raw, max_bytes)
        if is_run_record(body):
            return body, True
    raise api_error(raw, request, max_bytes=max_bytes, now=now)
