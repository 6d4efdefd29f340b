"""The Workflow API's task operations, each written once as in ``_operations``: get and
rerun one task, update many, count usage, rerun a run's failed tasks. The two that act on
many tasks take their decisions from ``_core.task_batches``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core import task_batches, task_requests
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._models import Task
from zuora_wf_async._operations import call, key_or_new, pages, target
from zuora_wf_async._workflow_models import TaskRerunOutcome, TaskUpdate, TaskUsage

if TYPE_CHECKING:
    from zuora_wf_async._client import WorkflowClient


def iter_tasks(
    client: WorkflowClient,
    *,
    workflow_run_id: int | str | None = None,
    page_length: int = follow_build.MAX_PAGE_LENGTH,
    page: int = 1,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
    **filters: object,
) -> AsyncIterator[Task]:
    """Every task matching the filters, page after page (``GET /workflows/tasks``).

    ``workflow_run_id`` lists one run's tasks (Zuora's ``workflow_id`` filter). Other
    filters: ``id``, ``name``, ``action_type``, ``object``, ``object_id``,
    ``call_type``, ``workflow_id`` (str or int), ``instance`` (bool), ``tags`` (a list;
    a task with any of them matches). Pages of ``page_length`` (1..100) tasks are
    fetched as the iteration reaches them, following ``pagination.next_page``: its path
    and query are re-issued against the client's own ``base_url`` (Zuora builds the
    link on a canonical host; the token never goes anywhere else), and a link to
    another path is refused with ``ResponseDecodeError``.

    The arguments are checked when this is called, before anything is sent::

        async for task in zuora.iter_tasks(workflow_run_id=run.id):
            if task.failed:
                print(task.name, task.error_class, task.error)
    """
    query = follow_build.task_query(
        workflow_run_id=workflow_run_id, filters=filters, page=page, page_length=page_length
    )
    request = follow_build.prepare_tasks(query=query, **target(client._pipeline, track_id))
    # The reader ends the listing at an empty page even if it names a next one.
    listing = pages(client._pipeline, request, readers.read_task_page, retry, "iter_tasks")
    return (task async for page in listing for task in page.items)


async def get_task(
    client: WorkflowClient,
    task_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Task:
    """One task (``GET /workflows/tasks/{id}``)."""
    where = target(client._pipeline, track_id)
    request = task_requests.prepare_get_task(task_id=task_id, **where)
    return await call(client._pipeline, request, readers.read_task, retry, "get_task")


async def rerun_task(
    client: WorkflowClient,
    task_id: int | str,
    *,
    idempotency_key: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> Task:
    """Run one task again (``POST /workflows/tasks/{id}/rerun``) under an Idempotency-Key."""
    request = task_requests.prepare_rerun_task(
        task_id=task_id,
        idempotency_key=key_or_new(idempotency_key),
        **target(client._pipeline, track_id),
    )
    return await call(client._pipeline, request, readers.read_task, retry, "rerun_task")


async def update_tasks(
    client: WorkflowClient,
    updates: Iterable[TaskUpdate | Mapping[str, Any]],
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> list[Task]:
    """Update tasks (``PUT /workflows/tasks/batch_update``): all ``updates`` (checked
    first), sent 50 to a request, in order.

    When the updates take several requests and one fails, ``TaskUpdateError`` says
    which tasks the earlier requests updated, the failed request's ids and error, and
    the ids never sent; a call of one request raises that request's own error.
    """
    chunks = task_requests.chunk_task_updates(updates)
    where = target(client._pipeline, track_id)
    requests = [task_requests.prepare_update_tasks(entries=chunk, **where) for chunk in chunks]
    updated: list[Task] = []
    for index, request in enumerate(requests):
        try:
            updated += await call(
                client._pipeline, request, readers.read_tasks, retry, "update_tasks"
            )
        except ZuoraError as error:
            if len(requests) == 1:
                raise  # one request: its own error says it all
            raise task_batches.partial_update_error(chunks, index, updated, error) from error
    return updated


async def get_task_usage(
    client: WorkflowClient,
    start: date,
    end: date,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> list[TaskUsage]:
    """Task runs per day from ``start`` to ``end`` (``GET /workflows/metrics.json``)."""
    where = target(client._pipeline, track_id)
    request = task_requests.prepare_task_usage(start=start, end=end, **where)
    return await call(client._pipeline, request, readers.read_usage, retry, "get_task_usage")


async def rerun_failed_tasks(
    client: WorkflowClient,
    run_id: int | str,
    *,
    attempt: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> list[TaskRerunOutcome]:
    """Rerun every task of the run that is in ``Error``: one outcome per task, never
    raising halfway once the tasks are listed (a listing that fails, or whose
    ``next_page`` loops, raises before any rerun).

    Each key names the failure (the task and its failed instance's ``end_time``, or
    ``attempt`` when given): a retry is deduplicated, a task that failed again gets a new
    rerun. An answer that replays a rerun which started before this failure ended is
    ``stale_replay``.
    """
    if attempt is not None:
        task_requests.rerun_key(1, attempt=attempt)  # a bad attempt id fails before any request
    listing = iter_tasks(client, workflow_run_id=run_id, track_id=track_id, retry=retry)
    failed = [task async for task in listing if task.failed]

    async def rerun(task: Task) -> TaskRerunOutcome:
        # Without a time to name the failure by, the rerun gets a fresh key of its own.
        key = key_or_new(task_requests.rerun_key(task.id, failed_at=task.end_time, attempt=attempt))
        try:
            done = await rerun_task(
                client, task.id, idempotency_key=key, track_id=track_id, retry=retry
            )
        except ZuoraError as error:
            return TaskRerunOutcome(task_id=task.id, idempotency_key=key, error=error)
        stale = task_batches.is_stale_replay(task, done)
        return TaskRerunOutcome(task_id=task.id, idempotency_key=key, task=done, stale_replay=stale)

    return list(await asyncio.gather(*(rerun(task) for task in failed)))
