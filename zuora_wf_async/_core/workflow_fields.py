"""The caller's fields that every Workflow operation shares, checked, and the request
they all start from.

The definition, version and task request builders (``definition_requests``,
``version_requests``, ``task_requests``) build on these. Choices where Zuora's official
OpenAPI document leaves room:

* ids are positive integers everywhere, also where a path parameter is typed ``string``
  (``GET/PATCH/DELETE /workflows/{workflow_id}``, ``/workflows/tasks/{task_id}``): every id
  Zuora shows is a number, and refusing ``"abc"`` here saves a 404 there;
* the optional headers (``Zuora-Entity-Ids`` with *one* id, ``Zuora-Org-Ids``,
  ``Zuora-Track-Id``) are sent on every operation, as the gateway reads them everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from zuora_wf_async._core.bodies import encodable_text, encode_json, raised_reading, shown_value
from zuora_wf_async._core.prepared_request import JSON_CONTENT_TYPE, PreparedRequest, prepare_get
from zuora_wf_async._core.requests import exact_str, validate_id, validate_idempotency_key
from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "bool_text",
    "checked_text",
    "read_mapping",
    "single_entity_id",
    "validate_id",
    "version_text",
    "with_body",
    "workflow_request",
]

_VERSION_HINT: Final = "pass a version number such as '0.0.2'"


def read_mapping(value: Mapping[Any, Any], field: str) -> dict[Any, Any]:
    """A caller's mapping as a plain dict, or ``InvalidRequestError`` if reading it raises."""
    try:
        return dict(value.items())
    except Exception as exc:  # noqa: BLE001 -- the caller's mapping runs its own code
        fix = "pass a plain dict (this mapping raised when its items were read)"
        raise InvalidRequestError(field, raised_reading(exc), fix) from None


def single_entity_id(entity_ids: str | None) -> str | None:
    """The ``Zuora-Entity-Ids`` value of a Workflow operation: one id at most."""
    if entity_ids is not None and "," in entity_ids:
        raise InvalidRequestError(
            "entity_ids",
            "Workflow operations take one entity id (Zuora-Entity-Ids, single)",
            "create the client with entity_ids=[the one entity to act in]",
        )
    return entity_ids


def version_text(value: object, field: str = "version") -> str:
    if isinstance(value, str):
        text = str.__str__(value).strip()
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9:
        text = str(int.__int__(value))
    else:
        text = ""
    if not text:
        shown = shown_value(value)
        raise InvalidRequestError(field, f"expected a version string, got {shown}", _VERSION_HINT)
    if not text.isascii() or not text.isprintable() or len(text) > 64:
        raise InvalidRequestError(
            field, "must be printable ASCII, 64 characters at most", _VERSION_HINT
        )
    return text


def bool_text(value: object, field: str) -> str:
    if not isinstance(value, bool):
        shown = shown_value(value)
        raise InvalidRequestError(field, f"expected a bool, got {shown}", "pass True or False")
    return "true" if value else "false"


def checked_text(value: object, field: str, fix: str, *, allow_blank: bool = False) -> str:
    """Caller text as the plain ``str`` of its characters, valid UTF-8."""
    text = exact_str(value)
    if not isinstance(text, str) or (not allow_blank and not text.strip()):
        kind = "a string" if allow_blank else "a non-empty string"
        raise InvalidRequestError(field, f"expected {kind}, got {shown_value(value)}", fix)
    if not encodable_text(text):
        raise InvalidRequestError(
            field,
            "contains a lone surrogate (not valid UTF-8)",
            "replace it with valid text (it comes from decoding bytes with "
            "errors='surrogateescape' or from a broken JSON escape)",
        )
    return text


def workflow_request(
    template: str,
    args: Sequence[int] = (),
    *,
    base_url: str,
    query: Sequence[tuple[str, str]] = (),
    method: str = "GET",
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
) -> PreparedRequest:
    """A Workflow operation's request (``prepare_get``): one entity id at most."""
    return prepare_get(
        base_url=base_url,
        path_template=template,
        path_args=args,
        query=query,
        method=method,
        track_id=track_id,
        entity_ids=single_entity_id(entity_ids),
        org_ids=org_ids,
    )


def with_body(
    request: PreparedRequest,
    body: Mapping[str, Any] | None,
    idempotency_key: str | None,
    field: str = "body",
) -> PreparedRequest:
    """``request`` with a JSON body and, for POST/PATCH, its Idempotency-Key."""
    headers = dict(request.headers)
    encoded: bytes | None = None
    if body is not None:
        # The one validated encoder (as for a run's parameters): NaN, a lone surrogate, a
        # date, a cycle, 10,000 levels or a key that is no string are refused, named.
        encoded = encode_json(
            body,
            field,
            too_large_fix="split the update, or remove large data from the workflow",
        )
        headers["Content-Type"] = JSON_CONTENT_TYPE
    if idempotency_key is not None:
        headers["Idempotency-Key"] = validate_idempotency_key(idempotency_key)
    return attrs.evolve(request, headers=headers, body=encoded, idempotency_key=idempotency_key)
