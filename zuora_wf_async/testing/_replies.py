"""Canned answers in the shapes Zuora uses, one place for every body the fake invents.

Documented shapes: ``{"errors": [{code, status, title}]}`` for /workflows 400/404/406/409,
``{"code": int, "message": str}`` for 403, ``{"message": str}`` for 401. Statuses whose body
Zuora does not document (429, 5xx, 404 on run) get plausible bodies a client must treat
as opaque: JSON for 500 and 429, an HTML gateway page for 502/503/504.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

from ._tokens import unauthorized
from ._wire import Reply, errors_body, json_reply, text_reply

__all__ = [
    "CODE_PERMISSION_DENIED",
    "forced",
    "in_progress",
    "key_mismatch",
    "not_found",
    "not_found_run",
    "server_error",
    "throttled",
    "too_many_in_flight",
]

# Zuora's 8-digit codes end in a category; 10 is "permission or access denied".
CODE_PERMISSION_DENIED: Final = 50000010


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _custom(status: int, body: Any) -> Reply:
    if isinstance(body, str):
        return text_reply(status, body)
    if isinstance(body, bytes):
        return Reply(status, body, "application/octet-stream")
    return json_reply(status, body)


def server_error(status: int, body: Any = None) -> Reply:
    """A 5xx as a load balancer or the app would send it (body given, or a default)."""
    if body is not None:
        return _custom(status, body)
    if status in {502, 503, 504}:
        phrase = _phrase(status)
        return text_reply(
            status,
            f"<html><head><title>{status} {phrase}</title></head>"
            f"<body><center><h1>{status} {phrase}</h1></center></body></html>\n",
        )
    return json_reply(status, {"message": "An unexpected error occurred."})


def throttled(reset_in: int, retry_after: int | None) -> Reply:
    headers = [("RateLimit-Remaining", "0"), ("RateLimit-Reset", str(reset_in))]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    return json_reply(429, {"message": "API rate limit exceeded"}, tuple(headers))


def too_many_in_flight(limit: int) -> Reply:
    """Over the tenant's concurrency limit: 429 with ``Retry-After`` (body UNCONFIRMED)."""
    message = f"Too many concurrent requests: the tenant's concurrency limit is {limit}."
    return json_reply(429, {"message": message}, (("Retry-After", "1"),))


def not_found_run(run_id: str) -> Reply:
    # The official example for stop's 404; GET's 404 is undocumented and reuses it.
    return json_reply(404, errors_body(404, f"Workflow run '{run_id}' is not found", "Invalid"))


def not_found(allow: tuple[str, ...] = ()) -> Reply:
    """No such route (404), or a known path with the wrong method (405 with ``Allow``)."""
    if allow:
        return json_reply(405, {"message": "Method Not Allowed"}, (("Allow", ", ".join(allow)),))
    return json_reply(404, {"message": "Not Found"})


def in_progress() -> Reply:
    return json_reply(
        409,
        errors_body(409, "A request with this Idempotency-Key is already in progress.", "conflict"),
    )


def key_mismatch() -> Reply:
    return json_reply(422, errors_body(422, "Idempotency-Key reused with a different request."))


def _forbidden(workflow_id: int, params: dict[str, Any]) -> Reply:
    message = "You do not have the Workflow Run Access permission."
    return json_reply(403, {"code": CODE_PERMISSION_DENIED, "message": message})


def _missing_definition(workflow_id: int, params: dict[str, Any]) -> Reply:
    return json_reply(404, errors_body(404, f"Workflow {workflow_id} is not found"))


def _missing_params(workflow_id: int, params: dict[str, Any]) -> Reply:
    title = "The provided body is missing one or more required parameters."
    return json_reply(406, {**errors_body(406, title), "parameters": params})


_FORCED: Final[dict[int, Callable[[int, dict[str, Any]], Reply]]] = {
    401: lambda workflow_id, params: unauthorized(),
    403: _forbidden,
    404: _missing_definition,
    406: _missing_params,
    429: lambda workflow_id, params: throttled(60, None),
}


def forced(status: int, body: Any, workflow_id: int, params: dict[str, Any]) -> Reply:
    """What a workflow configured with ``force_status`` answers (``body`` overrides)."""
    if body is not None:
        return _custom(status, body)
    builder = _FORCED.get(status)
    if builder is not None:
        return builder(workflow_id, params)
    if status >= 500:
        return server_error(status)
    return json_reply(status, errors_body(status, _phrase(status)))
