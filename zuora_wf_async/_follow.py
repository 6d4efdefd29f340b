"""Following runs to their end: ``get_run``, ``stop_run``, ``wait_for_run(s)``.

Each is a function of the client that ``WorkflowClient`` takes as its method.
``RunFollower`` is the polling they share with ``run_and_wait`` and a batch's ``wait=True``;
every poll goes through the call path (limiter, token, retries) like any other request.

Polls have a budget of their own, ``poll_concurrency`` permits (default a quarter of
``max_concurrency``), so a batch settling thousands of runs leaves new runs the rest of the
client's slots. A poll holds its permit through its own retries (polling slows down when
Zuora struggles) but never while it sleeps between polls.

A wait's ``timeout`` bounds all of it: the wait for a permit, each poll and its retries
end by the wait's deadline (the poll made at the deadline gets ``LAST_POLL_SECONDS``).
When the deadline ends a permit wait or a failing poll, the wait ends with
``RunWaitTimeoutError``, the poll's failure as its ``__cause__``; a final verdict (a 404)
or a poll that used up its attempts early ends it as itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, overload

import attrs

from zuora_wf_async._call import CallerDeadlinePassed
from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    PENDING_WHY,
    PollPlan,
    poll_budget,
    poll_ends_by,
)
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.requests import read_list, validate_id
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._models import WorkflowRunDetail
from zuora_wf_async._operations import call, target
from zuora_wf_async._pipeline import Pipeline

if TYPE_CHECKING:
    from zuora_wf_async._client import WorkflowClient

logger = logging.getLogger("zuora_wf_async")


@attrs.frozen
class _RanOut:
    """The wait's deadline ended a poll: its last failure (``error``), or, with no
    failure, the wait for a poll permit (``permits_held`` of them, all taken)."""

    error: ZuoraError | None
    permits_held: int | None = None


class RunFollower:
    """Polls runs to their end under the poll budget (``settle``)."""

    def __init__(self, pipeline: Pipeline, *, poll_concurrency: int | None) -> None:
        self._pipeline = pipeline
        # Checked here, when the client is built: a bad value fails at construction.
        self.poll_budget = poll_budget(pipeline.settings.max_concurrency, poll_concurrency)
        # Bound to a loop only when a poll first waits for a permit.
        self._permits = asyncio.Semaphore(self.poll_budget)

    async def settle(self, run_id: int, plan: PollPlan, policy: RetryPolicy) -> WorkflowRunDetail:
        """Poll ``run_id`` (already validated) until it ends, under a ``plan`` checked once
        with ``PollPlan.checked`` (a batch checks it once for all its runs)."""
        settings = self._pipeline.settings
        with self._pipeline.telemetry.span("wait_for_run", {"zuora.run.id": run_id}):
            started = settings.clock()
            deadline = plan.deadline(started)
            polls = 0
            last: WorkflowRunDetail | None = None
            said_pending = False
            request = follow_build.prepare_run_detail(run_id=run_id, **target(self._pipeline, None))
            while True:
                detail = await self._poll(request, policy, deadline)
                if isinstance(detail, _RanOut):
                    raise plan.timed_out(
                        run_id,
                        elapsed=settings.clock() - started,
                        polls=polls,
                        last=last,
                        failure=detail.error,
                        permits_held=detail.permits_held,
                    ) from detail.error
                if plan.is_done(terminal=detail.is_terminal, pending=detail.is_pending):
                    return detail
                if detail.is_pending and not said_pending:
                    # Once per wait: a run can pend for days, and a log line per poll would
                    # bury the rest.
                    said_pending = True
                    logger.info(
                        "run %d (%s) is pending rather than running: %s; still waiting "
                        "(until_pending=True stops a wait here)",
                        run_id,
                        detail.name,
                        PENDING_WHY,
                    )
                now = settings.clock()
                wait = plan.next_wait(polls, now=now, deadline=deadline, random=settings.rng.random)
                polls += 1
                last = detail
                if wait is None:
                    raise plan.timed_out(run_id, elapsed=now - started, polls=polls, last=detail)
                await settings.sleep(wait)

    async def _poll(
        self, request: PreparedRequest, policy: RetryPolicy, deadline: float
    ) -> WorkflowRunDetail | _RanOut:
        """One poll under a permit, both ending by the wait's ``deadline`` (module doc);
        ``_RanOut`` when that deadline ended the wait for the permit or the poll."""
        now = self._pipeline.settings.clock()
        ends_by = poll_ends_by(now, deadline)
        time_left = ends_by - now
        try:
            # A permit frees when another wait's poll ends, not through the injected sleep:
            # the wait for it runs on the loop's clock, for the time the client's clock says
            # is left (as the limiter's slot waits do).
            async with asyncio.timeout(None if math.isinf(time_left) else time_left):
                await self._permits.acquire()
        except TimeoutError:
            return _RanOut(None, self.poll_budget)
        try:
            read = readers.read_run_detail
            return await call(self._pipeline, request, read, policy, "get_run", stop_at=ends_by)
        except CallerDeadlinePassed as passed:
            return _RanOut(passed.error)
        finally:
            self._permits.release()


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
    request = follow_build.prepare_run_detail(run_id=run_id, **target(client._pipeline, track_id))
    return await call(client._pipeline, request, readers.read_run_detail, retry, "get_run")


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
    request = follow_build.prepare_stop(run_id=run_id, **target(client._pipeline, track_id))
    return await call(client._pipeline, request, readers.read_stopped, retry, "stop_run")


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
    valid = validate_id(run_id, "run_id")
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
    given = read_list(run_ids, "run_ids", "pass a list of run ids, e.g. [run.id for run in runs]")
    ids = [validate_id(run_id, f"run_ids[{i}]") for i, run_id in enumerate(given)]
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
    failed = [result for result in results if isinstance(result, ZuoraError)]
    if failed and not return_exceptions:
        raise failed[0]
    return results
