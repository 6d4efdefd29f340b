"""The workflow definition requests (list, get, update, delete, the next page), and the
pre-flight decision: can a workflow be run by API.

Each operation is one pure builder (caller input -> ``PreparedRequest``, or
``InvalidRequestError`` before anything is sent) and one pure reader in
``workflow_readers``. Paths, parameter names and types follow Zuora's official OpenAPI
document (version 2026-09-11); tests check every request built here against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.prepared_request import PreparedRequest, canonical_int
from zuora_wf_async._core.redact import quote
from zuora_wf_async._core.workflow_fields import (
    bool_text,
    checked_text,
    validate_id,
    with_body,
    workflow_request,
)
from zuora_wf_async._errors import InvalidRequestError, ResponseDecodeError
from zuora_wf_async._workflow_models import Workflow, WorkflowStatus

__all__ = [
    "MAX_WORKFLOW_PAGE_LENGTH",
    "WORKFLOW_FILTERS",
    "preflight_problem",
    "prepare_delete_workflow",
    "prepare_get_workflow",
    "prepare_list_workflows",
    "prepare_rebased_next_page",
    "prepare_update_workflow",
]

# "The maximum value is 50" (GET /workflows, page_length).
MAX_WORKFLOW_PAGE_LENGTH: Final = 50
WORKFLOW_FILTERS: Final = frozenset(
    {"name", "interval", "callout_trigger", "ondemand_trigger", "scheduled_trigger"}
)
_BOOL_FILTERS: Final = frozenset({"callout_trigger", "ondemand_trigger", "scheduled_trigger"})


def prepare_list_workflows(
    *,
    base_url: str,
    filters: Mapping[str, object] | None = None,
    page_length: int = MAX_WORKFLOW_PAGE_LENGTH,
    **headers: Any,
) -> PreparedRequest:
    """``GET /workflows``, first page, with checked filters (``None`` values are left out)."""
    given = {name: value for name, value in (filters or {}).items() if value is not None}
    query: list[tuple[str, str]] = []
    for name in sorted(given):
        if name in _BOOL_FILTERS:
            query.append((name, bool_text(given[name], name)))
        elif name in WORKFLOW_FILTERS:
            query.append((name, checked_text(given[name], name, "pass a non-empty string")))
        else:
            fix = f"use one of {', '.join(sorted(WORKFLOW_FILTERS))}"
            raise InvalidRequestError(name, "is not a filter of GET /workflows", fix)
    length = canonical_int(page_length)
    if length is None or not 1 <= length <= MAX_WORKFLOW_PAGE_LENGTH:
        problem = f"is {shown_value(page_length)}; Zuora allows 1 to {MAX_WORKFLOW_PAGE_LENGTH}"
        raise InvalidRequestError("page_length", problem, "pass 50 (fewest requests) or less")
    query += [("page", "1"), ("page_length", str(length))]
    return workflow_request("/workflows", query=query, base_url=base_url, **headers)


def prepare_get_workflow(*, base_url: str, workflow_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/{workflow_id}``."""
    workflow = validate_id(workflow_id, "workflow_id")
    return workflow_request("/workflows/{}", (workflow,), base_url=base_url, **headers)


def prepare_delete_workflow(
    *, base_url: str, workflow_id: object, **headers: Any
) -> PreparedRequest:
    """``DELETE /workflows/{workflow_id}``."""
    workflow = validate_id(workflow_id, "workflow_id")
    return workflow_request(
        "/workflows/{}", (workflow,), method="DELETE", base_url=base_url, **headers
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
        body["name"] = checked_text(name, "name", "pass the new name, or None to keep it")
    if description is not None:
        body["description"] = checked_text(
            description, "description", "pass text or None", allow_blank=True
        )
    if status is not None:
        text = str.__str__(status) if isinstance(status, str) else ""
        if text not in (WorkflowStatus.ACTIVE.value, WorkflowStatus.INACTIVE.value):
            fix = "pass 'Active' or 'Inactive' (WorkflowStatus)"
            raise InvalidRequestError("status", f"is {shown_value(status)}", fix)
        body["status"] = text
    if active_version_id is not None:
        body["active_workflow_version_id"] = validate_id(active_version_id, "active_version_id")
    if not body:
        fix = "pass name=, description=, status= or active_version_id="
        raise InvalidRequestError("update_workflow", "nothing to change", fix)
    request = workflow_request(
        "/workflows/{}", (workflow,), method="PATCH", base_url=base_url, **headers
    )
    return with_body(request, body, idempotency_key)


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
        problem = f"expected {field} to be a URL, got {quote(next_page)}"
        raise ResponseDecodeError(problem, field=field)
    try:
        link = urlsplit(next_page.strip())
        pairs = parse_qsl(link.query, keep_blank_values=True)
        query_of = {name for name, _ in pairs}
        sent = parse_qsl(urlsplit(previous.url).query, keep_blank_values=True)
        pairs += [(name, value) for name, value in sent if name not in query_of and name != "page"]
        query = urlencode(pairs)
    except ValueError:  # urlsplit's "Invalid IPv6 URL", a lone surrogate urlencode refuses
        problem = f"{field} is not a URL this client can follow"
        raise ResponseDecodeError(problem, field=field) from None
    base_path = urlsplit(base_url).path.rstrip("/")
    path = link.path[len(base_path) :] if link.path.startswith(base_path + "/") else link.path
    if path != previous.path:
        raise ResponseDecodeError(
            f"{field} points at {quote(link.path)}, not the listing {previous.path!r}", field=field
        )
    return attrs.evolve(previous, url=f"{base_url}{path}" + (f"?{query}" if query else ""))


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
