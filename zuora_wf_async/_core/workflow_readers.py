"""Reading the answers of the workflow definition, task, version and usage operations.

Each reader takes a 2xx ``RawResponse`` (error statuses are read by
``api_errors.api_error`` in the pipeline) and returns a record decoded by the package's one
converter, tolerant of unknown fields and of the places where Zuora's schema and its own
examples disagree (string or integer ids, ``Errors`` or ``errors``). The requests are built
in ``definition_requests``, ``version_requests`` and ``task_requests``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from zuora_wf_async._converter import decode
from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.redact import quote
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._models import Task
from zuora_wf_async._workflow_models import (
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
)

__all__ = [
    "TaskPage",
    "WorkflowPage",
    "read_deleted",
    "read_export",
    "read_task",
    "read_task_page",
    "read_tasks",
    "read_usage",
    "read_versions",
    "read_workflow",
    "read_workflow_page",
]


def _object(raw: RawResponse, max_bytes: int) -> dict[str, Any]:
    body = read_json(raw, max_bytes=max_bytes)
    if not isinstance(body, dict):
        raise ResponseDecodeError(
            f"expected a JSON object, got {type(body).__name__}", status=raw.status
        )
    return body


def _list(body: Mapping[str, Any], name: str, status: int) -> list[Any]:
    items = body.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ResponseDecodeError(f"expected {name} to be a list", field=name, status=status)
    return items


def _next_page(body: Mapping[str, Any], items: tuple[Any, ...], status: int) -> str | None:
    """A page's ``pagination.next_page`` link, or None at the end: the last page leaves it
    out or sends null or "", and an empty page ends the listing whatever it names. A link
    that is no text is refused: taken as the end, it would cut the listing short."""
    pagination = body.get("pagination")
    link = pagination.get("next_page") if isinstance(pagination, Mapping) else None
    if link is not None and not isinstance(link, str):
        raise ResponseDecodeError(
            f"pagination.next_page should be a link or null, got {quote(link)}",
            field="pagination.next_page",
            status=status,
        )
    return link if link and items else None


def read_workflow(raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> Workflow:
    """A ``Workflow`` / ``WorkflowDefinition`` body (get, update, import, version import)."""
    return decode(_object(raw, max_bytes), Workflow, status=raw.status)


@attrs.frozen
class WorkflowPage:
    """One page of ``GET /workflows``: the definitions and the raw ``next_page`` link."""

    workflows: tuple[Workflow, ...]
    next_page: str | None


def read_workflow_page(
    raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
) -> WorkflowPage:
    body = _object(raw, max_bytes)
    workflows = tuple(
        decode(item, Workflow, status=raw.status) for item in _list(body, "data", raw.status)
    )
    return WorkflowPage(workflows, _next_page(body, workflows, raw.status))


def read_versions(
    raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
) -> list[Workflow]:
    body = _object(raw, max_bytes)
    return [decode(item, Workflow, status=raw.status) for item in _list(body, "data", raw.status)]


def read_task(raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> Task:
    return decode(_object(raw, max_bytes), Task, status=raw.status)


def read_tasks(raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> list[Task]:
    """The ``data`` of a ``TasksResponse`` (batch_update answers one, pagination null)."""
    body = _object(raw, max_bytes)
    return [decode(item, Task, status=raw.status) for item in _list(body, "data", raw.status)]


@attrs.frozen
class TaskPage:
    """One page of ``GET /workflows/tasks``: the tasks and the raw ``next_page`` link."""

    tasks: tuple[Task, ...]
    next_page: str | None


def read_task_page(raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> TaskPage:
    body = _object(raw, max_bytes)
    tasks = tuple(decode(item, Task, status=raw.status) for item in _list(body, "data", raw.status))
    return TaskPage(tasks, _next_page(body, tasks, raw.status))


def read_usage(raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> list[TaskUsage]:
    """The days of ``metrics``, sorted by date (Zuora's example lists them unsorted)."""
    body = _object(raw, max_bytes)
    days = [
        decode(item, TaskUsage, status=raw.status) for item in _list(body, "metrics", raw.status)
    ]
    return sorted(days, key=lambda day: day.date)


def read_export(raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> WorkflowExport:
    return decode(_object(raw, max_bytes), WorkflowExport, status=raw.status)


def read_deleted(
    raw: RawResponse,
    *,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    deleted_id: int | None = None,
) -> WorkflowDeletion:
    """A delete's answer, ``DeleteWorkflowSuccess`` (``{"id", "success": true}``; the id
    a string, as the schema types it, or an integer, as its example shows).

    ``success: false`` is not a deletion, so it is refused as an unexpected body. An empty
    2xx, or one without an id, stands for the ``deleted_id`` the request named.
    """
    body = read_json(raw, max_bytes=max_bytes, allow_empty=True)
    if body is None:
        body = {}
    if not isinstance(body, dict) or body.get("success") is False:
        raise ResponseDecodeError(
            f"expected {{'success': true}} for a delete, got {quote(body)}",
            field="success",
            status=raw.status,
        )
    found = body.get("id")
    if isinstance(found, str) and found.isascii() and found.isdigit():
        found = int(found)
    if isinstance(found, bool) or not isinstance(found, int):
        found = deleted_id
    if found is None:
        raise ResponseDecodeError(
            "expected the id of what a delete removed", field="id", status=raw.status
        )
    return WorkflowDeletion(id=found, success=True)
