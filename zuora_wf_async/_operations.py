"""The Workflow definition and version operations, and the pre-flight check, over the
client's pipeline.

``WorkflowOperations`` is handed the client's ``Pipeline`` and calls through
``OperationCalls`` (composition); each method is a pure builder from ``_core.workflows``, a
pure reader, and one call. The task operations are ``self.tasks`` (``_task_operations``).
Retries follow the pipeline's rules: GET, DELETE and the ``batch_update`` PUT are safe to
resend; PATCH, rerun and the imports always carry an Idempotency-Key (a fresh UUID4 unless
given), so they are resent under that key only.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any

from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core import workflows as core
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._operation_calls import OperationCalls, key_or_new
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._task_operations import TaskOperations
from zuora_wf_async._workflow_models import (
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
)

__all__ = ["DEFAULT_PREFLIGHT_MAX_AGE", "WorkflowOperations"]

#: How long a pre-flight verdict on a workflow is trusted before it is fetched again.
DEFAULT_PREFLIGHT_MAX_AGE = 60.0


class WorkflowOperations:
    """The definition and version operations (and ``tasks``: the task operations)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._calls = OperationCalls(pipeline)
        self.tasks = TaskOperations(self._calls)
        self._preflight: dict[int, tuple[float, str | None]] = {}

    # -- definitions --------------------------------------------------------------------

    def iter_workflows(
        self,
        *,
        page_length: int = core.MAX_WORKFLOW_PAGE_LENGTH,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
        **filters: object,
    ) -> AsyncIterator[Workflow]:
        """Every workflow definition matching ``filters``, page after page."""
        prepared = core.prepare_list_workflows(
            base_url=self._calls.base_url,
            filters=filters,
            page_length=page_length,
            **self._calls.headers(track_id),
        )
        return self._workflow_pages(prepared, retry)

    async def _workflow_pages(
        self, prepared: PreparedRequest, retry: RetryPolicy | None
    ) -> AsyncIterator[Workflow]:
        async for page in self._calls.pages(
            prepared, readers.read_workflow_page, retry, "list_workflows"
        ):
            for workflow in page.workflows:
                yield workflow

    async def get_workflow(
        self,
        workflow_id: int | str,
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        prepared = core.prepare_get_workflow(
            base_url=self._calls.base_url, workflow_id=workflow_id, **self._calls.headers(track_id)
        )
        return await self._calls.call(prepared, readers.read_workflow, retry, "get_workflow")

    async def update_workflow(
        self,
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
        prepared = core.prepare_update_workflow(
            base_url=self._calls.base_url,
            workflow_id=workflow_id,
            idempotency_key=key_or_new(idempotency_key),
            name=name,
            description=description,
            status=status,
            active_version_id=active_version_id,
            **self._calls.headers(track_id),
        )
        # A 422 here is WorkflowValidationError (fields refused), told apart from a reused
        # key's 422 by api_error from the request.
        workflow = await self._calls.call(prepared, readers.read_workflow, retry, "update_workflow")
        self._preflight.pop(workflow.id, None)
        return workflow

    async def delete_workflow(
        self,
        workflow_id: int | str,
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowDeletion:
        prepared = core.prepare_delete_workflow(
            base_url=self._calls.base_url, workflow_id=workflow_id, **self._calls.headers(track_id)
        )
        read = functools.partial(
            readers.read_deleted, deleted_id=core.validate_id(workflow_id, "workflow_id")
        )
        deleted = await self._calls.call(prepared, read, retry, "delete_workflow")
        self._preflight.pop(deleted.id, None)
        return deleted

    # -- versions, export and import ------------------------------------------------------

    async def export_workflow(
        self,
        workflow_id: int | str,
        *,
        version: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowExport:
        """One version as an export: the *active* one unless ``version`` (``"latest"``, or
        a number such as ``"0.0.2"``) is given; without it no ``version`` is sent, and
        Zuora exports the active version, as its document says."""
        prepared = core.prepare_export(
            base_url=self._calls.base_url,
            workflow_id=workflow_id,
            version=version,
            **self._calls.headers(track_id),
        )
        return await self._calls.call(prepared, readers.read_export, retry, "export_workflow")

    async def import_workflow(
        self,
        export: WorkflowExport | Mapping[str, Any],
        *,
        workflow_id: int | str | None = None,
        version: str | None = None,
        activate: bool | None = None,
        idempotency_key: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        prepared = core.prepare_import(
            base_url=self._calls.base_url,
            export=export,
            idempotency_key=key_or_new(idempotency_key),
            workflow_id=workflow_id,
            version=version,
            activate=activate,
            **self._calls.headers(track_id),
        )
        return await self._calls.call(prepared, readers.read_workflow, retry, "import_workflow")

    async def list_workflow_versions(
        self,
        workflow_id: int | str,
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[Workflow]:
        prepared = core.prepare_list_versions(
            base_url=self._calls.base_url, workflow_id=workflow_id, **self._calls.headers(track_id)
        )
        return await self._calls.call(
            prepared, readers.read_versions, retry, "list_workflow_versions"
        )

    async def import_workflow_version(
        self,
        workflow_id: int | str,
        export: WorkflowExport | Mapping[str, Any],
        *,
        version: str,
        activate: bool | None = None,
        idempotency_key: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        prepared = core.prepare_import_version(
            base_url=self._calls.base_url,
            workflow_id=workflow_id,
            export=export,
            version=version,
            activate=activate,
            idempotency_key=key_or_new(idempotency_key),
            **self._calls.headers(track_id),
        )
        workflow = await self._calls.call(
            prepared, readers.read_workflow, retry, "import_workflow_version"
        )
        self._preflight.pop(workflow.id, None)
        return workflow

    async def delete_workflow_version(
        self,
        version_id: int | str,
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowDeletion:
        prepared = core.prepare_delete_version(
            base_url=self._calls.base_url, version_id=version_id, **self._calls.headers(track_id)
        )
        read = functools.partial(
            readers.read_deleted, deleted_id=core.validate_id(version_id, "version_id", "113")
        )
        return await self._calls.call(prepared, read, retry, "delete_workflow_version")

    # -- pre-flight ----------------------------------------------------------------------

    async def preflight(
        self, workflow_id: int | str, *, max_age: float = DEFAULT_PREFLIGHT_MAX_AGE
    ) -> str | None:
        """Why runs of ``workflow_id`` would all fail, or None; one GET per ``max_age``.

        ``NotFoundError`` (no such workflow) propagates. For ``run_many`` and friends to
        check once before a batch (the wiring is theirs).
        """
        key = core.validate_id(workflow_id, "workflow_id")
        now = self._pipeline.clock()
        cached = self._preflight.get(key)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        problem = core.preflight_problem(await self.get_workflow(key))
        self._preflight[key] = (now, problem)
        return problem
