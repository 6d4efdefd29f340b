"""Fan-out: many runs of one workflow, one outcome per item (``run_many``, ``stream_runs``).

What one item is: its key (its own, ``key_fn``'s or a new UUID4), its run and, with
``wait``, the run's end, as a ``RunOutcome``; the worker pool that reads and runs the
items is ``stream.RunStream``. Every item read gets exactly one outcome: its run, or the
error that ended it (a bad item, a ``key_fn`` that raised, a refusal). The batch raises
only for what ends it: the pre-flight refusal (before anything is sent), the caller's
iterable raising (``BatchInputError``, once the runs already started have ended), or a bug.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sized,
)
from typing import Any, TypeAlias

import attrs

from zuora_wf_async._batch.options import BatchOptions, KeyFn
from zuora_wf_async._batch.outcomes import RunOutcome, RunRequest
from zuora_wf_async._batch.stream import RunStream
from zuora_wf_async._core import requests as build
from zuora_wf_async._errors import (
    InvalidRequestError,
    WorkflowNotRunnableError,
    ZuoraError,
)
from zuora_wf_async._follow import RunFollower
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._starting import RunStarter

logger = logging.getLogger("zuora_wf_async")

__all__ = ["FanOut", "RunItem"]

RunItem: TypeAlias = Mapping[str, Any] | RunRequest
RunItemFn: TypeAlias = Callable[[int, object], Awaitable[RunOutcome]]


# The default window, per slot of the client's max_concurrency. More than 1: an item whose
# retry sleeps out a Retry-After holds its place in the window but not a slot (about
# share of 429s x runs per second x seconds asked to wait of them: ~45 at 1,500 runs/s with
# 3% answered "Retry-After: 1"), and with wait=True a run holds its place while Zuora
# queues it. A place costs little: an item is read only into a free slot (stream.py).
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
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        options: BatchOptions,
        *,
        operation: str,
    ) -> RunStream:
        """``WorkflowClient.stream_runs`` (documented there); ``operation`` names the span."""
        if not isinstance(items, Iterable | AsyncIterable) or isinstance(items, Mapping):
            raise InvalidRequestError(
                "items",
                f"expected an iterable of parameter mappings, got {type(items).__name__}",
                "pass a list or generator of dicts (for one run, use run_workflow)",
            )
        window = options.window or self._pipeline.settings.max_concurrency * _WINDOW_PER_SLOT
        total = options.total
        if total is None and isinstance(items, Sized):
            total = len(items)
        valid_id = build.validate_workflow_id(workflow_id)
        if options.journal is not None:
            items = options.journal.wrap(items, options.key_fn)
        trace = self._pipeline.telemetry.batch(
            operation, workflow_id=valid_id, window=window, total=total
        )

        async def check_workflow() -> None:
            problem = await self._preflight(valid_id)
            if problem is not None:
                raise WorkflowNotRunnableError(
                    f"not starting the batch: {problem} (nothing was sent; pass "
                    f"preflight=False, or --no-preflight to zuora-wf batch, to skip this check)",
                    workflow_id=valid_id,
                    reason=problem,
                )

        return RunStream(
            self._runner(valid_id, options),
            items,
            window=window,
            total=total,
            on_progress=options.on_progress,
            trace=trace,
            before_first=check_workflow if options.preflight else None,
            limiter=lambda: self._pipeline.limiter,
        )

    async def run_many(
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        options: BatchOptions,
    ) -> list[RunOutcome]:
        """``WorkflowClient.run_many`` (documented there)."""
        return await self.stream(workflow_id, items, options, operation="run_many").collect()

    def _runner(self, workflow_id: int, options: BatchOptions) -> RunItemFn:
        """What runs one item and makes its outcome (and, with a journal, records it)."""
        key_fn, track_id, journal = options.key_fn, options.track_id, options.journal
        policy = self._pipeline.policy(options.retry)
        plan = options.poll_plan() if options.wait else None

        async def run_item(index: int, item: object) -> RunOutcome:
            if isinstance(item, RunRequest):
                params, key, own_track_id = item.params, item.idempotency_key, item.track_id
            elif isinstance(item, Mapping):
                params, key, own_track_id = item, None, None
            else:
                error = InvalidRequestError(
                    f"items[{index}]",
                    f"expected a mapping of parameters or a RunRequest, got {type(item).__name__}",
                    "yield dicts of parameters, or RunRequest(params=..., idempotency_key=...)",
                )
                return RunOutcome(index=index, params={}, idempotency_key=None, error=error)
            if journal is not None and key is None:  # wrap found none: a random key
                error = InvalidRequestError(  # could not be found again by a resume
                    f"items[{index}]",
                    "has no idempotency key, and a journal can only resume keyed items",
                    "pass key_fn=... (e.g. from the fields that identify the run) or "
                    "RunRequest(idempotency_key=...) items",
                )
                return RunOutcome(index=index, params=params, idempotency_key=None, error=error)
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
                outcome = RunOutcome(
                    index=index,
                    params=params,
                    idempotency_key=key,
                    error=error,
                    attempts=error.attempts,
                    elapsed=error.elapsed,
                )
            else:
                outcome = RunOutcome(
                    index=index,
                    params=params,
                    idempotency_key=key,
                    run=result.value,
                    attempts=result.attempts,
                    elapsed=result.elapsed,
                )
                if plan is not None:
                    try:
                        detail = await self._follower.settle(result.value.id, plan, policy)
                    except ZuoraError as error:  # the run was started: the outcome keeps it
                        outcome = attrs.evolve(outcome, error=error)
                    else:
                        outcome = attrs.evolve(outcome, detail=detail)
            if journal is not None:
                journal.record(outcome)
            return outcome

        return run_item
