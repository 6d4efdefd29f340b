"""The workflow definition, task, version and usage operations: building their requests.

Each operation is one pure request builder here (caller input -> validated
``PreparedRequest``, raising ``InvalidRequestError`` before anything is sent) and one pure
reader in ``workflow_readers`` (a 2xx ``RawResponse`` -> a record); error statuses are read
by ``responses.api_error`` in the pipeline. The paths, parameter names and types follow
Zuora's official OpenAPI document (version 2026-09-11); tests check every request built
here against it. ``preflight_problem`` is the one decision: can a workflow be run by API.

Choices where the document leaves room:

* ids are positive integers everywhere, also where a path parameter is typed ``string``
  (``GET/PATCH/DELETE /workflows/{workflow_id}``, ``/workflows/tasks/{task_id}``): every id
  Zuora shows is a number, and refusing ``"abc"`` here saves a 404 there;
* the optional headers (``Zuora-Entity-Ids`` with *one* id, ``Zuora-Org-Ids``,
  ``Zuora-Track-Id``) are sent on every operation, as the gateway reads them everywhere;
* a ``next_page`` link is never followed as is: its query is re-issued on the same path
  against the client's ``base_url`` (Zuora builds the link on a canonical host that need
  not be the tenant's, and the request carries the bearer token).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from zuora_wf_async._core.redact import quote
from zuora_wf_async._core.requests import (
    JSON_CONTENT_TYPE,
    MAX_ID,
    MAX_ID_DIGITS,
    PreparedRequest,
    encodable_text,
    encode_json,
    exact_str,
    prepare_get,
    shown_value,
    validate_id_bound,
    validate_idempotency_key,
)
from zuora_wf_async._errors import InvalidRequestError, ResponseDecodeError
from zuora_wf_async._models import TaskStatus
from zuora_wf_async._workflow_models import (
    TaskUpdate,
    Workflow,
    WorkflowExport,
    WorkflowStatus,
)

__all__ = [
    "MAX_TASK_UPDATES",
    "MAX_WORKFLOW_PAGE_LENGTH",
    "WORKFLOW_FILTERS",
    "chunk_task_updates",
    "export_document",
    "preflight_problem",
    "prepare_delete_version",
    "prepare_delete_workflow",
    "prepare_export",
    "prepare_get_task",
    "prepare_get_workflow",
    "prepare_import",
    "prepare_import_version",
    "prepare_list_versions",
    "prepare_list_workflows",
    "prepare_rebased_next_page",
    "prepare_rerun_task",
    "prepare_task_usage",
    "prepare_update_tasks",
    "prepare_update_workflow",
    "rerun_key",
    "single_entity_id",
    "validate_id",
]

# "The maximum value is 50" (GET /workflows, page_length); batch_update: "maximum: 50".
MAX_WORKFLOW_PAGE_LENGTH: Final = 50
MAX_TASK_UPDATES: Final = 50
WORKFLOW_FILTERS: Final = frozenset(
    {"name", "interval", "callout_trigger", "ondemand_trigger", "scheduled_trigger"}
)
_BOOL_FILTERS: Final = frozenset({"callout_trigger", "ondemand_trigger", "scheduled_trigger"})
# The fields of Zuora's UpdateTask schema, the only ones batch_update takes.
UPDATE_TASK_FIELDS: Final = (
    "id",
    "name",
    "status",
    "action_type",
    "call_type",
    "object",
    "object_id",
    "concurrent_limit",
    "tags",
    "workflow_id",
)
MAX_CONCURRENT_LIMIT: Final = 9_999_999
_VERSION_HINT: Final = "pass a version number such as '0.0.2'"


# -- validation ---------------------------------------------------------------------------


def validate_id(value: object, field: str, example: str = "19080") -> int:
    """A positive int id, or the same as a string of digits (``"19080"``), at most
    ``MAX_ID`` (a 5,000-digit string is refused before ``int()`` could fail on it)."""
    given = value
    if isinstance(value, str):
        text = str.__str__(value)
        if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_ID_DIGITS:
            value = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = int.__int__(value)  # a subclass's own __str__ must not reach a path
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(
            field,
            f"expected a positive int or a string of digits, got {shown_value(given)}",
            f"e.g. {example}",
        )
    return validate_id_bound(value, field)


def _read_mapping(value: Mapping[Any, Any], field: str) -> dict[Any, Any]:
    """A caller's mapping as a plain dict, or ``InvalidRequestError`` if reading it raises."""
    try:
        return dict(value.items())
    except Exception as exc:  # noqa: BLE001 -- the caller's mapping runs its own code
        raise InvalidRequestError(
            field,
            f"raised {type(exc).__name__} when read",
            "pass a plain dict (this mapping raised when its items were read)",
        ) from None


def single_entity_id(entity_ids: str | None) -> str | None:
    """The ``Zuora-Entity-Ids`` value of a Workflow operation: one id at most."""
    if entity_ids is not None and "," in entity_ids:
        raise InvalidRequestError(
            "entity_ids",
            "Workflow operations take one entity id (Zuora-Entity-Ids, single)",
            "create the client with entity_ids=[the one entity to act in]",
        )
    return entity_ids


def _version_text(value: object, field: str = "version") -> str:
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


def _bool_text(value: object, field: str) -> str:
    if not isinstance(value, bool):
        shown = shown_value(value)
        raise InvalidRequestError(field, f"expected a bool, got {shown}", "pass True or False")
    return "true" if value else "false"


def _text(value: object, field: str, fix: str, *, allow_blank: bool = False) -> str:
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


# -- requests -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Target:
    """What every builder needs from the client: where to send and the optional headers."""

    base_url: str
    track_id: str | None = None
    entity_ids: str | None = None
    org_ids: str | None = None


def _get(
    target: _Target,
    template: str,
    args: Sequence[int] = (),
    query: Sequence[tuple[str, str]] = (),
    method: str = "GET",
) -> PreparedRequest:
    return prepare_get(
        base_url=target.base_url,
        path_template=template,
        path_args=args,
        query=query,
        method=method,
        track_id=target.track_id,
        entity_ids=single_entity_id(target.entity_ids),
        org_ids=target.org_ids,
    )


def _with_body(
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


def _target(**kwargs: Any) -> _Target:
    return _Target(**kwargs)


def prepare_list_workflows(
    *,
    base_url: str,
    filters: Mapping[str, object] | None = None,
    page: int = 1,
    page_length: int = MAX_WORKFLOW_PAGE_LENGTH,
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
) -> PreparedRequest:
    """``GET /workflows`` with checked filters (``None`` values are left out)."""
    given = {name: value for name, value in (filters or {}).items() if value is not None}
    unknown = sorted(set(given) - WORKFLOW_FILTERS)
    if unknown:
        raise InvalidRequestError(
            unknown[0],
            "is not a filter of GET /workflows",
            f"use one of {', '.join(sorted(WORKFLOW_FILTERS))}",
        )
    query: list[tuple[str, str]] = []
    for name in sorted(given):
        value = given[name]
        if name in _BOOL_FILTERS:
            query.append((name, _bool_text(value, name)))
        else:
            query.append((name, _text(value, name, "pass a non-empty string")))
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_ID:
        raise InvalidRequestError(
            "page", f"must be a positive int, got {shown_value(page)}", "pages start at 1"
        )
    if (
        isinstance(page_length, bool)
        or not isinstance(page_length, int)
        or not 1 <= page_length <= MAX_WORKFLOW_PAGE_LENGTH
    ):
        raise InvalidRequestError(
            "page_length",
            f"is {shown_value(page_length)}; Zuora allows 1 to {MAX_WORKFLOW_PAGE_LENGTH}",
            "pass 50 (fewest requests) or less",
        )
    # The int itself: a subclass of int may lie (or raise) in its own __str__.
    query += [("page", str(int.__int__(page))), ("page_length", str(int.__int__(page_length)))]
    target = _Target(base_url=base_url, track_id=track_id, entity_ids=entity_ids, org_ids=org_ids)
    return _get(target, "/workflows", query=query)


def prepare_get_workflow(*, base_url: str, workflow_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/{workflow_id}``."""
    workflow = validate_id(workflow_id, "workflow_id")
    return _get(_target(base_url=base_url, **headers), "/workflows/{}", (workflow,))


def prepare_delete_workflow(
    *, base_url: str, workflow_id: object, **headers: Any
) -> PreparedRequest:
    """``DELETE /workflows/{workflow_id}``."""
    workflow = validate_id(workflow_id, "workflow_id")
    return _get(
        _target(base_url=base_url, **headers), "/workflows/{}", (workflow,), method="DELETE"
    )


def prepare_update_workflow(
    *,
    base_url: str,
    workflow_id: object,
    idempotency_key: str,
    name: str | None = None,
    description: str | None = None,
    status: WorkflowStatus | str | None = None,
    active_version_id: object = None,
    **headers: Any,
) -> PreparedRequest:
    """``PATCH /workflows/{workflow_id}`` with only the fields given.

    ``description`` is not in the PATCH schema (which lists ``name``, ``status`` and
    ``active_workflow_version_id``) but is a field of the definition; it is sent only when
    given, and the schema allows extra properties.
    """
    workflow = validate_id(workflow_id, "workflow_id")
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = _text(name, "name", "pass the new name, or None to keep it")
    if description is not None:
        body["description"] = _text(
            description, "description", "pass text or None", allow_blank=True
        )
    if status is not None:
        if not isinstance(status, str) or str.__str__(status) not in {
            WorkflowStatus.ACTIVE.value,
            WorkflowStatus.INACTIVE.value,
        }:
            raise InvalidRequestError(
                "status",
                f"is {shown_value(status)}",
                "pass 'Active' or 'Inactive' (WorkflowStatus)",
            )
        body["status"] = str.__str__(status)
    if active_version_id is not None:
        body["active_workflow_version_id"] = validate_id(active_version_id, "active_version_id")
    if not body:
        raise InvalidRequestError(
            "update_workflow",
            "nothing to change",
            "pass name=, description=, status= or active_version_id=",
        )
    request = _get(
        _target(base_url=base_url, **headers), "/workflows/{}", (workflow,), method="PATCH"
    )
    return _with_body(request, body, idempotency_key)


def prepare_get_task(*, base_url: str, task_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/tasks/{task_id}``."""
    task = validate_id(task_id, "task_id", "2771")
    return _get(_target(base_url=base_url, **headers), "/workflows/tasks/{}", (task,))


def prepare_rerun_task(
    *, base_url: str, task_id: object, idempotency_key: str, **headers: Any
) -> PreparedRequest:
    """``POST /workflows/tasks/{task_id}/rerun`` (no body) with its Idempotency-Key."""
    task = validate_id(task_id, "task_id", "2771")
    request = _get(
        _target(base_url=base_url, **headers), "/workflows/tasks/{}/rerun", (task,), method="POST"
    )
    return _with_body(request, None, idempotency_key)


_RERUN_KEY_PREFIX: Final = "zuora-wf-rerun-task-"
_ATTEMPT_HINT: Final = "pass a short printable ASCII id for this round of reruns, e.g. 'night-1'"


def rerun_key(
    task_id: int, *, failed_at: dt.datetime | None = None, attempt: str | None = None
) -> str | None:
    """The Idempotency-Key ``rerun_failed_tasks`` uses for one failure of one task.

    The key names the *failure*, not the task: the task id with the failed instance's
    ``end_time`` (``failed_at``), or with the caller's ``attempt`` id when given. A retry
    of one rerun (a lost answer, a 5xx) reuses the key and Zuora replays instead of
    running the task twice; a later failure of the same task ends at another time, so its
    rerun gets a key of its own. A key fixed per task (as before) made Zuora replay the
    first rerun's answer for 24 hours while the task stayed in ``Error``. None when there
    is neither (a failed task Zuora reports without times): the caller uses a fresh key.
    """
    if attempt is not None:
        text = exact_str(attempt)  # a str subclass's own methods could lie about it
        if not isinstance(text, str) or not text or text != text.strip():
            raise InvalidRequestError(
                "attempt", f"expected a non-blank id, got {shown_value(attempt)}", _ATTEMPT_HINT
            )
        if not text.isascii() or not text.isprintable():
            raise InvalidRequestError("attempt", "must be printable ASCII", _ATTEMPT_HINT)
        try:
            return validate_idempotency_key(f"{_RERUN_KEY_PREFIX}{task_id}-attempt-{text}")
        except InvalidRequestError as exc:  # too long for Zuora's key
            raise InvalidRequestError("attempt", exc.problem, _ATTEMPT_HINT) from None
    if failed_at is None:
        return None
    # UTC with microseconds: two failures of one task never share a stamp.
    stamp = failed_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{_RERUN_KEY_PREFIX}{task_id}-failed-{stamp}"


def _given_fields(update: object, field: str) -> dict[str, Any]:
    if isinstance(update, TaskUpdate):
        return {name: getattr(update, name) for name in UPDATE_TASK_FIELDS}
    if not isinstance(update, Mapping):
        raise InvalidRequestError(
            field,
            f"expected a TaskUpdate or a mapping, got {type(update).__name__}",
            "pass TaskUpdate(id=..., status=...) or a dict with Zuora's field names",
        )
    given = _read_mapping(update, field)
    unknown = sorted(shown_value(name) for name in given if name not in UPDATE_TASK_FIELDS)
    if unknown:
        raise InvalidRequestError(
            f"{field}[{unknown[0]}]",
            "is not a field of Zuora's UpdateTask",
            f"use only {', '.join(UPDATE_TASK_FIELDS)}",
        )
    return given


def _checked_status(status: object, field: str) -> str:
    if not isinstance(status, str) or not TaskStatus(str.__str__(status)).is_known:
        raise InvalidRequestError(
            field,
            f"is {shown_value(status)}",
            f"pass one of {', '.join(m.value for m in TaskStatus)}",
        )
    return str.__str__(status)


def _checked_limit(limit: object, field: str) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 9_999_999:
        shown = shown_value(limit)
        raise InvalidRequestError(field, f"is {shown}", f"pass an int 1..{MAX_CONCURRENT_LIMIT}")
    return int.__int__(limit)


def _checked_tags(tags: object, field: str) -> list[str]:
    fix = "pass e.g. ['billing']"
    if isinstance(tags, str | Mapping | bytes) or not isinstance(tags, Iterable):
        raise InvalidRequestError(field, "must be a list of strings", fix)
    try:
        values = list(tags)
    except Exception as exc:  # noqa: BLE001 -- the caller's iterable runs its own code
        raise InvalidRequestError(field, f"raised {type(exc).__name__} when read", fix) from None
    return [_text(tag, f"{field}[{index}]", fix) for index, tag in enumerate(values)]


def _update_entry(update: TaskUpdate | Mapping[str, Any], index: int) -> dict[str, Any]:
    field = f"updates[{index}]"
    given = _given_fields(update, field)
    entry: dict[str, Any] = {"id": validate_id(given.get("id"), f"{field}.id", "2771")}
    for name in ("name", "action_type", "call_type", "object", "object_id"):
        value = given.get(name)
        if value is not None:
            entry[name] = _text(value, f"{field}.{name}", "pass text or None", allow_blank=True)
    checks = {
        "status": _checked_status,
        "concurrent_limit": _checked_limit,
        "tags": _checked_tags,
        "workflow_id": validate_id,
    }
    for name, check in checks.items():
        if given.get(name) is not None:
            entry[name] = check(given[name], f"{field}.{name}")
    return entry


def chunk_task_updates(
    updates: Iterable[TaskUpdate | Mapping[str, Any]],
) -> list[list[dict[str, Any]]]:
    """The updates as checked ``UpdateTask`` objects, in requests of at most 50."""
    fix = "pass [TaskUpdate(id=..., ...), ...]"
    if isinstance(updates, Mapping | TaskUpdate | str | bytes) or not isinstance(updates, Iterable):
        raise InvalidRequestError("updates", "expected a list of updates", fix)
    try:
        given = list(updates)
    except Exception as exc:  # noqa: BLE001 -- the caller's iterable runs its own code
        raise InvalidRequestError(
            "updates", f"raised {type(exc).__name__} when read", fix
        ) from None
    entries = [_update_entry(update, index) for index, update in enumerate(given)]
    if not entries:
        raise InvalidRequestError("updates", "is empty", "pass at least one TaskUpdate")
    return [
        entries[start : start + MAX_TASK_UPDATES]
        for start in range(0, len(entries), MAX_TASK_UPDATES)
    ]


def prepare_update_tasks(
    *, base_url: str, entries: Sequence[Mapping[str, Any]], **headers: Any
) -> PreparedRequest:
    """``PUT /workflows/tasks/batch_update`` for one chunk of :func:`chunk_task_updates`."""
    if not 1 <= len(entries) <= MAX_TASK_UPDATES:
        raise InvalidRequestError(
            "updates", f"{len(entries)} in one request", "use chunk_task_updates (1 to 50)"
        )
    request = _get(
        _target(base_url=base_url, **headers), "/workflows/tasks/batch_update", method="PUT"
    )
    return _with_body(request, {"data": [dict(entry) for entry in entries]}, None)


def _date_text(value: object, field: str) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidRequestError(
            field,
            f"expected a datetime.date, got {shown_value(value)}",
            "pass e.g. date(2026, 11, 1)",
        )
    return value.isoformat()


def prepare_task_usage(
    *, base_url: str, start: object, end: object, **headers: Any
) -> PreparedRequest:
    """``GET /workflows/metrics.json?startDate=&endDate=&metrics=taskCount``."""
    start_text, end_text = _date_text(start, "start"), _date_text(end, "end")
    if start_text > end_text:
        raise InvalidRequestError("end", f"{end_text} is before start {start_text}", "swap them")
    query = [("startDate", start_text), ("endDate", end_text), ("metrics", "taskCount")]
    return _get(_target(base_url=base_url, **headers), "/workflows/metrics.json", query=query)


def prepare_export(
    *, base_url: str, workflow_id: object, version: object = None, **headers: Any
) -> PreparedRequest:
    """``GET /workflows/{workflow_id}/export[?version=]``: without ``version`` Zuora
    exports the *active* version (the official document's default); ``"latest"`` or a
    number such as ``"0.0.2"`` picks another."""
    workflow = validate_id(workflow_id, "workflow_id")
    query = [] if version is None else [("version", _version_text(version))]
    return _get(
        _target(base_url=base_url, **headers), "/workflows/{}/export", (workflow,), query=query
    )


def export_document(export: WorkflowExport | Mapping[str, Any]) -> dict[str, Any]:
    """The import body for ``export``: ``{"workflow", "tasks", "linkages"}``, checked.

    Workflow settings that are null are left out (see below); everything else is sent as
    exported, including fields this package does not model.
    """
    fix = "pass what export_workflow returned (or the JSON it wrote)"
    if isinstance(export, WorkflowExport):
        export = export.as_json()
    if not isinstance(export, Mapping):
        raise InvalidRequestError(
            "export", f"expected a WorkflowExport or a mapping, got {shown_value(export)}", fix
        )
    data = _read_mapping(export, "export")
    workflow = data.get("workflow")
    if not isinstance(workflow, Mapping):
        raise InvalidRequestError(
            "export['workflow']",
            "is missing or not an object",
            "pass what export_workflow returned (or the JSON it wrote)",
        )
    # An export's workflow carries nulls (finished_at, status, call_type...) that the
    # import schema (DetailedWorkflow) types as non-null; null means "not set", so such
    # fields are left out rather than sent as null. Tasks and linkages go as exported.
    settings = _read_mapping(workflow, "export['workflow']")
    body: dict[str, Any] = {
        "workflow": {name: value for name, value in settings.items() if value is not None}
    }
    for name in ("tasks", "linkages"):
        items = data.get(name, [])
        if not isinstance(items, list | tuple) or not all(isinstance(i, Mapping) for i in items):
            raise InvalidRequestError(f"export[{name!r}]", "must be a list of objects", fix)
        body[name] = [
            _read_mapping(item, f"export[{name!r}][{index}]") for index, item in enumerate(items)
        ]
    return body


def prepare_import(
    *,
    base_url: str,
    export: WorkflowExport | Mapping[str, Any],
    idempotency_key: str,
    workflow_id: object = None,
    version: object = None,
    activate: bool | None = None,
    **headers: Any,
) -> PreparedRequest:
    """``POST /workflows/import``: a new definition, or with ``workflow_id`` a new version."""
    query: list[tuple[str, str]] = []
    if workflow_id is not None:
        query.append(("workflow_definition_id", str(validate_id(workflow_id, "workflow_id"))))
    if version is not None:
        query.append(("version", _version_text(version)))
    if activate is not None:
        query.append(("activate", _bool_text(activate, "activate")))
    request = _get(
        _target(base_url=base_url, **headers), "/workflows/import", query=query, method="POST"
    )
    return _with_body(request, export_document(export), idempotency_key, "export")


def prepare_list_versions(*, base_url: str, workflow_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/{workflow_id}/versions`` (not paged)."""
    workflow = validate_id(workflow_id, "workflow_id")
    return _get(_target(base_url=base_url, **headers), "/workflows/{}/versions", (workflow,))


def prepare_import_version(
    *,
    base_url: str,
    workflow_id: object,
    export: WorkflowExport | Mapping[str, Any],
    version: object,
    idempotency_key: str,
    activate: bool | None = None,
    **headers: Any,
) -> PreparedRequest:
    """``POST /workflows/{workflow_id}/versions/import?version=&activate=``."""
    workflow = validate_id(workflow_id, "workflow_id")
    query = [("version", _version_text(version))]
    if activate is not None:
        query.append(("activate", _bool_text(activate, "activate")))
    request = _get(
        _target(base_url=base_url, **headers),
        "/workflows/{}/versions/import",
        (workflow,),
        query=query,
        method="POST",
    )
    return _with_body(request, export_document(export), idempotency_key, "export")


def prepare_delete_version(*, base_url: str, version_id: object, **headers: Any) -> PreparedRequest:
    """``DELETE /workflows/versions/{version_id}`` (refused with 403 for the active one)."""
    version = validate_id(version_id, "version_id", "113")
    return _get(
        _target(base_url=base_url, **headers), "/workflows/versions/{}", (version,), method="DELETE"
    )


def prepare_rebased_next_page(
    previous: PreparedRequest, next_page: object, *, base_url: str
) -> PreparedRequest:
    """The request for ``pagination.next_page``: its query, on ``previous``'s path, sent
    to ``base_url``.

    Zuora builds ``next_page`` on a canonical host (``https://rest.zuora.com/...``) that
    need not be the tenant's, so the host of the link is ignored and the bearer token never
    leaves ``base_url``. A link to another *path* is refused (``ResponseDecodeError``): it
    is not the next page of this listing. Filters the previous request sent and the link
    leaves out are added back.
    """
    field = "pagination.next_page"
    if not isinstance(next_page, str) or not next_page.strip():
        raise ResponseDecodeError(
            f"expected {field} to be a URL, got {quote(next_page)}", field=field
        )
    try:
        link = urlsplit(next_page.strip())
        pairs = parse_qsl(link.query, keep_blank_values=True)
        query_of = {name for name, _ in pairs}
        sent = parse_qsl(urlsplit(previous.url).query, keep_blank_values=True)
        pairs += [(name, value) for name, value in sent if name not in query_of and name != "page"]
        query = urlencode(pairs)
    except ValueError:  # urlsplit's "Invalid IPv6 URL", a lone surrogate urlencode refuses
        unreadable = True
    else:
        unreadable = False
    if unreadable:
        raise ResponseDecodeError(f"{field} is not a URL this client can follow", field=field)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = link.path[len(base_path) :] if link.path.startswith(base_path + "/") else link.path
    if path != previous.path:
        raise ResponseDecodeError(
            f"{field} points at {quote(link.path)}, not the listing {previous.path!r}", field=field
        )
    return attrs.evolve(previous, url=f"{base_url}{path}" + (f"?{query}" if query else ""))


# -- decisions ------------------------------------------------------------------------------


def preflight_problem(workflow: Workflow) -> str | None:
    """Why runs of ``workflow`` would all be refused, or None when it can be run by API.

    A batch checks this once before it sends thousands of runs that would each get the
    same 400 (callout trigger off) or be refused (inactive: Zuora deactivates a workflow
    whose runs fail at 95%).
    """
    name = f"workflow {workflow.id}" + (f" ({workflow.name!r})" if workflow.name else "")
    if workflow.status is not None and workflow.status != WorkflowStatus.ACTIVE:
        return (
            f"{name} is {workflow.status.value}, so Zuora refuses its runs; activate it "
            "(update_workflow(..., status='Active') or `zuora-wf activate`) first"
        )
    active = workflow.active_version
    if active is not None and active.status is not None and active.status != WorkflowStatus.ACTIVE:
        return f"{name}: its active version {active.id} is {active.status.value}"
    if workflow.callout_trigger is False:
        return (
            f"{name} has its Callout trigger off, so every run would get 400 'Callout not "
            "enabled'; switch the Callout trigger on in the workflow's settings"
        )
    return None
