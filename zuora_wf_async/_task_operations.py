"""The task operations: get and rerun one task, update many, count usage, rerun a run's
failed tasks.

``TaskOperations`` is handed the client's ``OperationCalls``; each method is a pure
builder from ``_core.workflows``, a pure reader and one call, and the two that act on many
tasks take their decisions from ``_core.task_batches``. A rerun always carries an
Idempotency-Key and is resent under that key only; ``batch_update`` is safe to resend.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import date
from typing import Any

from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core import task_batches as batches
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core import workflows as core
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._models import Task
from zuora_wf_async._operation_calls import OperationCalls, key_or_new
from zuora_wf_async._workflow_models import TaskRerunOutcome, TaskUpdate, TaskUsage

__all__ = ["TaskOperations"]


class TaskOperations:
    """``get_task``, ``rerun_task``, ``update_tasks``, ``get_task_usage`` and
    ``rerun_failed_tasks``."""

    def __init__(self, calls: OperationCalls) -> None:
        self._calls = calls

    async def get_task(
        self, task_id: int | str, *, track_id: str | None = None, retry: RetryPolicy | None = None
    ) -> Task:
        prepared = core.prepare_get_task(
            base_url=self._calls.base_url, task_id=task_id, **self._calls.headers(track_id)
        )
        return await self._calls.call(prepared, readers.read_task, retry, "get_task")

    async def rerun_task(
        self,
        task_id: int | str,
        *,
        idempotency_key: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Task:
        prepared = core.prepare_rerun_task(
            base_url=self._calls.base_url,
            task_id=task_id,
            idempotency_key=key_or_new(idempotency_key),
            **self._calls.headers(track_id),
        )
        return await self._calls.call(prepared, readers.read_task, retry, "rerun_task")

    async def update_tasks(
        self,
        updates: Iterable[TaskUpdate | Mapping[str, Any]],
        *,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[Task]:
        """All ``updates`` (checked first), sent 50 to a request, in order.

        When the updates take several requests and one fails, ``TaskUpdateError`` says
        which tasks the earlier requests updated, the failed request's ids and error, and
        the ids never sent; a call of one request raises that request's own error.
        """
        chunks = core.chunk_task_updates(updates)
        headers = self._calls.headers(track_id)
        requests = [
            core.prepare_update_tasks(base_url=self._calls.base_url, entries=chunk, **headers)
            for chunk in chunks
        ]
        updated: list[Task] = []
        for index, prepared in enumerate(requests):
            try:
                updated += await self._calls.call(
                    prepared, readers.read_tasks, retry, "update_tasks"
                )
            except ZuoraError as error:
                if len(requests) == 1:
                    raise  # one request: its own error says it all
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
            base_url=self._calls.base_url, start=start, end=end, **self._calls.headers(track_id)
        )
        return await self._calls.call(prepared, readers.read_usage, retry, "get_task_usage")

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
            base_url=self._calls.base_url, query=query, **self._calls.headers(track_id)
        )
        async for page in self._calls.pages(request, readers.read_task_page, retry, "iter_tasks"):
            for task in page.tasks:
                yield task
