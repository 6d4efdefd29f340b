"""Fan-out: many runs of one workflow, one outcome per item (``run_many``, ``stream_runs``).

A pool of worker tasks. Each takes a place in the window, reads the next item, runs it
(its key: its own, ``key_fn``'s or a new UUID4; its run; with ``wait`` the run's end) and
hands back its ``RunOutcome``, to the stream's consumer (completion order) or straight into
``run_many``'s list. A place is given back with the outcome, so at most ``window`` items are
read and not yet handed back, whatever the input's length or the consumer's pace. The
requests in flight are bounded by the client's limiter, as for any call.

Every item read gets exactly one outcome: its run, or the error that ended it (a bad item,
a ``key_fn`` that raised, a refusal). The batch raises only for what ends it: the
pre-flight refusal (before anything is sent), the caller's iterable raising
(``BatchInputError``, once the runs already started have ended), or a bug. Closing
(``aclose``, leaving ``async with``, cancelling the consumer, leaving ``async for`` early:
asyncio closes the loop's async generator) cancels the workers and waits for them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import operator
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sized,
)
from typing import Any, Self, TypeAlias

import attrs

from zuora_wf_async._batch.options import BatchOptions, KeyFn
from zuora_wf_async._batch.outcomes import Progress, RunOutcome, RunRequest
from zuora_wf_async._core import requests as build
from zuora_wf_async._errors import (
    BatchInputError,
    InvalidRequestError,
    WorkflowNotRunnableError,
    ZuoraError,
)
from zuora_wf_async._events import call_hook
from zuora_wf_async._follow import RunFollower
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._starting import RunStarter
from zuora_wf_async._telemetry import BatchTrace

logger = logging.getLogger("zuora_wf_async")

__all__ = ["WORKER_NAME", "FanOut", "RunItem", "RunStream"]

RunItem: TypeAlias = Mapping[str, Any] | RunRequest
RunItemFn: TypeAlias = Callable[[int, object], Awaitable[RunOutcome]]

#: The name of every worker task (tests find them by it: none may outlive its batch).
WORKER_NAME = "zuora_wf_async batch worker"

# The default window, per slot of the client's max_concurrency. More than 1: an item whose
# retry sleeps out a Retry-After holds its place in the window but not a slot (about
# share of 429s x runs per second x seconds asked to wait of them: ~45 at 1,500 runs/s with
# 3% answered "Retry-After: 1"), and with wait=True a run holds its place while Zuora
# queues it. Not more: each item beyond the free slots waits in the limiter, as a chain of
# coroutines the garbage collector walks (docs/benchmarks.md: CPU per run).
_WINDOW_PER_SLOT = 2
_WAIT_WINDOW_PER_SLOT = 8
_END: Any = object()  # no more items; and, queued, the end of the outcomes
_BY_INDEX = operator.attrgetter("index")


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
        per_slot = _WAIT_WINDOW_PER_SLOT if options.wait else _WINDOW_PER_SLOT
        window = options.window or self._pipeline.settings.max_concurrency * per_slot
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
            if journal is None:
                return await start(index, params, key, own_track_id)
            if key is None:  # journal.wrap found no key: a random one could not be resumed
                error = InvalidRequestError(
                    f"items[{index}]",
                    "has no idempotency key, and a journal can only resume keyed items",
                    "pass key_fn=... (e.g. from the fields that identify the run) or "
                    "RunRequest(idempotency_key=...) items",
                )
                return RunOutcome(index=index, params=params, idempotency_key=None, error=error)
            outcome = await start(index, params, key, own_track_id)
            journal.record(outcome)
            return outcome

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

        return run_item


class RunStream:
    """``async for outcome in stream``: each ``RunOutcome`` as its item finishes.

    Use it as ``async with stream:`` (or call ``aclose()``) to close it at once when you
    stop early: closing stops reading items and cancels the runs in flight. Leaving an
    ``async for`` early closes it too, as soon as asyncio closes the loop's iterator.
    Several consumers may await ``anext(stream)`` at once; each gets its own outcome.
    ``in_flight`` counts the items started and not yet handed back, ``done`` the outcomes
    handed back so far and ``failed`` those of them with an error.
    """

    def __init__(
        self,
        run_item: RunItemFn,
        items: Iterable[object] | AsyncIterable[object],
        *,
        window: int,
        total: int | None,
        on_progress: Callable[[Progress], object] | None,
        trace: BatchTrace,
        before_first: Callable[[], Awaitable[None]] | None,
    ) -> None:
        try:
            self._sync = iter(items) if isinstance(items, Iterable) else None
            self._async = aiter(items) if self._sync is None else None  # type: ignore[arg-type]
        except Exception as exc:  # the caller's iterable: nothing was sent
            raise BatchInputError(cause=exc, items_read=0) from exc
        self._run_item = run_item
        # No more workers than items when the count is known; made one by one as items
        # are read (see _next), so a short batch or a slow input makes few.
        self._most_workers = window if total is None else max(1, min(window, total))
        self._total = total
        self._on_progress = on_progress
        self._trace = trace
        self._before_first = before_first
        self._room = asyncio.Semaphore(window)  # a place per item read, until handed back
        self._reading = asyncio.Lock()  # an async generator refuses a second anext
        # Outcomes (or what a worker raised: the pre-flight refusal, or a bug), then _END.
        self._outcomes: asyncio.Queue[Any] = asyncio.Queue()
        self._collected: list[RunOutcome] | None = None  # run_many's: workers append here
        self._workers: set[asyncio.Task[None]] = set()
        self._live = 0  # workers made and not yet ended
        self._read = 0  # items read: each item's index
        self._exhausted = False  # no item will be read again (the end, an error, closing)
        self._input_error: Exception | None = None  # what the caller's iterable raised
        self._closed = False
        self.in_flight = self.done = self.failed = 0

    # -- the workers ----------------------------------------------------------------------

    def _add_worker(self) -> None:
        self._live += 1
        worker = asyncio.get_running_loop().create_task(self._work(), name=WORKER_NAME)
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        try:
            while (got := await self._next()) is not None:
                index, item = got
                with self._trace.item_scope(index):  # the batch's span as the parent
                    outcome = await self._run_item(index, item)
                if self._collected is None:
                    self._outcomes.put_nowait(outcome)
                else:  # run_many keeps every outcome: no consumer to wake for each
                    self._collected.append(outcome)
                    self._hand_back(outcome)
        except Exception as exc:  # noqa: BLE001 -- handed to the consumer, who raises it
            self._exhausted = True  # no worker reads on: nothing more may be sent
            self._outcomes.put_nowait(exc)
        finally:
            self._live -= 1
            if self._live == 0 and not self._closed:
                self._outcomes.put_nowait(_END)

    async def _next(self) -> tuple[int, object] | None:
        """The next item and its index, once a place in the window is free; None at the end."""
        await self._room.acquire()
        if self._exhausted:
            item = _END
        elif self._sync is not None:
            item = self._read_sync()
        else:
            async with self._reading:
                item = await self._read_async()
        if item is _END:
            self._exhausted = True
            self._room.release()
            return None
        index, self._read = self._read, self._read + 1
        self.in_flight += 1
        if index == 0 and self._before_first is not None:
            # The pre-flight check, once, before the first item is sent (a resumed batch
            # with nothing left sends nothing). The one worker there is makes no other
            # until it passed, so no other item is read meanwhile.
            await self._before_first()
        if self._live < self._most_workers and not self._exhausted:
            self._add_worker()  # room for one more item at a time
        return index, item

    def _read_sync(self) -> object:
        try:
            return next(self._sync, _END)  # type: ignore[arg-type]  # set when called
        except Exception as exc:  # noqa: BLE001 -- the caller's iterable: see _read_async
            self._input_error = exc
            return _END

    async def _read_async(self) -> object:
        if self._exhausted:
            return _END
        try:
            return await anext(self._async, _END)  # type: ignore[arg-type]  # set when called
        except Exception as exc:  # noqa: BLE001 -- the caller's iterable
            # Read no more, and let the items already started end: their runs exist at
            # Zuora (with generated keys the caller could not find them), so cancelling
            # would lose them. The consumer raises BatchInputError once it has them all.
            self._input_error = exc
            return _END

    def _hand_back(self, outcome: RunOutcome) -> None:
        self._room.release()
        self.in_flight -= 1
        self.done += 1
        self.failed += not outcome.ok
        self._trace.item_done(outcome.index, outcome.error)
        if self._on_progress is not None:
            progress = Progress(
                done=self.done, failed=self.failed, in_flight=self.in_flight, total=self._total
            )
            call_hook(self._on_progress, progress)

    # -- the consumer ---------------------------------------------------------------------

    async def __anext__(self) -> RunOutcome:
        """The next outcome to finish; ``StopAsyncIteration`` at the end."""
        if self._closed:
            raise StopAsyncIteration
        if self._live == 0 and not self._exhausted:
            self._add_worker()  # the first; the others come as items are read
        try:
            got = await self._outcomes.get()
        except BaseException:  # the consumer was cancelled while waiting: close
            await self.aclose()
            raise
        if isinstance(got, RunOutcome):
            self._hand_back(got)
            return got
        if isinstance(got, Exception):
            await self.aclose()
            raise got
        self._outcomes.put_nowait(got)  # _END: every other consumer waiting sees it too
        self._trace.end()
        cause, self._input_error = self._input_error, None
        if cause is not None:  # raised once; each outcome was handed back already
            raise BatchInputError(cause=cause, items_read=self._read) from cause
        raise StopAsyncIteration

    async def __aiter__(self) -> AsyncIterator[RunOutcome]:
        """What ``async for`` iterates; leaving the loop early closes the batch."""
        try:
            while True:
                try:
                    outcome = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield outcome
        finally:
            await self.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading items, cancel the runs in flight and wait for them to unwind."""
        if self._closed:
            return
        self._closed = self._exhausted = True
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self.in_flight = 0
        self._trace.end()
        self._outcomes.put_nowait(_END)  # consumers still waiting see the end
        if inspect.isasyncgen(self._async):
            await self._async.aclose()

    async def collect(self) -> list[RunOutcome]:
        """Every remaining outcome, in input order (``run_many``).

        If the items raise, ``BatchInputError`` carries these outcomes (``.outcomes``).
        """
        outcomes = self._collected = []
        try:
            async with self:
                while True:
                    try:
                        outcomes.append(await self.__anext__())  # those queued before
                    except StopAsyncIteration:
                        break
        except BatchInputError as failure:
            outcomes.sort(key=_BY_INDEX)
            cause = failure.__cause__ or failure
            raise BatchInputError(
                cause=cause, items_read=failure.items_read, outcomes=outcomes
            ) from cause
        outcomes.sort(key=_BY_INDEX)
        return outcomes
