"""Following runs to their end: ``get_run``, ``stop_run``, ``wait_for_run(s)``.

Each of those is written once, here, as a function of the client that ``WorkflowClient``
takes as its method. ``RunFollower`` is the polling they share with ``run_and_wait`` and a
batch's ``wait=True``: handed the client's ``Pipeline``, it sends every poll through
``Pipeline.call`` (limiter, token, retries), so a poll is paced and retried like any other
request.

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
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal, TypeVar, overload

import attrs

from zuora_wf_async._call import CallerDeadlinePassed
from zuora_wf_async._converter import decode
from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core import requests as build
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
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import (
    ResponseDecodeError,
    ZuoraError,
)
from zuora_wf_async._models import WorkflowRunDetail
from zuora_wf_async._options import run_id_list
from zuora_wf_async._pipeline import Pipeline

if TYPE_CHECKING:
    from zuora_wf_async._client import WorkflowClient

__all__ = ["RunFollower", "get_run", "stop_run", "wait_for_run", "wait_for_runs"]

logger = logging.getLogger("zuora_wf_async")

T = TypeVar("T")


@attrs.frozen
class _RanOut:
    """The wait's deadline ended a poll: its last failure (``error``), or, with no
    failure, the wait for a poll permit (``permits_held`` of them, all taken)."""

    error: ZuoraError | None
    permits_held: int | None = None


class RunFollower:
    """Polls runs to their end under the poll budget: ``settle`` (``wait_for_run``,
    ``wait_for_runs``, ``run_and_wait`` and a batch's ``wait=True``), and ``fetch_run``."""

    def __init__(self, pipeline: Pipeline, *, poll_concurrency: int | None) -> None:
        self._pipeline = pipeline
        # Checked here, when the client is built: a bad value fails at construction.
        self.poll_budget = poll_budget(pipeline.max_concurrency, poll_concurrency)
        self._poll_gate: asyncio.Semaphore | None = None

    def _poll_slots(self) -> asyncio.Semaphore:
        if self._poll_gate is None:
            self._poll_gate = asyncio.Semaphore(self.poll_budget)
        return self._poll_gate

    # -- the polling loop --------------------------------------------------------------

    async def fetch_run(
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
            return await self.fetch_run(run_id, policy, stop_at=ends_by)
        except CallerDeadlinePassed as passed:
            return _RanOut(passed.error)
        finally:
            permits.release()


# -- the client's methods (WorkflowClient takes each as its own: get_run = _follow.get_run) --


async def get_run(
    client: WorkflowClient,
    run_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> WorkflowRunDetail:
    """The run's current state (``GET /workflows/workflow_runs/{run_id}``).

    ``run_id`` is the ``id`` that ``run_workflow`` returned (an int, or its digits as a
    string). An unknown or cleaned-up run raises ``NotFoundError``.
    """
    valid = follow_build.validate_run_id(run_id)
    track = None if track_id is None else build.validate_track_id(track_id)
    return await client._follower.fetch_run(valid, client._pipeline.policy(retry), track)


async def stop_run(
    client: WorkflowClient,
    run_id: int | str,
    *,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> bool:
    """Ask Zuora to stop a run (``PUT /workflows/workflow_runs/{run_id}/stop``).

    Returns Zuora's ``success``: True when the run is stopping (it then goes Stopping ->
    Stopped; ``wait_for_run`` sees it end), False when Zuora declined, e.g. because the
    run has already finished. An unknown run raises ``NotFoundError``.
    """
    prepared = follow_build.prepare_stop(
        base_url=client._calls.base_url,
        run_id=follow_build.validate_run_id(run_id),
        **client._calls.headers(track_id),
    )
    return await client._calls.call(prepared, _read_stopped, retry, "stop_run")


def _read_stopped(raw: RawResponse, *, max_bytes: int) -> bool:
    body = read_json(raw, max_bytes=max_bytes)
    success = body.get("success") if isinstance(body, Mapping) else None
    if not isinstance(success, bool):
        raise ResponseDecodeError(
            f"expected {{'success': true|false}} from the stop call, got {quote(body)}",
            field="success",
            status=raw.status,
        )
    return success


async def wait_for_run(
    client: WorkflowClient,
    run_id: int | str,
    *,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    retry: RetryPolicy | None = None,
    until_pending: bool = False,
) -> WorkflowRunDetail:
    """Poll the run until it is Finished or Stopped and return that final detail.

    Waits start at ``poll_interval`` seconds and grow by half each poll up to
    ``max_poll_interval``, each shortened by up to 20 % at random so that many waiters
    spread out. After ``timeout`` seconds (None: no limit) a last poll is made and, if
    the run is still going, ``RunWaitTimeoutError`` is raised with ``last_detail``. The
    timeout bounds the polls, their retries and the waits for a poll permit too (the
    last poll gets 1 s); a poll it cuts short also ends in ``RunWaitTimeoutError``. A
    Finished run may still have failed or pending tasks: check ``detail.succeeded``.

    A run whose tasks wait on an approval, a delay or a retry is ``Pending`` (approvals
    can pend for 90 days); the wait says so once in an INFO log and in the timeout's
    message. ``until_pending=True`` returns the detail as soon as the run is pending
    (``detail.is_pending``) instead of waiting on.
    """
    valid = follow_build.validate_run_id(run_id)
    plan = PollPlan.checked(
        timeout=timeout,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        until_pending=until_pending,
    )
    return await client._follower.settle(valid, plan, client._pipeline.policy(retry))


@overload
async def wait_for_runs(
    client: WorkflowClient,
    run_ids: Iterable[int | str],
    *,
    timeout: float | None = ...,
    poll_interval: float = ...,
    max_poll_interval: float = ...,
    retry: RetryPolicy | None = ...,
    until_pending: bool = ...,
    return_exceptions: Literal[False] = ...,
) -> list[WorkflowRunDetail]: ...


@overload
async def wait_for_runs(
    client: WorkflowClient,
    run_ids: Iterable[int | str],
    *,
    timeout: float | None = ...,
    poll_interval: float = ...,
    max_poll_interval: float = ...,
    retry: RetryPolicy | None = ...,
    until_pending: bool = ...,
    return_exceptions: Literal[True],
) -> list[WorkflowRunDetail | ZuoraError]: ...


async def wait_for_runs(
    client: WorkflowClient,
    run_ids: Iterable[int | str],
    *,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    retry: RetryPolicy | None = None,
    until_pending: bool = False,
    return_exceptions: bool = False,
) -> list[WorkflowRunDetail] | list[WorkflowRunDetail | ZuoraError]:
    """Wait for every run; their final details in input order.

    Each run is waited for as by ``wait_for_run`` (the ``timeout`` and ``until_pending``
    apply to each, and all start together). At most ``poll_budget`` polls are in
    flight at any moment, however many runs there are. Every wait runs to its end;
    then, by default, the first failure in input order (a ``RunWaitTimeoutError``, a
    ``NotFoundError``...) is raised. With ``return_exceptions=True`` each failed run's
    error stands in its place instead, and nothing is raised.
    """
    ids = [
        follow_build.validate_run_id(run_id, f"run_ids[{i}]")
        for i, run_id in enumerate(run_id_list(run_ids))
    ]
    plan = PollPlan.checked(
        timeout=timeout,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        until_pending=until_pending,
    )
    policy = client._pipeline.policy(retry)

    async def settle(run_id: int) -> WorkflowRunDetail | ZuoraError:
        try:
            return await client._follower.settle(run_id, plan, policy)
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
