"""Following runs to their end: get, wait, stop, and the tasks of a run.

``RunFollower`` is handed the client's ``Pipeline``; every request goes through
``Pipeline.call`` (its limiter, token, retries), so a poll is paced and retried like any
other request.

Polls have a budget of their own on top of the shared limiter: an ``asyncio.Semaphore`` of
``poll_concurrency`` permits (default ``max(1, max_concurrency // 4)``), made on the first
poll. A batch settling thousands of runs therefore holds at most that many of the client's
slots, and new runs always find the rest free. A poll holds its permit through its own
retries (so polling slows down when Zuora struggles) but never while it sleeps between polls.

A wait's ``timeout`` bounds all of it: the wait for a permit, each poll and its retries
end by the wait's deadline (the poll made at the deadline gets ``LAST_POLL_SECONDS``).
When the deadline is what ends a permit wait or a failing poll, the wait ends with
``RunWaitTimeoutError``, the poll's failure as its ``__cause__``; a final verdict (a 404)
or a poll that used up its attempts early ends it as itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from zuora_wf_async._call import CallerDeadlinePassed
from zuora_wf_async._converter import decode
from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core import requests as build
from zuora_wf_async._core import workflows as workflows_build
from zuora_wf_async._core.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    PENDING_WHY,
    PollPlan,
    poll_budget,
    poll_ends_by,
)
from zuora_wf_async._core.redact import quote
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import (
    InvalidRequestError,
    ResponseDecodeError,
    ZuoraError,
)
from zuora_wf_async._models import Task, WorkflowRunDetail
from zuora_wf_async._pipeline import Pipeline

__all__ = ["RunFollower"]

logger = logging.getLogger("zuora_wf_async")

T = TypeVar("T")


@attrs.frozen
class _TaskPage:
    tasks: tuple[Task, ...]
    next_page: str | None


@attrs.frozen
class _RanOut:
    """The wait's deadline ended a poll: its last failure (``error``), or, with no
    failure, the wait for a poll permit (``permits_held`` of them, all taken)."""

    error: ZuoraError | None
    permits_held: int | None = None


def _read_task_page(body: Any, status: int) -> _TaskPage:
    if not isinstance(body, Mapping) or not isinstance(body.get("data", []), list):
        raise ResponseDecodeError(
            "expected a JSON object with a `data` list of tasks", field="data", status=status
        )
    tasks = []
    for index, item in enumerate(body.get("data") or []):
        try:
            tasks.append(decode(item, Task, status=status))
        except ResponseDecodeError as exc:
            raise ResponseDecodeError(
                f"data[{index}]: {exc}", field=f"data[{index}].{exc.field}", status=status
            ) from None
    pagination = body.get("pagination")
    next_page = pagination.get("next_page") if isinstance(pagination, Mapping) else None
    # The last page may omit next_page or send it as null or ""; all three end the listing.
    return _TaskPage(tuple(tasks), next_page if next_page else None)


class RunFollower:
    """``get_run``, ``stop_run``, ``wait_for_run(s)`` and ``iter_tasks`` over a pipeline."""

    def __init__(self, pipeline: Pipeline, *, poll_concurrency: int | None) -> None:
        self._pipeline = pipeline
        # Checked here, when the client is built: a bad value fails at construction.
        self.poll_budget = poll_budget(pipeline.max_concurrency, poll_concurrency)
        self._poll_gate: asyncio.Semaphore | None = None

    def _poll_slots(self) -> asyncio.Semaphore:
        if self._poll_gate is None:
            self._poll_gate = asyncio.Semaphore(self.poll_budget)
        return self._poll_gate

    # -- one run -----------------------------------------------------------------------

    async def get_run(
        self, run_id: int | str, *, track_id: str | None = None, retry: RetryPolicy | None = None
    ) -> WorkflowRunDetail:
        """``WorkflowClient.get_run`` (documented there): the client delegates here."""
        valid = follow_build.validate_run_id(run_id)
        track = None if track_id is None else build.validate_track_id(track_id)
        return await self._fetch_run(valid, self._pipeline.policy(retry), track)

    async def stop_run(
        self, run_id: int | str, *, track_id: str | None = None, retry: RetryPolicy | None = None
    ) -> bool:
        """``WorkflowClient.stop_run`` (documented there): the client delegates here."""
        valid = follow_build.validate_run_id(run_id)
        track = None if track_id is None else build.validate_track_id(track_id)
        policy = self._pipeline.policy(retry)
        prepared = follow_build.prepare_stop(
            base_url=self._pipeline.base_url,
            run_id=valid,
            track_id=track,
            entity_ids=self._pipeline.entity_ids,
            org_ids=self._pipeline.org_ids,
        )

        def read(raw: RawResponse) -> bool:
            body = read_json(raw, max_bytes=self._pipeline.max_response_bytes)
            success = body.get("success") if isinstance(body, Mapping) else None
            if not isinstance(success, bool):
                raise ResponseDecodeError(
                    f"expected {{'success': true|false}} from the stop call, got {quote(body)}",
                    field="success",
                    status=raw.status,
                )
            return success

        result = await self._pipeline.call(prepared, read, policy, operation="stop_run")
        stopped: bool = result.value
        return stopped

    async def wait_for_run(
        self,
        run_id: int | str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        retry: RetryPolicy | None = None,
        until_pending: bool = False,
    ) -> WorkflowRunDetail:
        """``WorkflowClient.wait_for_run`` (documented there): the client delegates here."""
        valid = follow_build.validate_run_id(run_id)
        plan = PollPlan.checked(
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            until_pending=until_pending,
        )
        return await self.settle(valid, plan, self._pipeline.policy(retry))

    # -- many runs ---------------------------------------------------------------------

    async def wait_for_runs(
        self,
        run_ids: Iterable[int | str],
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        retry: RetryPolicy | None = None,
        until_pending: bool = False,
        return_exceptions: bool = False,
    ) -> list[WorkflowRunDetail] | list[WorkflowRunDetail | ZuoraError]:
        """``WorkflowClient.wait_for_runs`` (documented there): the client delegates here."""
        if isinstance(run_ids, str | bytes):
            raise InvalidRequestError(
                "run_ids", "expected a list of run ids, got a single string", "pass [run_id]"
            )
        ids = [
            follow_build.validate_run_id(run_id, f"run_ids[{i}]")
            for i, run_id in enumerate(run_ids)
        ]
        plan = PollPlan.checked(
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            until_pending=until_pending,
        )
        policy = self._pipeline.policy(retry)

        async def settle(run_id: int) -> WorkflowRunDetail | ZuoraError:
            try:
                return await self.settle(run_id, plan, policy)
            except ZuoraError as exc:
                return exc

        # A TaskGroup, not gather: an unexpected error (a bug, not a ZuoraError) cancels the
        # other waits instead of leaving them polling in the background.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(settle(run_id)) for run_id in ids]
        results = [task.result() for task in tasks]
        if return_exceptions:
            return results
        details: list[WorkflowRunDetail] = []
        for result in results:
            if isinstance(result, ZuoraError):
                raise result
            details.append(result)
        return details

    # -- tasks -------------------------------------------------------------------------

    def iter_tasks(
        self,
        *,
        workflow_run_id: int | str | None = None,
        page_length: int = follow_build.MAX_PAGE_LENGTH,
        page: int = 1,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
        **filters: object,
    ) -> AsyncIterator[Task]:
        """``WorkflowClient.iter_tasks`` (documented there): the client delegates here."""
        query = follow_build.task_query(
            workflow_run_id=workflow_run_id, filters=filters, page=page, page_length=page_length
        )
        track = None if track_id is None else build.validate_track_id(track_id)
        policy = self._pipeline.policy(retry)
        prepared = follow_build.prepare_tasks(
            base_url=self._pipeline.base_url,
            query=query,
            track_id=track,
            entity_ids=self._pipeline.entity_ids,
            org_ids=self._pipeline.org_ids,
        )
        return self._task_pages(prepared, policy)

    async def _task_pages(
        self, prepared: PreparedRequest, policy: RetryPolicy
    ) -> AsyncIterator[Task]:
        request = prepared
        fetched: set[str] = set()
        while True:
            fetched.add(request.url)
            page = await self._fetch_task_page(request, policy)
            for task in page.tasks:
                yield task
            # An empty page ends the listing even if it names a next one: a server that
            # always sends next_page must not make this loop forever.
            if page.next_page is None or not page.tasks:
                return
            # Zuora builds next_page on a canonical host that need not be the tenant's: its
            # path and query are re-issued against base_url, so the token stays there.
            request = workflows_build.prepare_rebased_next_page(
                request, page.next_page, base_url=self._pipeline.base_url
            )
            if request.url in fetched:
                raise ResponseDecodeError(
                    f"pagination.next_page points back to a page already read ({request.path})",
                    field="pagination.next_page",
                    status=200,
                )

    async def _fetch_task_page(self, prepared: PreparedRequest, policy: RetryPolicy) -> _TaskPage:
        def read(raw: RawResponse) -> _TaskPage:
            body = read_json(raw, max_bytes=self._pipeline.max_response_bytes)
            return _read_task_page(body, raw.status)

        page: _TaskPage = (
            await self._pipeline.call(prepared, read, policy, operation="iter_tasks")
        ).value
        return page

    # -- the polling loop --------------------------------------------------------------

    async def _fetch_run(
        self,
        run_id: int,
        policy: RetryPolicy,
        track_id: str | None = None,
        *,
        stop_at: float = math.inf,
    ) -> WorkflowRunDetail:
        prepared = follow_build.prepare_run_detail(
            base_url=self._pipeline.base_url,
            run_id=run_id,
            track_id=track_id,
            entity_ids=self._pipeline.entity_ids,
            org_ids=self._pipeline.org_ids,
        )

        def read(raw: RawResponse) -> WorkflowRunDetail:
            body = read_json(raw, max_bytes=self._pipeline.max_response_bytes)
            return decode(body, WorkflowRunDetail, status=raw.status)

        result = await self._pipeline.call(
            prepared, read, policy, operation="get_run", stop_at=stop_at
        )
        detail: WorkflowRunDetail = result.value
        return detail

    async def settle(self, run_id: int, plan: PollPlan, policy: RetryPolicy) -> WorkflowRunDetail:
        """``_settle`` inside a ``wait_for_run`` span (OpenTelemetry), its polls as children."""
        with self._pipeline.telemetry.span("wait_for_run", {"zuora.run.id": run_id}):
            return await self._settle(run_id, plan, policy)

    async def _settle(self, run_id: int, plan: PollPlan, policy: RetryPolicy) -> WorkflowRunDetail:
        """Poll ``run_id`` (already validated) under the poll budget until it ends.

        For batch callers: check the options once with ``PollPlan.checked(...)`` and the
        retry policy with ``_policy(retry)``, then settle each run with this.
        """
        started = self._pipeline.clock()
        deadline = plan.deadline(started)
        polls = 0
        last: WorkflowRunDetail | None = None
        said_pending = False
        while True:
            detail = await self._poll(run_id, policy, deadline)
            if isinstance(detail, _RanOut):
                raise plan.timed_out(
                    run_id,
                    elapsed=self._pipeline.clock() - started,
                    polls=polls,
                    last=last,
                    failure=detail.error,
                    permits_held=detail.permits_held,
                ) from detail.error
            polls += 1
            last = detail
            if plan.is_done(terminal=detail.is_terminal, pending=detail.is_pending):
                return detail
            if detail.is_pending and not said_pending:
                # Once per wait: a run can pend for days, and a log line per poll would bury
                # the rest.
                said_pending = True
                logger.info(
                    "run %d (%s) is pending rather than running: %s; still waiting "
                    "(until_pending=True stops a wait here)",
                    run_id,
                    detail.name,
                    PENDING_WHY,
                )
            wait = plan.next_wait(
                polls - 1,
                now=self._pipeline.clock(),
                deadline=deadline,
                random=self._pipeline.random,
            )
            if wait is None:
                elapsed = self._pipeline.clock() - started
                raise plan.timed_out(run_id, elapsed=elapsed, polls=polls, last=detail)
            await self._pipeline.sleep(wait)

    async def _poll(
        self, run_id: int, policy: RetryPolicy, deadline: float
    ) -> WorkflowRunDetail | _RanOut:
        """One poll under a permit, both ending by the wait's ``deadline`` (module doc);
        ``_RanOut`` when that deadline ended the wait for the permit or the poll."""
        ends_by = poll_ends_by(self._pipeline.clock(), deadline)
        permits = self._poll_slots()
        if permits.locked():
            # The permit frees when another wait's poll ends, not through the injected
            # sleep: the wait for it runs on the loop's clock, for the time the client's
            # clock says is left (as the limiter's slot waits do).
            time_left = ends_by - self._pipeline.clock()
            try:
                async with asyncio.timeout(None if math.isinf(time_left) else time_left):
                    await permits.acquire()
            except TimeoutError:
                return _RanOut(None, self.poll_budget)
        else:
            await permits.acquire()  # free: returns without suspending
        try:
            return await self._fetch_run(run_id, policy, stop_at=ends_by)
        except CallerDeadlinePassed as passed:
            return _RanOut(passed.error)
        finally:
            permits.release()
