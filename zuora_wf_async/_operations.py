"""The Workflow API's operations on definitions and versions, each written once, and the
``call`` they and the task operations (``_task_operations``) share.

Each is a function of the client that ``WorkflowClient`` takes as its method
(``get_workflow = _operations.get_workflow``): a pure ``_core`` builder makes the request,
``call`` sends it through the call path with a pure ``workflow_readers`` reader. Retries
follow the pipeline's rules: GET, PUT and DELETE are safe to resend; PATCH and POST always
carry an Idempotency-Key (a fresh UUID4 unless given) and are resent under that key only.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from zuora_wf_async._core import definition_requests, version_requests
from zuora_wf_async._core import requests as build
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._workflow_models import (
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from zuora_wf_async._client import WorkflowClient

T = TypeVar("T")

#: How long a pre-flight verdict on a workflow is trusted before it is fetched again.
DEFAULT_PREFLIGHT_MAX_AGE = 60.0


def target(pipeline: Pipeline, track_id: str | None) -> dict[str, Any]:
    """The keywords every builder takes: where to send, and the optional headers."""
    return {
        "base_url": pipeline.settings.base_url,
        "track_id": None if track_id is None else build.validate_track_id(track_id),
        "entity_ids": pipeline.settings.entity_ids,
        "org_ids": pipeline.settings.org_ids,
    }


async def call(
    pipeline: Pipeline,
    request: PreparedRequest,
    read: Callable[..., T],
    retry: RetryPolicy | None,
    operation: str,
    *,
    stop_at: float = math.inf,
) -> T:
    """Send ``request`` through the call path (limiter, token, retries); ``read`` its answer."""
    limit = pipeline.settings.max_response_bytes
    result = await pipeline.call(
        request,
        lambda raw: read(raw, max_bytes=limit),
        pipeline.policy(retry),
        operation=operation,
        stop_at=stop_at,
    )
    value: T = result.value
    return value


async def pages(
    pipeline: Pipeline,
    request: PreparedRequest,
    read: Callable[..., readers.Page[T]],
    retry: RetryPolicy | None,
    operation: str,
) -> AsyncIterator[readers.Page[T]]:
    """Every page of a listing, following ``next_page`` (rebased on ``base_url``). A link
    back to a page already read is a ``ResponseDecodeError``: taken as the end, it once cut
    ``rerun_failed_tasks``'s listing short."""
    seen = {request.url}
    while True:
        page = await call(pipeline, request, read, retry, operation)
        yield page
        if page.next_page is None:
            return
        request = definition_requests.prepare_rebased_next_page(
            request, page.next_page, base_url=pipeline.settings.base_url
        )
        if request.url in seen:
            raise ResponseDecodeError(
                "pagination.next_page points back to a page already read",
                field="pagination.next_page",
                status=200,
            )
        seen.add(request.url)


def key_or_new(given: str | None) -> str:
    # The builder refuses "" as run_workflow does; None asks for a fresh key.
    return str(uuid.uuid4()) if given is None else given


# -- definitions -----------------------------------------------------------------------


def iter_workflows(
    client: WorkflowClient,
    *,
    page_length: int = definition_requests.MAX_WORKFLOW_PAGE_LENGTH,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
    **filters: object,
) -> AsyncIterator[Workflow]:
    """Every workflow definition, page after page (``GET /workflows``).

    Filters: ``name``, ``interval`` (a cron text), ``callout_trigger``,
    ``ondemand_trigger``, ``scheduled_trigger`` (bools). ``page_length`` is 1..50.
    """
    request = definition_requests.prepare_list_workflows(
        filters=filters, page_length=page_length, **target(client._pipeline, track_id)
    )
    listing = pages(client._pipeline, request, readers.read_workflow_page, retry, "list_workflows")
    return (workflow async for page in listing for workflow in page.items)


async def get_workflow(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Workflow:
    """One definition (``GET /workflows/{id}``): status, triggers, active version."""
    where = target(client._pipeline, track_id)
    request = definition_requests.prepare_get_workflow(workflow_id=workflow_id, **where)
    return await call(client._pipeline, request, readers.read_workflow, retry, "get_workflow")


async def update_workflow(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    name: str | None = None,
    description: str | None = None,
    status: WorkflowStatus | str | None = None,
    active_version_id: int | str | None = None,
    idempotency_key: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Workflow:
    """Change a definition (``PATCH``): rename, ``status="Inactive"`` to switch it off,
    or ``active_version_id=`` to switch the version runs use."""
    request = definition_requests.prepare_update_workflow(
        workflow_id=workflow_id,
        idempotency_key=key_or_new(idempotency_key),
        name=name,
        description=description,
        status=status,
        active_version_id=active_version_id,
        **target(client._pipeline, track_id),
    )
    # A 422 here is WorkflowValidationError (fields refused), told apart from a reused
    # key's 422 by api_error from the request.
    workflow = await call(
        client._pipeline, request, readers.read_workflow, retry, "update_workflow"
    )
    client._preflight.pop(workflow.id, None)
    return workflow


async def delete_workflow(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> WorkflowDeletion:
    """Delete a definition and all its versions (``DELETE /workflows/{id}``); Zuora's
    answer: the id deleted and ``success``."""
    where = target(client._pipeline, track_id)
    request = definition_requests.prepare_delete_workflow(workflow_id=workflow_id, **where)
    named = build.validate_id(workflow_id, "workflow_id")
    read = functools.partial(readers.read_deleted, deleted_id=named)
    deleted = await call(client._pipeline, request, read, retry, "delete_workflow")
    client._preflight.pop(deleted.id, None)
    return deleted


async def preflight(
    client: WorkflowClient, workflow_id: int | str, *, max_age: float = DEFAULT_PREFLIGHT_MAX_AGE
) -> str | None:
    """Why runs of ``workflow_id`` would all fail, or None; one GET per ``max_age``, for a
    batch to check once before its first run. ``NotFoundError`` propagates."""
    key = build.validate_id(workflow_id, "workflow_id")
    now = client._pipeline.settings.clock()
    cached = client._preflight.get(key)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    problem = definition_requests.preflight_problem(await get_workflow(client, key))
    client._preflight[key] = (now, problem)
    return problem


# -- versions, export and import -------------------------------------------------------


async def export_workflow(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    version: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> WorkflowExport:
    """One version as an export (``GET /workflows/{id}/export``): the *active* one
    unless ``version`` (``"latest"``, or a number such as ``"0.0.2"``) is given; without
    it no ``version`` is sent, and Zuora exports the active version, as its document
    says."""
    where = target(client._pipeline, track_id)
    request = version_requests.prepare_export(workflow_id=workflow_id, version=version, **where)
    return await call(client._pipeline, request, readers.read_export, retry, "export_workflow")


async def import_workflow(
    client: WorkflowClient,
    export: WorkflowExport | Mapping[str, Any],
    *,
    workflow_id: int | str | None = None,
    version: str | None = None,
    activate: bool | None = None,
    idempotency_key: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Workflow:
    """Import an export (``POST /workflows/import``): a new definition, or with
    ``workflow_id=`` a new version of that one."""
    request = version_requests.prepare_import(
        export=export,
        idempotency_key=key_or_new(idempotency_key),
        workflow_id=workflow_id,
        version=version,
        activate=activate,
        **target(client._pipeline, track_id),
    )
    return await call(client._pipeline, request, readers.read_workflow, retry, "import_workflow")


async def list_workflow_versions(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> list[Workflow]:
    """Every version of a definition (``GET /workflows/{id}/versions``)."""
    where = target(client._pipeline, track_id)
    request = version_requests.prepare_list_versions(workflow_id=workflow_id, **where)
    read = readers.read_versions
    return await call(client._pipeline, request, read, retry, "list_workflow_versions")


async def import_workflow_version(
    client: WorkflowClient,
    workflow_id: int | str,
    export: WorkflowExport | Mapping[str, Any],
    *,
    version: str,
    activate: bool | None = None,
    idempotency_key: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Workflow:
    """Add ``export`` as version ``version`` (``POST /workflows/{id}/versions/import``)."""
    request = version_requests.prepare_import_version(
        workflow_id=workflow_id,
        export=export,
        version=version,
        activate=activate,
        idempotency_key=key_or_new(idempotency_key),
        **target(client._pipeline, track_id),
    )
    read = readers.read_workflow
    workflow = await call(client._pipeline, request, read, retry, "import_workflow_version")
    client._preflight.pop(workflow.id, None)
    return workflow


async def delete_workflow_version(
    client: WorkflowClient,
    version_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> WorkflowDeletion:
    """Delete a version (``DELETE /workflows/versions/{id}``); the active one is a 403."""
    where = target(client._pipeline, track_id)
    request = version_requests.prepare_delete_version(version_id=version_id, **where)
    named = build.validate_id(version_id, "version_id", "113")
    read = functools.partial(readers.read_deleted, deleted_id=named)
    return await call(client._pipeline, request, read, retry, "delete_workflow_version")
