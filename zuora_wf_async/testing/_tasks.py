"""``GET /workflows/tasks``: the tasks of the fake's runs, filtered and paged.

A run of a workflow configured with ``task_count`` tasks has that many task instances, each
numbered from a fake-wide counter (task ids are their own id space). Their statuses follow
the run: all ``Queued`` while it is Queued, all ``Processing`` while Processing, all
``Stopped`` once it is Stopping or Stopped, and when it is Finished the last
``failed_tasks`` are ``Error`` (with ``error_class``, ``error`` and ``error_details``), the
``pending_tasks`` before them ``Pending``, and
the rest ``Success``; so the list always agrees with the run detail's ``tasks`` counts.

Query: the documented filters ``id``, ``name``, ``action_type``, ``object``, ``object_id``,
``call_type``, ``workflow_id`` (a run's id lists that run's tasks), ``instance`` (``true``
lists these instances; ``false``, the definitions, lists nothing: the fake keeps none) and
``tags`` (any-match; ``tags=a,b`` as the schema's ``style: form, explode: false`` and
the official SDK send it, ``tags[]=a&tags[]=b`` as the prose writes it, or repeated);
``page`` (from 1, default 1) and ``page_length`` (1..100, default 20). Unknown parameters
are ignored. Tasks are listed by id. The answer is ``{"data": [...], "pagination":
{"page", "page_length", "next_page"}}``, ``next_page`` being the absolute URL of the
following page on the host the request was sent to, with every filter kept, and absent on
the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from ._wire import Reply, errors_body, json_reply

if TYPE_CHECKING:
    from ._runs import Lifecycle, Run

__all__ = ["DEFAULT_PAGE_LENGTH", "MAX_PAGE_LENGTH", "list_tasks", "run_tasks"]

DEFAULT_PAGE_LENGTH: Final = 20
MAX_PAGE_LENGTH: Final = 100
TASKS_PATH: Final = "/workflows/tasks"
_TEXT_FILTERS: Final = (
    "id",
    "name",
    "action_type",
    "object",
    "object_id",
    "call_type",
    "workflow_id",
)


def _iso(moment: datetime) -> str:
    """Task timestamps: ISO-8601 with milliseconds and ``Z`` (``2019-09-19T12:35:43.942Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def run_tasks(
    run: Run, status: str, since: float, life: Lifecycle, wall: Callable[[float], datetime]
) -> list[dict[str, Any]]:
    """The task instances of ``run`` while it is in ``status`` (entered at ``since``)."""
    config = run.config
    total = config.task_count
    started = run.created_at + life.queued_seconds
    # A run stopped while still queued never started its tasks.
    ran = status != "Queued" and not (run.stopped_at is not None and run.stopped_at < started)
    ended = status in {"Finished", "Stopped"}
    tasks: list[dict[str, Any]] = []
    for index in range(total):
        if status == "Finished":
            failed_from = total - config.failed_tasks
            if index >= failed_from:
                task_status = "Error"
            elif index >= failed_from - config.pending_tasks:
                task_status = "Pending"
            else:
                task_status = "Success"
        elif status in {"Stopping", "Stopped"}:
            task_status = "Stopped"
        else:
            task_status = status
        failed = task_status == "Error"
        task_id = run.first_task_id + index
        tasks.append(
            {
                "id": task_id,
                "name": f"Task {index + 1}",
                "action_type": "Callout",
                "call_type": "REST",
                "object": None,
                "object_id": None,
                "instance": True,
                "original_task_id": index + 1,
                "original_workflow_id": run.workflow_id,
                "workflow_id": run.id,
                "task_id": task_id - 1 if index else None,
                "status": task_status,
                "tags": list(config.task_tags),
                "parameters": {},
                "data": {},
                "error": config.task_error if failed else None,
                "error_class": config.task_error_class if failed else None,
                "error_details": config.task_error if failed else None,
            }
        )
        # The schema types both times as non-null strings: a time not known yet is left
        # out, never null.
        if ran:
            tasks[-1]["start_time"] = _iso(wall(started))
        if ran and ended:
            tasks[-1]["end_time"] = _iso(wall(since))
    return tasks


def _page_number(name: str, text: str | None, default: int, maximum: int | None) -> int | Reply:
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        return json_reply(400, errors_body(400, f"{name} must be a positive integer."))
    if maximum is not None and int(text) > maximum:
        return json_reply(400, errors_body(400, f"{name} must be at most {maximum}."))
    return int(text)


def _matches(task: dict[str, Any], single: dict[str, str], tags: set[str]) -> bool:
    for name in _TEXT_FILTERS:
        if name in single and (task[name] is None or str(task[name]) != single[name]):
            return False
    instance = single.get("instance")
    if instance is not None and instance.lower() != str(task["instance"]).lower():
        return False
    return not tags or bool(tags.intersection(task["tags"]))


def list_tasks(
    tasks: Sequence[dict[str, Any]], query: Sequence[tuple[str, str]], origin: str
) -> Reply:
    """One page of ``tasks`` for the request's ``query``; ``origin`` prefixes ``next_page``."""
    single = dict(query)
    page = _page_number("page", single.get("page"), 1, None)
    if isinstance(page, Reply):
        return page
    length = _page_number(
        "page_length", single.get("page_length"), DEFAULT_PAGE_LENGTH, MAX_PAGE_LENGTH
    )
    if isinstance(length, Reply):
        return length
    instance = single.get("instance")
    if instance is not None and instance.lower() not in {"true", "false"}:
        return json_reply(400, errors_body(400, "instance must be true or false."))
    # Three spellings meet here: the schema's form style (tags=a,b, as the official SDK
    # sends it), the prose's tags[]=a&tags[]=b, and a repeated tags=a&tags=b.
    tags = {
        tag.strip()
        for name, value in query
        if name in {"tags[]", "tags"}
        for tag in value.split(",")
        if tag.strip()
    }
    found = sorted(
        (task for task in tasks if _matches(task, single, tags)), key=lambda task: task["id"]
    )
    start = (page - 1) * length
    pagination: dict[str, Any] = {"page": page, "page_length": length}
    if start + length < len(found):
        kept = [(name, value) for name, value in query if name not in {"page", "page_length"}]
        kept += [("page", str(page + 1)), ("page_length", str(length))]
        pagination["next_page"] = f"{origin}{TASKS_PATH}?{urlencode(kept)}"
    return json_reply(200, {"data": found[start : start + length], "pagination": pagination})
