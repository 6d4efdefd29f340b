"""Fan-out: many runs of one workflow, each item an outcome (``run_many``, ``stream_runs``).

What one item is: its key (its own, ``key_fn``'s, or a new UUID4), its run, and with
``wait`` the run's end, as a ``RunOutcome``. Every item read gets exactly one: its run, or
the error that ended it (a bad item, a ``key_fn`` that raised, a refusal). The batch as a
whole raises only for what ends it: the pre-flight refusal (before anything is sent), the
caller's iterable raising (``BatchInputError``, once the runs started have ended), or a
bug. The items are read and run by the worker pool of ``pool.py``; with a journal, through
the two steps of ``resume.py``. ``run_many`` is the stream collected in input order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sized
from typing import Any, TypeAlias

import attrs

from zuora_wf_async._batch.options import BatchOptions, KeyFn
from zuora_wf_async._batch.outcomes import RunOutcome, RunRequest
from zuora_wf_async._batch.pool import Pool, RunStream
from zuora_wf_async._batch.resume import journaled_items, journaled_start
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.polling import PollPlan
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import InvalidRequestError, WorkflowNotRunnableError, ZuoraError
from zuora_wf_async._follow import RunFollower
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._starting import RunStarter

logger = logging.getLogger("zuora_wf_async")

__all__ = ["FanOut", "RunItem"]

RunItem: TypeAlias = Mapping[str, Any] | RunRequest
Items: TypeAlias = Iterable[RunItem] | AsyncIterable[RunItem]
StartFn: TypeAlias = Callable[
    [int, Mapping[str, Any], str | None, str | None], Awaitable[RunOutcome]
]

# The default window, per slot of the client's max_concurrency. More than 1: an item whose
# retry sleeps out a Retry-After holds its place in the window but not a slot, and about
# (share of 429s) x (runs per second) x (seconds asked to wait) of them are asleep at any
# moment (~45 at 1,500 runs/s with 3% answered "Retry-After: 1"); runs followed with
# wait=True hold theirs while Zuora queues them. The price: the items beyond the slots wait
# in the client's limiter, ~10% more client CPU per run against a local server (1.53 ->
# 1.69 x the raw loop; docs/benchmarks.md), nothing at a tenant's pace. A caller with
# megabyte parameters, or bound by CPU, passes a smaller window.
_WINDOW_PER_SLOT = 8


def _key_from(key_fn: KeyFn, params: Mapping[str, Any], index: int) -> str:
    """``key_fn(params)``; whatever it raises fails this item alone, never the batch."""
    try:
        return key_fn(params)
    except Exception as exc:  # noqa: BLE001 -- a caller's callback: this item fails alone
        # Logged by type only: the exception's text may quote the item's parameters.
        logger.warning("key_fn raised %s for item %d", type(exc).__name__, index)
        raise InvalidRequestError(
            f"items[{index}]",
            f"key_fn raised {type(exc).__name__}, so the item has no idempotency key",
            "make key_fn return a key for every item (e.g. from fields every row has)",
        ) from None


class FanOut:
    """``run_many`` and ``stream_runs``: many runs of one workflow through the starter."""

    def __init__(
        self,
        starter: RunStarter,
        follower: RunFollower,
        pipeline: Pipeline,
        *,
        preflight: Callable[[int], Awaitable[str | None]],
    ) -> None:
        self._starter = starter
        self._follower = follower
        self._pipeline = pipeline
        self._preflight = preflight  # why the workflow would refuse every run, or None

    def stream(
        self, workflow_id: int, items: Items, options: BatchOptions, *, operation: str
    ) -> RunStream:
        """``WorkflowClient.stream_runs`` (documented there); ``operation`` names the span."""
        if not isinstance(items, Iterable | AsyncIterable) or isinstance(items, Mapping):
            raise InvalidRequestError(
                "items",
                f"expected an iterable of parameter mappings, got {type(items).__name__}",
                "pass a list or generator of dicts (for one run, use run_workflow)",
            )
        policy = self._pipeline.policy(options.retry)
        window = options.window or self._pipeline.max_concurrency * _WINDOW_PER_SLOT
        total = options.total
        if total is None and isinstance(items, Sized):
            total = len(items)
        valid_id = build.validate_workflow_id(workflow_id)
        plan = options.poll_plan() if options.wait else None
        start = self._starting(valid_id, options, policy, plan)
        if options.journal is not None:
            items = journaled_items(options.journal, items, options.key_fn)
            start = journaled_start(options.journal, start)

        def run_item(index: int, item: object) -> Awaitable[RunOutcome]:
            if isinstance(item, RunRequest):
                return start(index, item.params, item.idempotency_key, item.track_id)
            if isinstance(item, Mapping):
                return start(index, item, None, None)
            error = InvalidRequestError(
                f"items[{index}]",
                f"expected a mapping of parameters or a RunRequest, got {type(item).__name__}",
                "yield dicts of parameters, or RunRequest(params=..., idempotency_key=...)",
            )
            return _ready(RunOutcome(index=index, params={}, idempotency_key=None, error=error))

        trace = self._pipeline.telemetry.batch(
            operation, workflow_id=valid_id, window=window, total=total
        )
        pool = Pool(
            run_item,
            items,
            window=window,
            total=total,
            on_progress=options.on_progress,
            trace=trace,
            before_first=self._check_workflow(valid_id) if options.preflight else None,
        )
        return RunStream(pool)

    async def run_many(
        self, workflow_id: int, items: Items, options: BatchOptions
    ) -> list[RunOutcome]:
        """``WorkflowClient.run_many`` (documented there)."""
        return await self.stream(workflow_id, items, options, operation="run_many").collect()

    def _starting(
        self, workflow_id: int, options: BatchOptions, policy: RetryPolicy, plan: PollPlan | None
    ) -> StartFn:
        """What runs one item: its key, its run, and with ``wait`` its end, as an outcome."""
        key_fn, track_id = options.key_fn, options.track_id

        async def start(
            index: int, params: Mapping[str, Any], key: str | None, own_track_id: str | None
        ) -> RunOutcome:
            try:
                if key is None:
                    key = str(uuid.uuid4()) if key_fn is None else _key_from(key_fn, params, index)
                result = await self._starter.start_valid(
                    workflow_id,
                    params,
                    idempotency_key=key,
                    track_id=own_track_id or track_id,
                    policy=policy,
                )
            except ZuoraError as error:
                return RunOutcome(
                    index=index,
                    params=params,
                    idempotency_key=key,
                    error=error,
                    attempts=error.attempts,
                    elapsed=error.elapsed,
                )
            outcome = RunOutcome(
                index=index,
                params=params,
                idempotency_key=key,
                run=result.value,
                attempts=result.attempts,
                elapsed=result.elapsed,
            )
            if plan is None:
                return outcome
            try:
                detail = await self._follower.settle(result.value.id, plan, policy)
            except ZuoraError as error:  # the run was started: the outcome keeps it
                return attrs.evolve(outcome, error=error)
            return attrs.evolve(outcome, detail=detail)

        return start

    def _check_workflow(self, workflow_id: int) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            problem = await self._preflight(workflow_id)
            if problem is not None:
                raise WorkflowNotRunnableError(
                    f"not starting the batch: {problem} (nothing was sent; pass "
                    f"preflight=False, or --no-preflight to zuora-wf batch, to skip this check)",
                    workflow_id=workflow_id,
                    reason=problem,
                )

        return check


async def _ready(outcome: RunOutcome) -> RunOutcome:
    return outcome
