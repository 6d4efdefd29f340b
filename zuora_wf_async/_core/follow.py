"""Building the requests that follow a run: its detail, stop, and its task pages.

Same rules as ``requests``: validated before anything is sent, immutable once built. A
task page's ``next_page`` link is followed by ``workflows.prepare_rebased_next_page``
(its path and query, re-issued against the client's own base URL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zuora_wf_async._core.prepared_request import (
    MAX_ID,
    MAX_ID_DIGITS,
    PreparedRequest,
    canonical_int,
    prepare_get,
)
from zuora_wf_async._core.requests import encodable_text, shown_value
from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "MAX_PAGE_LENGTH",
    "TASKS_PATH",
    "TASK_FILTERS",
    "prepare_run_detail",
    "prepare_stop",
    "prepare_tasks",
    "task_query",
    "validate_run_id",
]

RUN_DETAIL_PATH = "/workflows/workflow_runs/{}"
STOP_PATH = "/workflows/workflow_runs/{}/stop"
TASKS_PATH = "/workflows/tasks"
# "The maximum value is 100" (GET /workflows/tasks, page_length).
MAX_PAGE_LENGTH = 100
# The documented query filters of GET /workflows/tasks; page and page_length are separate.
TASK_FILTERS = frozenset(
    {"id", "name", "action_type", "object", "object_id", "call_type", "workflow_id", "instance"}
    | {"tags"}
)


def validate_run_id(run_id: object, field: str = "run_id") -> int:
    """A run id as an int: a positive int, or the same as decimal digits (``"19080"``), at
    most ``MAX_ID`` (a 5,000-digit string is refused before ``int()`` could fail on it)."""
    value: object = None
    if isinstance(run_id, str):
        text = str.__str__(run_id)
        if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_ID_DIGITS:
            value = int(text)
    else:
        value = canonical_int(run_id)  # an int subclass's own __str__ must not reach a URL
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidRequestError(
            field,
            f"expected a positive int or a string of digits (at most {MAX_ID}), got "
            f"{shown_value(run_id)}",
            "pass the `id` of the run that run_workflow returned, e.g. 19080",
        )
    return value


def _positive_int(field: str, value: object, fix: str, *, maximum: int = MAX_ID) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(field, f"must be a positive int, got {shown_value(value)}", fix)
    if value > maximum:
        shown = shown_value(value)
        raise InvalidRequestError(field, f"is {shown}; Zuora allows at most {maximum}", fix)
    return int.__int__(value)


def _filter_pairs(name: str, value: object) -> list[tuple[str, str]]:
    field = f"filters[{name!r}]"
    if name == "tags":
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | frozenset | set):
            raise InvalidRequestError(
                field,
                f"expected a list of tags, got {shown_value(value)}",
                "pass tags=['billing', ...]",
            )
        try:
            tags = [str.__str__(tag) if isinstance(tag, str) else tag for tag in value]
        except Exception as exc:  # noqa: BLE001 -- the caller's sequence runs its own code
            raise InvalidRequestError(
                field, f"raised {type(exc).__name__} when read", "pass a list of tags"
            ) from None
        for tag in tags:
            if not isinstance(tag, str) or not tag or not encodable_text(tag):
                raise InvalidRequestError(
                    field,
                    f"tag {shown_value(tag)} is not a non-empty string of valid text",
                    "pass each tag as a string",
                )
        # The schema's `style: form, explode: false`: one pair, tags=a,b (the prose's
        # tags[]=a&tags[]=b is the other documented form); a task with any of them matches.
        # A comma inside a tag could not be told from the separator, so it is refused.
        for tag in tags:
            if "," in tag:
                raise InvalidRequestError(
                    field,
                    f"tag {tag!r} contains a comma, which separates tags on the wire",
                    "pass tags without commas",
                )
        return [("tags", ",".join(tags))] if tags else []
    if name == "instance":
        if not isinstance(value, bool):
            raise InvalidRequestError(
                field, f"expected a bool, got {shown_value(value)}", "pass True for run tasks"
            )
        return [("instance", "true" if value else "false")]
    fix = "pass e.g. '2771'"
    if isinstance(value, str):
        text = str.__str__(value)
        if not text or not encodable_text(text):
            raise InvalidRequestError(field, "expected non-empty valid text", fix)
        return [(name, text)]
    number = canonical_int(value)
    if number is None or not -MAX_ID <= number <= MAX_ID:
        shown = shown_value(value)
        raise InvalidRequestError(field, f"expected a non-empty string or an int, got {shown}", fix)
    return [(name, str(number))]


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
        run_id = validate_run_id(workflow_run_id, "workflow_run_id")
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


def prepare_run_detail(
    *,
    base_url: str,
    run_id: int,
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
) -> PreparedRequest:
    """``GET /workflows/workflow_runs/{run_id}``."""
    return prepare_get(
        base_url=base_url,
        path_template=RUN_DETAIL_PATH,
        path_args=(run_id,),
        track_id=track_id,
        entity_ids=entity_ids,
        org_ids=org_ids,
    )


def prepare_stop(
    *,
    base_url: str,
    run_id: int,
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
) -> PreparedRequest:
    """``PUT /workflows/workflow_runs/{run_id}/stop`` (no body)."""
    return prepare_get(
        base_url=base_url,
        path_template=STOP_PATH,
        path_args=(run_id,),
        method="PUT",
        track_id=track_id,
        entity_ids=entity_ids,
        org_ids=org_ids,
    )


def prepare_tasks(
    *,
    base_url: str,
    query: Sequence[tuple[str, str]],
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
) -> PreparedRequest:
    """The first page of ``GET /workflows/tasks`` for a :func:`task_query`."""
    return prepare_get(
        base_url=base_url,
        path_template=TASKS_PATH,
        query=query,
        track_id=track_id,
        entity_ids=entity_ids,
        org_ids=org_ids,
    )
