"""Building the requests that follow a run: its detail, stop, and its task pages.

Same rules as ``requests``: validated before anything is sent, immutable once built. A
task page's ``next_page`` link comes from the server, so it is followed only when it
stays on the client's own base URL, since the request carries the bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import attrs

from zuora_wf_async._core.requests import PreparedRequest, canonical_int, prepare_get
from zuora_wf_async._errors import InvalidRequestError, ResponseDecodeError

__all__ = [
    "MAX_PAGE_LENGTH",
    "TASKS_PATH",
    "TASK_FILTERS",
    "prepare_next_page",
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
    """A run id as an int: a positive int, or the same as decimal digits (``"19080"``)."""
    if isinstance(run_id, str) and run_id.isascii() and run_id.isdigit():
        value: object = int(run_id)
    else:
        value = canonical_int(run_id)  # an int subclass's own __str__ must not reach a URL
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(
            field,
            f"expected a positive int or a string of digits, got {run_id!r}",
            "pass the `id` of the run that run_workflow returned, e.g. 19080",
        )
    return value


def _positive_int(field: str, value: object, fix: str, *, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(field, f"must be a positive int, got {value!r}", fix)
    if maximum is not None and value > maximum:
        raise InvalidRequestError(field, f"is {value}; Zuora allows at most {maximum}", fix)
    return value


def _filter_pairs(name: str, value: object) -> list[tuple[str, str]]:
    field = f"filters[{name!r}]"
    if name == "tags":
        if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
            raise InvalidRequestError(
                field, f"expected a list of tags, got {value!r}", "pass tags=['billing', ...]"
            )
        tags = list(value)
        for tag in tags:
            if not isinstance(tag, str) or not tag:
                raise InvalidRequestError(
                    field, f"tag {tag!r} is not a non-empty string", "pass each tag as a string"
                )
        # Zuora's documented syntax is tags[]=a&tags[]=b; a task with any of them matches.
        return [("tags[]", tag) for tag in tags]
    if name == "instance":
        if not isinstance(value, bool):
            raise InvalidRequestError(
                field, f"expected a bool, got {value!r}", "pass True for run tasks"
            )
        return [("instance", "true" if value else "false")]
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise InvalidRequestError(
            field, f"expected a non-empty string or an int, got {value!r}", "pass e.g. '2771'"
        )
    return [(name, str(value))]


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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port or default
    except ValueError:
        port = -1  # a malformed port never matches
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def prepare_next_page(
    previous: PreparedRequest, next_page: object, *, base_url: str
) -> PreparedRequest:
    """The request for ``pagination.next_page``, refused unless it stays on ``base_url``.

    The request carries the bearer token, so a ``next_page`` on another scheme, host or
    port (or outside the base URL's path prefix, or with credentials in it) is refused with
    ``ResponseDecodeError`` rather than followed. A relative ``next_page`` is resolved
    against the previous page. Filters the previous page sent but ``next_page`` leaves out
    are added back (Zuora's sample ``next_page`` carries only ``page`` and ``page_length``;
    without its filters a run's listing would go on with every task of the tenant).
    """
    field = "pagination.next_page"
    if not isinstance(next_page, str) or not next_page.strip():
        raise ResponseDecodeError(
            f"expected {field} to be a URL string, got {next_page!r}", field=field, status=200
        )
    url = urljoin(previous.url, next_page.strip())
    parts = urlsplit(url)
    base = urlsplit(base_url)
    prefix = base.path.rstrip("/")
    if (
        _origin(url) != _origin(base_url)
        or parts.username is not None
        or parts.password is not None
        or not (parts.path == prefix or parts.path.startswith(prefix + "/"))
    ):
        found = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        raise ResponseDecodeError(
            f"refusing to follow {field} to {found}{parts.path}: it is not under the client's "
            f"base_url {base_url}, and following it would send the bearer token there",
            field=field,
            status=200,
        )
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    present = {name for name, _ in pairs}
    sent = parse_qsl(urlsplit(previous.url).query, keep_blank_values=True)
    # "page" is never copied: a next_page without one must not repeat the previous page.
    pairs.extend((name, value) for name, value in sent if name not in present and name != "page")
    query = urlencode(pairs)
    path = parts.path[len(prefix) :] or "/"
    return attrs.evolve(
        previous,
        url=f"{base.scheme}://{base.netloc}{parts.path}" + (f"?{query}" if query else ""),
        path=path,
    )
