"""The task and usage requests, and the key of a rerun (as ``definition_requests``: a
pure builder per operation, a reader in ``workflow_readers``; ``task_batches`` decides
for the operations that act on many tasks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.prepared_request import PreparedRequest, canonical_int
from zuora_wf_async._core.requests import header_text, read_list
from zuora_wf_async._core.workflow_fields import (
    checked_text,
    read_mapping,
    validate_id,
    with_body,
    workflow_request,
)
from zuora_wf_async._errors import InvalidRequestError
from zuora_wf_async._models import TaskStatus
from zuora_wf_async._workflow_models import TaskUpdate

__all__ = [
    "MAX_TASK_UPDATES",
    "chunk_task_updates",
    "prepare_get_task",
    "prepare_rerun_task",
    "prepare_task_usage",
    "prepare_update_tasks",
    "rerun_key",
]

# batch_update: "maximum: 50".
MAX_TASK_UPDATES: Final = 50
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


def prepare_get_task(*, base_url: str, task_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/tasks/{task_id}``."""
    task = validate_id(task_id, "task_id", "2771")
    return workflow_request("/workflows/tasks/{}", (task,), base_url=base_url, **headers)


def prepare_rerun_task(
    *, base_url: str, task_id: object, idempotency_key: str, **headers: Any
) -> PreparedRequest:
    """``POST /workflows/tasks/{task_id}/rerun`` (no body) with its Idempotency-Key."""
    task = validate_id(task_id, "task_id", "2771")
    request = workflow_request(
        "/workflows/tasks/{}/rerun", (task,), method="POST", base_url=base_url, **headers
    )
    return with_body(request, None, idempotency_key)


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
        # Short enough that the whole key stays within Zuora's 255 characters.
        text = header_text(attempt, "attempt", max_length=200, fix=_ATTEMPT_HINT)
        return f"{_RERUN_KEY_PREFIX}{task_id}-attempt-{text}"
    if failed_at is None:
        return None
    # UTC with microseconds: two failures of one task never share a stamp.
    stamp = failed_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{_RERUN_KEY_PREFIX}{task_id}-failed-{stamp}"


def _given_fields(update: object, field: str) -> dict[str, Any]:
    if isinstance(update, TaskUpdate):
        return {name: getattr(update, name) for name in UPDATE_TASK_FIELDS}
    if not isinstance(update, Mapping):
        problem = f"expected a TaskUpdate or a mapping, got {shown_value(update)}"
        fix = "pass TaskUpdate(id=..., status=...) or a dict with Zuora's field names"
        raise InvalidRequestError(field, problem, fix)
    given = read_mapping(update, field)
    unknown = sorted(shown_value(name) for name in given if name not in UPDATE_TASK_FIELDS)
    if unknown:
        fix = f"use only {', '.join(UPDATE_TASK_FIELDS)}"
        raise InvalidRequestError(f"{field}[{unknown[0]}]", "is not a field of UpdateTask", fix)
    return given


def _checked_status(status: object, field: str) -> str:
    text = str.__str__(status) if isinstance(status, str) else ""
    if not TaskStatus(text).is_known:
        fix = f"pass one of {', '.join(m.value for m in TaskStatus)}"
        raise InvalidRequestError(field, f"is {shown_value(status)}", fix)
    return text


def _checked_limit(limit: object, field: str) -> int:
    number = canonical_int(limit)
    if number is None or not 1 <= number <= MAX_CONCURRENT_LIMIT:
        fix = f"pass an int 1..{MAX_CONCURRENT_LIMIT}"
        raise InvalidRequestError(field, f"is {shown_value(limit)}", fix)
    return number


def _checked_tags(tags: object, field: str) -> list[str]:
    values = read_list(tags, field, "pass e.g. ['billing']")
    return [checked_text(tag, f"{field}[{index}]", "pass text") for index, tag in enumerate(values)]


def _text_or_blank(value: object, field: str) -> str:
    return checked_text(value, field, "pass text or None", allow_blank=True)


_CHECKS = {
    **dict.fromkeys(("name", "action_type", "call_type", "object", "object_id"), _text_or_blank),
    "status": _checked_status,
    "concurrent_limit": _checked_limit,
    "tags": _checked_tags,
    "workflow_id": validate_id,
}


def chunk_task_updates(
    updates: Iterable[TaskUpdate | Mapping[str, Any]],
) -> list[list[dict[str, Any]]]:
    """The updates as checked ``UpdateTask`` objects, in requests of at most 50."""
    entries = []
    for index, update in enumerate(read_list(updates, "updates", "pass [TaskUpdate(...), ...]")):
        field = f"updates[{index}]"
        given = _given_fields(update, field)
        entry: dict[str, Any] = {"id": validate_id(given.get("id"), f"{field}.id", "2771")}
        for name, check in _CHECKS.items():
            if given.get(name) is not None:
                entry[name] = check(given[name], f"{field}.{name}")
        entries.append(entry)
    if not entries:
        raise InvalidRequestError("updates", "is empty", "pass at least one TaskUpdate")
    size = MAX_TASK_UPDATES
    return [entries[start : start + size] for start in range(0, len(entries), size)]


def prepare_update_tasks(
    *, base_url: str, entries: Sequence[Mapping[str, Any]], **headers: Any
) -> PreparedRequest:
    """``PUT /workflows/tasks/batch_update`` for one chunk of :func:`chunk_task_updates`."""
    request = workflow_request(
        "/workflows/tasks/batch_update", method="PUT", base_url=base_url, **headers
    )
    return with_body(request, {"data": [dict(entry) for entry in entries]}, None)


def _date_text(value: object, field: str) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        problem = f"expected a datetime.date, got {shown_value(value)}"
        raise InvalidRequestError(field, problem, "pass e.g. date(2026, 11, 1)")
    return value.isoformat()


def prepare_task_usage(
    *, base_url: str, start: object, end: object, **headers: Any
) -> PreparedRequest:
    """``GET /workflows/metrics.json?startDate=&endDate=&metrics=taskCount``."""
    start_text, end_text = _date_text(start, "start"), _date_text(end, "end")
    if start_text > end_text:
        raise InvalidRequestError("end", f"{end_text} is before start {start_text}", "swap them")
    query = [("startDate", start_text), ("endDate", end_text), ("metrics", "taskCount")]
    return workflow_request("/workflows/metrics.json", query=query, base_url=base_url, **headers)
