"""Reading the 2xx answers of the Workflow operations other than a run's start.

Each reader takes a ``RawResponse`` (error statuses are read by ``api_errors.api_error`` in
the pipeline) and returns a record decoded by the package's one converter, tolerant of
unknown fields and of the places where Zuora's schema and its own examples disagree
(string or integer ids).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from zuora_wf_async._converter import decode
from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.redact import quote
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._models import Task, WorkflowRunDetail
from zuora_wf_async._workflow_models import (
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
)

T = TypeVar("T")
_LIMIT = DEFAULT_MAX_RESPONSE_BYTES


def _record(cls: type[T]) -> Callable[..., T]:
    def read(raw: RawResponse, *, max_bytes: int = _LIMIT) -> T:
        return decode(read_json(raw, max_bytes=max_bytes), cls, status=raw.status)

    return read


read_workflow = _record(Workflow)  # get, update, import, version import
read_export = _record(WorkflowExport)
read_task = _record(Task)
read_run_detail = _record(WorkflowRunDetail)


def _items(raw: RawResponse, max_bytes: int, cls: type[T], name: str = "data") -> list[T]:
    """The records in a listing's ``name`` list (none when it is absent)."""
    return [decode(item, cls, status=raw.status) for item in _listed(raw, max_bytes, name)[0]]


def _listed(raw: RawResponse, max_bytes: int, name: str) -> tuple[list[Any], Mapping[str, Any]]:
    """A listing's ``name`` list (empty when absent) and the body, for its pagination."""
    body = read_json(raw, max_bytes=max_bytes)
    if not isinstance(body, Mapping):
        raise ResponseDecodeError(
            f"expected a JSON object, got {type(body).__name__}", status=raw.status
        )
    items = body.get(name)
    if items is not None and not isinstance(items, list):
        raise ResponseDecodeError(f"expected {name} to be a list", field=name, status=raw.status)
    return items or [], body


def read_versions(raw: RawResponse, *, max_bytes: int = _LIMIT) -> list[Workflow]:
    return _items(raw, max_bytes, Workflow)


def read_tasks(raw: RawResponse, *, max_bytes: int = _LIMIT) -> list[Task]:
    """The ``data`` of a ``TasksResponse`` (batch_update answers one, pagination null)."""
    return _items(raw, max_bytes, Task)


def read_usage(raw: RawResponse, *, max_bytes: int = _LIMIT) -> list[TaskUsage]:
    """The days of ``metrics``, sorted by date (Zuora's example lists them unsorted)."""
    return sorted(_items(raw, max_bytes, TaskUsage, "metrics"), key=lambda day: day.date)


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


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing (``GET /workflows``, ``GET /workflows/tasks``): its records and
    the raw ``next_page`` link."""

    items: tuple[T, ...]
    next_page: str | None


def _page(cls: type[T]) -> Callable[..., Page[T]]:
    def read(raw: RawResponse, *, max_bytes: int = _LIMIT) -> Page[T]:
        data, body = _listed(raw, max_bytes, "data")
        items = tuple(decode(item, cls, status=raw.status) for item in data)
        return Page(items, _next_page(body, items, raw.status))

    return read


read_workflow_page = _page(Workflow)
read_task_page = _page(Task)


def read_deleted(
    raw: RawResponse, *, max_bytes: int = _LIMIT, deleted_id: int | None = None
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


def read_stopped(raw: RawResponse, *, max_bytes: int = _LIMIT) -> bool:
    """A stop's answer: Zuora's ``success`` (False when it declined, e.g. a finished run)."""
    body = read_json(raw, max_bytes=max_bytes)
    success = body.get("success") if isinstance(body, Mapping) else None
    if not isinstance(success, bool):
        raise ResponseDecodeError(
            f"expected {{'success': true|false}} from the stop call, got {quote(body)}",
            field="success",
            status=raw.status,
        )
    return success
