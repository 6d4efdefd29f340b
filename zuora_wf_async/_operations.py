"""The Workflow definition, task, version and usage operations, over the client's pipeline.

``WorkflowOperations`` is handed the client's ``Pipeline`` (composition: it holds it and
calls ``Pipeline.call``); each method is a pure builder from ``_core.workflows``, a pure
reader, and one call. Retries follow the pipeline's rules: GET, DELETE and the
``batch_update`` PUT are safe to resend; PATCH, rerun and the imports always carry an
Idempotency-Key (a fresh UUID4 unless given), so they are resent under that key only.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import date
from typing import Any, Protocol, TypeVar

from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core import requests as build
from zuora_wf_async._core import task_batches as batches
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core import workflows as core
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import (
    ResponseDecodeError,
    ZuoraError,
)
from zuora_wf_async._models import Task
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._workflow_models import (
    TaskRerunOutcome,
    TaskUpdate,
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
)

__all__ = ["DEFAULT_PREFLIGHT_MAX_AGE", "WorkflowOperations"]

T = TypeVar("T")


class _Page(Protocol):
    @property
    def next_page(self) -> str | None: ...


PageT = TypeVar("PageT", bound=_Page)

#: How long a pre-flight verdict on a workflow is trusted before it is fetched again.
DEFAULT_PREFLIGHT_MAX_AGE = 60.0


def _key_or_new(given: str | None) -> str:
    """The caller's key as given (the builder refuses ``""`` as ``run_workflow`` does), or
    a fresh UUID4 when none was given."""
    return str(uuid.uuid4()) if given is None else given


class WorkflowOperations:
    """The 13 definition/task/version/usage operations plus ``rerun_failed_tasks``."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._preflight: dict[int, tuple[float, str | None]] = {}

    # -- plumbing ---------------------------------------------------------------------

    def _headers(self, track_id: str | None) -> dict[str, Any]:
        return {
            "track_id": None if track_id is None else build.validate_track_id(track_id),
            "entity_ids": self._pipeline.entity_ids,
            "org_ids": self._pipeline.org_ids,
        }

    def _reader(self, read: Callable[..., T]) -> Callable[[RawResponse], T]:
        limit = self._pipeline.max_response_bytes
        return lambda raw: read(raw, max_bytes=limit)

    async def _pages(
        self,
        prepared: PreparedRequest,
        read: Callable[..., PageT],
        retry: RetryPolicy | None,
        operation: str,
    ) -> AsyncIterator[PageT]:
        """Every page of a listing, following ``next_page`` (rebased on ``base_url``); a
        link back to a page already read is a ``ResponseDecodeError``, as in ``iter_tasks``
        (taken as the end, it cut ``rerun_failed_tasks``'s listing short)."""
        request, seen = prepared, {prepared.url}
        while True:
            page = await self._call(request, read, retry, operation)
            yield page
            if page.next_page is None:
                return
            request = core.prepare_rebased_next_page(
                request, page.next_page, base_url=self._pipeline.base_url
            )
            if request.url in seen:
                raise ResponseDecodeError(
                    "pagination.next_page points back to a page already read",
                    field="pagination.next_page",
                    status=200,
                )
            seen.add(request.url)

    async def _call(
        self,
        prepared: PreparedRequest,
        read: Callable[..., T],
        retry: RetryPolicy | None,
        operation: str,
    ) -> T:
        policy = self._pipeline.policy(retry)
        result = await self._pipeline.call(
            prepared, self._reader(read), policy, operation=operation
        )
        value: T = result.value
        return value

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
            base_url=self._pipeline.base_url,
            filters=filters,
            page_length=page_length,
            **self._headers(track_id),
        )
        return self._workflow_pages(prepared, retry)

    async def _workflow_pages(
        self, prepared: PreparedRequest, retry: RetryPolicy | None
    ) -> AsyncIterator[Workflow]:
        async for page in self._pages(
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
            base_url=self._pipeline.base_url, workflow_id=workflow_id, **self._headers(track_id)
        )
        return await self._call(prepared, readers.read_workflow, retry, "get_workflow")

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
            base_url=self._pipeline.base_url,
            workflow_id=workflow_id,
            idempotency_key=_key_or_new(idempotency_key),
            name=name,
            description=description,
            status=status,
            active_version_id=active_version_id,
            **self._headers(track_id),
        )
        # A 422 here is WorkflowValidationError (fields refused), told apart from a reused
        # key's 422 by api_error from the request.
        workflow = await self._call(prepared, readers.read_workflow, retry, "update_workflow")
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
            base_url=self._pipeline.base_url, workflow_id=workflow_id, **self._headers(track_id)
        )
        read = functools.partial(
            readers.read_deleted, deleted_id=core.validate_id(workflow_id, "workflow_id")
        )
        deleted = await self._call(prepared, read, retry, "delete_workflow")
        self._preflight.pop(deleted.id, None)
        return deleted

    # -- tasks --------------------------------------------------------------------------

    async def get_task(
        self, task_id: int | str, *, track_id: str | None = None, retry: RetryPolicy | None = None
    ) -> Task:
        prepared = core.prepare_get_task(
            base_url=self._pipeline.base_url, task_id=task_id, **self._headers(track_id)
        )
        return await self._call(prepared, readers.read_task, retry, "get_task")

    async def rerun_task(
        self,
        task_id: int | str,
        *,
        idempotency_key: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Task:
        prepared = core.prepare_rerun_task(
            base_url=self._pipeline.base_url,
            task_id=task_id,
            idempotency_key=_key_or_new(idempotency_key),
            **self._headers(track_id),
        )
        return await self._call(prepared, readers.read_task, retry, "rerun_task")

    async def update_tasks(
        self,
        updates: Iterable[TaskUpdate | Mapping[str, Any]],
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[Task]:
        """All ``updates`` (checked first), sent 50 to a request, in order.

        A request that fails after others were applied raises ``TaskUpdateError`` with the
        tasks updated so far, the failed request's ids and error, and the ids never sent;
        a failure of the first request raises its own error (nothing was applied).
        """
        chunks = core.chunk_task_updates(updates)
        headers = self._headers(track_id)
        requests = [
            core.prepare_update_tasks(base_url=self._pipeline.base_url, entries=chunk, **headers)
            for chunk in chunks
        ]
        updated: list[Task] = []
        for index, prepared in enumerate(requests):
            try:
                updated += await self._call(prepared, readers.read_tasks, retry, "update_tasks")
            except ZuoraError as error:
                if index == 0:
                    raise
                raise batches.partial_update_error(chunks, index, updated, error) from error
        return updated

    async def get_task_usage(
        self,
        start: date,
        end: date,
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[TaskUsage]:
        prepared = core.prepare_task_usage(
            base_url=self._pipeline.base_url, start=start, end=end, **self._headers(track_id)
        )
        return await self._call(prepared, readers.read_usage, retry, "get_task_usage")

    async def rerun_failed_tasks(
        self,
        run_id: int | str,
        *,
        attempt: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[TaskRerunOutcome]:
        """Rerun every task of the run in ``Error``; one outcome per task, never raising
        halfway once the tasks are listed (a listing that fails, or whose ``next_page``
        loops, raises before any rerun).

        Each rerun's Idempotency-Key names the failure (``core.rerun_key``): the task with
        its failed instance's ``end_time``, or with ``attempt`` when given. A retry of a
        rerun replays it; a task that failed again since gets a new rerun. An answer that
        replays a rerun which started before this failure ended is ``stale_replay``.
        """
        if attempt is not None:
            core.rerun_key(1, attempt=attempt)  # a bad attempt id fails before any request
        failed = [task async for task in self._run_tasks(run_id, track_id, retry) if task.failed]

        async def rerun(task: Task) -> TaskRerunOutcome:
            key = core.rerun_key(task.id, failed_at=task.end_time, attempt=attempt)
            key = key or str(uuid.uuid4())  # no time to name the failure by: a key of its own
            try:
                done = await self.rerun_task(
                    task.id, idempotency_key=key, track_id=track_id, retry=retry
                )
            except ZuoraError as error:
                return TaskRerunOutcome(task_id=task.id, idempotency_key=key, error=error)
            stale = batches.is_stale_replay(task, done)
            return TaskRerunOutcome(
                task_id=task.id, idempotency_key=key, task=done, stale_replay=stale
            )

        return list(await asyncio.gather(*(rerun(task) for task in failed)))

    async def _run_tasks(
        self, run_id: int | str, track_id: str | None, retry: RetryPolicy | None
    ) -> AsyncIterator[Task]:
        query = follow_build.task_query(workflow_run_id=run_id)
        request = follow_build.prepare_tasks(
            base_url=self._pipeline.base_url, query=query, **self._headers(track_id)
        )
        async for page in self._pages(request, readers.read_task_page, retry, "iter_tasks"):
            for task in page.tasks:
                yield task

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
            base_url=self._pipeline.base_url,
            workflow_id=workflow_id,
            version=version,
            **self._headers(track_id),
        )
        return await self._call(prepared, readers.read_export, retry, "export_workflow")

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
            base_url=self._pipeline.base_url,
            export=export,
            idempotency_key=_key_or_new(idempotency_key),
            workflow_id=workflow_id,
            version=version,
            activate=activate,
            **self._headers(track_id),
        )
        return await self._call(prepared, readers.read_workflow, retry, "import_workflow")

    async def list_workflow_versions(
        self,
        workflow_id: int | str,
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[Workflow]:
        prepared = core.prepare_list_versions(
            base_url=self._pipeline.base_url, workflow_id=workflow_id, **self._headers(track_id)
        )
        return await self._call(prepared, readers.read_versions, retry, "list_workflow_versions")

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
            base_url=self._pipeline.base_url,
            workflow_id=workflow_id,
            export=export,
            version=version,
            activate=activate,
            idempotency_key=_key_or_new(idempotency_key),
            **self._headers(track_id),
        )
        workflow = await self._call(
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
            base_url=self._pipeline.base_url, version_id=version_id, **self._headers(track_id)
        )
        read = functools.partial(
            readers.read_deleted, deleted_id=core.validate_id(version_id, "version_id", "113")
        )
        return await self._call(prepared, read, retry, "delete_workflow_version")

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
