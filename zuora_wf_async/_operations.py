"""The definition and version operations of ``WorkflowClient``, and the pre-flight check.

Each is written once, here, as a function of the client that ``WorkflowClient`` takes as
its method (``get_workflow = _operations.get_workflow``): a pure builder from
``_core.definition_requests`` or ``_core.version_requests``, a pure reader, and one call
through ``client._calls``. Retries follow the pipeline's rules: GET and DELETE are safe to
resend; PATCH and the imports always carry an Idempotency-Key (a fresh UUID4 unless
given), so they are resent under that key only.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from zuora_wf_async._core import definition_requests, version_requests, workflow_fields
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._operation_calls import key_or_new
from zuora_wf_async._workflow_models import (
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from zuora_wf_async._client import WorkflowClient

__all__ = [
    "DEFAULT_PREFLIGHT_MAX_AGE",
    "delete_workflow",
    "delete_workflow_version",
    "export_workflow",
    "get_workflow",
    "import_workflow",
    "import_workflow_version",
    "iter_workflows",
    "list_workflow_versions",
    "preflight",
    "update_workflow",
]

#: How long a pre-flight verdict on a workflow is trusted before it is fetched again.
DEFAULT_PREFLIGHT_MAX_AGE = 60.0


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
    prepared = definition_requests.prepare_list_workflows(
        base_url=client._calls.base_url,
        filters=filters,
        page_length=page_length,
        **client._calls.headers(track_id),
    )
    return _workflow_pages(client, prepared, retry)


async def _workflow_pages(
    client: WorkflowClient, prepared: PreparedRequest, retry: RetryPolicy | None
) -> AsyncIterator[Workflow]:
    async for page in client._calls.pages(
        prepared, readers.read_workflow_page, retry, "list_workflows"
    ):
        for workflow in page.workflows:
            yield workflow


async def get_workflow(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Workflow:
    """One definition (``GET /workflows/{id}``): status, triggers, active version."""
    prepared = definition_requests.prepare_get_workflow(
        base_url=client._calls.base_url, workflow_id=workflow_id, **client._calls.headers(track_id)
    )
    return await client._calls.call(prepared, readers.read_workflow, retry, "get_workflow")


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
    prepared = definition_requests.prepare_update_workflow(
        base_url=client._calls.base_url,
        workflow_id=workflow_id,
        idempotency_key=key_or_new(idempotency_key),
        name=name,
        description=description,
        status=status,
        active_version_id=active_version_id,
        **client._calls.headers(track_id),
    )
    # A 422 here is WorkflowValidationError (fields refused), told apart from a reused
    # key's 422 by api_error from the request.
    workflow = await client._calls.call(prepared, readers.read_workflow, retry, "update_workflow")
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
    prepared = definition_requests.prepare_delete_workflow(
        base_url=client._calls.base_url, workflow_id=workflow_id, **client._calls.headers(track_id)
    )
    read = functools.partial(
        readers.read_deleted, deleted_id=workflow_fields.validate_id(workflow_id, "workflow_id")
    )
    deleted = await client._calls.call(prepared, read, retry, "delete_workflow")
    client._preflight.pop(deleted.id, None)
    return deleted


# -- versions, export and import ------------------------------------------------------


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
    prepared = version_requests.prepare_export(
        base_url=client._calls.base_url,
        workflow_id=workflow_id,
        version=version,
        **client._calls.headers(track_id),
    )
    return await client._calls.call(prepared, readers.read_export, retry, "export_workflow")


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
    prepared = version_requests.prepare_import(
        base_url=client._calls.base_url,
        export=export,
        idempotency_key=key_or_new(idempotency_key),
        workflow_id=workflow_id,
        version=version,
        activate=activate,
        **client._calls.headers(track_id),
    )
    return await client._calls.call(prepared, readers.read_workflow, retry, "import_workflow")


async def list_workflow_versions(
    client: WorkflowClient,
    workflow_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> list[Workflow]:
    """Every version of a definition (``GET /workflows/{id}/versions``)."""
    prepared = version_requests.prepare_list_versions(
        base_url=client._calls.base_url, workflow_id=workflow_id, **client._calls.headers(track_id)
    )
    return await client._calls.call(
        prepared, readers.read_versions, retry, "list_workflow_versions"
    )


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
    prepared = version_requests.prepare_import_version(
        base_url=client._calls.base_url,
        workflow_id=workflow_id,
        export=export,
        version=version,
        activate=activate,
        idempotency_key=key_or_new(idempotency_key),
        **client._calls.headers(track_id),
    )
    workflow = await client._calls.call(
        prepared, readers.read_workflow, retry, "import_workflow_version"
    )
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
    prepared = version_requests.prepare_delete_version(
        base_url=client._calls.base_url, version_id=version_id, **client._calls.headers(track_id)
    )
    read = functools.partial(
        readers.read_deleted,
        deleted_id=workflow_fields.validate_id(version_id, "version_id", "113"),
    )
    return await client._calls.call(prepared, read, retry, "delete_workflow_version")


# -- pre-flight ----------------------------------------------------------------------


async def preflight(
    client: WorkflowClient, workflow_id: int | str, *, max_age: float = DEFAULT_PREFLIGHT_MAX_AGE
) -> str | None:
    """Why runs of ``workflow_id`` would all fail, or None; one GET per ``max_age``.

    ``NotFoundError`` (no such workflow) propagates. For ``run_many`` and friends to
    check once before a batch (the wiring is theirs).
    """
    key = workflow_fields.validate_id(workflow_id, "workflow_id")
    now = client._pipeline.clock()
    cached = client._preflight.get(key)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    problem = definition_requests.preflight_problem(await get_workflow(client, key))
    client._preflight[key] = (now, problem)
    return problem
