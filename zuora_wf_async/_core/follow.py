"""The requests that follow a run: its detail, its stop, and its task pages (whose
``next_page`` link ``definition_requests.prepare_rebased_next_page`` follows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.prepared_request import MAX_ID, PreparedRequest, canonical_int
from zuora_wf_async._core.requests import read_list, validate_id
from zuora_wf_async._core.workflow_fields import bool_text, checked_text, workflow_request
from zuora_wf_async._errors import InvalidRequestError

RUN_PATH = "/workflows/workflow_runs/{}"
TASKS_PATH = "/workflows/tasks"
# "The maximum value is 100" (GET /workflows/tasks, page_length).
MAX_PAGE_LENGTH = 100
# The documented query filters of GET /workflows/tasks; page and page_length are separate.
TASK_FILTERS = frozenset(
    {"id", "name", "action_type", "object", "object_id", "call_type", "workflow_id", "instance"}
    | {"tags"}
)


def _positive_int(field: str, value: object, fix: str, *, maximum: int = MAX_ID) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(field, f"must be a positive int, got {shown_value(value)}", fix)
    if value > maximum:
        shown = shown_value(value)
        raise InvalidRequestError(field, f"is {shown}; Zuora allows at most {maximum}", fix)
    return int.__int__(value)


def _filter_pairs(name: str, value: object) -> list[tuple[str, str]]:
    field = f"filters[{name!r}]"
    if name == "instance":
        return [("instance", bool_text(value, field))]
    if name != "tags":
        number = canonical_int(value)
        if number is not None and -MAX_ID <= number <= MAX_ID:
            return [(name, str(number))]
        return [(name, checked_text(value, field, "pass e.g. '2771'"))]
    fix = "pass tags=['billing', ...], each a string without commas"
    tags = [checked_text(tag, field, fix) for tag in read_list(value, field, fix)]
    # The schema's `style: form, explode: false`: one pair, tags=a,b (the prose's
    # tags[]=a&tags[]=b is the other documented form); a task with any of them matches.
    # A comma inside a tag could not be told from the separator, so it is refused.
    for tag in tags:
        if "," in tag:
            raise InvalidRequestError(field, f"tag {shown_value(tag)} contains a comma", fix)
    return [("tags", ",".join(tags))] if tags else []


def task_query(
    *,
    workflow_run_id: object = None,
    filters: Mapping[str, object] | None = None,
    page: object = 1,
    page_length: object = MAX_PAGE_LENGTH,
) -> tuple[tuple[str, str], ...]:
    """The query of ``GET /workflows/tasks``: checked filters, then page and page_length.

    ``workflow_run_id`` is sent as Zuora's ``workflow_id`` filter, which selects the tasks of
    one run. ``None`` filter values are left out, so optional arguments can be passed along.
    """
    given = {name: value for name, value in (filters or {}).items() if value is not None}
    unknown = sorted(set(given) - TASK_FILTERS)
    if unknown:
        raise InvalidRequestError(
            f"filters[{unknown[0]!r}]",
            "is not a filter of GET /workflows/tasks",
            f"use workflow_run_id= or one of {', '.join(sorted(TASK_FILTERS))}",
        )
    pairs: list[tuple[str, str]] = []
    if workflow_run_id is not None:
        if "workflow_id" in given:
            raise InvalidRequestError(
                "workflow_run_id",
                "was given together with the workflow_id filter, which it is sent as",
                "pass only workflow_run_id=",
            )
        run_id = validate_id(workflow_run_id, "workflow_run_id")
        pairs.append(("workflow_id", str(run_id)))
    for name in sorted(given):
        pairs.extend(_filter_pairs(name, given[name]))
    number = _positive_int("page", page, "pages are numbered from 1")
    length = _positive_int(
        "page_length",
        page_length,
        "pass 1 to 100 (100 means fewer requests)",
        maximum=MAX_PAGE_LENGTH,
    )
    pairs.extend((("page", str(number)), ("page_length", str(length))))
    return tuple(pairs)


def prepare_run_detail(*, base_url: str, run_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/workflow_runs/{run_id}``."""
    run = validate_id(run_id, "run_id")
    return workflow_request(RUN_PATH, (run,), base_url=base_url, **headers)


def prepare_stop(*, base_url: str, run_id: object, **headers: Any) -> PreparedRequest:
    """``PUT /workflows/workflow_runs/{run_id}/stop`` (no body)."""
    run = validate_id(run_id, "run_id")
    return workflow_request(RUN_PATH + "/stop", (run,), method="PUT", base_url=base_url, **headers)


def prepare_tasks(
    *, base_url: str, query: Sequence[tuple[str, str]], **headers: Any
) -> PreparedRequest:
    """The first page of ``GET /workflows/tasks`` for a :func:`task_query`."""
    return workflow_request(TASKS_PATH, query=query, base_url=base_url, **headers)
