"""Fan-out: many runs of one workflow, with bounded memory and nothing lost.

``iter_runs`` is the engine; ``run_many`` collects it into input order. Items are read
from the caller's (sync or async) iterable only as fast as slots free up: at most
``window`` items are started and not yet handed back, so a generator of a million items
costs the memory of ``window`` of them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeAlias, cast

from zuora_wf_async._core import requests as build
from zuora_wf_async._core.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    PollPlan,
)
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import (
    BatchInputError,
    InvalidRequestError,
    WorkflowNotRunnableError,
    ZuoraError,
)
from zuora_wf_async._events import call_hook
from zuora_wf_async._follow import RunFollower
from zuora_wf_async._outcomes import PackedOutcomes, Progress, RunOutcome, RunRequest
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._starting import RunStarter, new_idempotency_key
from zuora_wf_async._telemetry import NO_BATCH, BatchTrace

if TYPE_CHECKING:
    from zuora_wf_async._journal import BatchJournal

logger = logging.getLogger("zuora_wf_async")

__all__ = ["FanOut", "RunItem", "RunStream"]

RunItem: TypeAlias = Mapping[str, Any] | RunRequest
KeyFn: TypeAlias = Callable[[Mapping[str, Any]], str]
ProgressFn: TypeAlias = Callable[[Progress], object]


def _unpack(item: object, index: int) -> tuple[Mapping[str, Any], str | None, str | None]:
    """An item's params, own key and own track id (no allocation for a plain mapping)."""
    if isinstance(item, RunRequest):
        return item.params, item.idempotency_key, item.track_id
    if isinstance(item, Mapping):
        return item, None, None
    raise InvalidRequestError(
        f"items[{index}]",
        f"expected a mapping of parameters or a RunRequest, got {type(item).__name__}",
        "yield dicts of workflow parameters, or RunRequest(params=..., idempotency_key=...)",
    )


def _key_from(key_fn: KeyFn, params: Mapping[str, Any], index: int) -> str:
    """``key_fn(params)``; whatever it raises fails this item alone, never the batch."""
    try:
        return key_fn(params)
    except Exception as exc:  # noqa: BLE001 -- a caller's callback; see the comment below
        # Logged once here; the item's outcome carries the typed error. The message names
        # the exception type only: its text may quote the item's parameters.
        logger.warning("key_fn raised %s for item %d", type(exc).__name__, index)
        raise InvalidRequestError(
            f"items[{index}]",
            f"key_fn raised {type(exc).__name__}, so the item has no idempotency key",
            "make key_fn return a key for every item (e.g. from fields every row has)",
        ) from None


StartFn: TypeAlias = Callable[
    [int, Mapping[str, Any], str | None, str | None], Awaitable[RunOutcome]
]
# What the workers call: a StartFn, or run_many's, which packs an item that went well into
# its PackedOutcomes itself and gives None instead of a record (see FanOut.iter_runs).
_PackingStartFn: TypeAlias = Callable[
    [int, Mapping[str, Any], str | None, str | None], Awaitable[RunOutcome | None]
]


async def _ready(outcome: RunOutcome) -> RunOutcome:
    return outcome


class Slots(Protocol):
    """What the workers ask of the pipeline about its slots (see ``_Workers._work``)."""

    def free_slots(self) -> int: ...

    def add_slot_listener(self, listener: Callable[[], None]) -> None: ...

    def remove_slot_listener(self, listener: Callable[[], None]) -> None: ...


class _Failed:
    """A worker's unexpected exception (a bug); the caller's iterable raising is not one
    (see ``_Workers._stop_reading``)."""

    __slots__ = ("exception",)

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


# Items out per concurrency slot when not waiting for runs to end. More than 1: an item
# whose retry sleeps out a Retry-After holds its place in the window, not a slot: about
# (share of 429s) x (runs per second) x (seconds asked to wait) of them at any moment. With
# 3% of requests answered 429 "Retry-After: 1", that is ~45 items at 1,500 runs/s (a window
# of twice the default 32 slots then kept only ~16 requests in flight) and ~130 at the
# 4,000 runs/s this client reaches against a fast server. The extra places cost little: an
# item is read only into a free slot (see _Workers._held_back), so the rest wait as
# parked workers; with megabyte parameters a caller passes a smaller window.
_WINDOW_PER_SLOT = 8

_WORKERS_DONE = None  # queued by the last worker to finish: no more outcomes will come


class _EndOfItems:
    """What reading returns once the items are exhausted. Not None: a None among the items
    is a bad item, which fails alone like any other, not the end of the batch."""


_END = _EndOfItems()


class _Workers:
    """The engine behind a ``RunStream``.

    ``window`` workers each read an item, run it and queue its outcome, like the cheapest
    loop a user would write by hand; a task per item would cost more CPU and garbage per
    run. At most ``window`` items are started and not yet handed back (a semaphore the
    consumer releases), so a slow consumer stops the reading, not the memory.

    The workers hold this engine, never the ``RunStream`` the caller holds, so a stream
    the caller drops is collected at once and its ``__del__`` can cancel them.
    """

    def __init__(
        self,
        start: _PackingStartFn,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        *,
        window: int,
        total: int | None,
        on_progress: ProgressFn | None,
        batch: BatchTrace = NO_BATCH,
        before_first: Callable[[], Awaitable[None]] | None = None,
        slots: Slots | None = None,
        packing: PackedOutcomes | None = None,
    ) -> None:
        self._start = start
        self._packing = packing  # where ``start`` packs the items that went well
        # The pipeline's slots: workers start an item only into a free one (see _work).
        self._slots = slots
        self._running = 0  # items inside _run_item
        self._most_workers = 0  # the window, or the item count if smaller (_start_workers)
        # The pre-flight check: run once, when the first item is about to start (so a
        # resumed batch with nothing left to do sends nothing), shared by every worker.
        self._before_first = before_first
        self._checking: asyncio.Future[None] | None = None
        self._batch = batch  # OpenTelemetry: the batch's span and counts (_telemetry.py)
        try:
            self._sync_items = iter(items) if isinstance(items, Iterable) else None
            self._async_items = aiter(items) if isinstance(items, AsyncIterable) else None
        except Exception as exc:  # the caller's iterable: nothing was sent
            raise BatchInputError(cause=exc, items_read=0) from exc
        # What reading the items raised: the batch ends on it once the runs started end.
        self._input_error: Exception | None = None
        # Workers share one async iterator; an async generator refuses a second anext().
        self._reading = asyncio.Lock() if self._async_items is not None else None
        self._window = window
        self._total = total
        self._on_progress = on_progress
        self._next_index = 0
        self._exhausted = False
        self._closed = False
        self._workers: list[asyncio.Task[None]] = []
        self._live_workers = 0
        # Workers told to go (made, or woken from parking) that have not run yet: each
        # will take a free slot, so _has_room_for_another leaves one to each.
        self._coming = 0
        # Workers parked because ``window`` items are out; the consumer wakes one per
        # outcome it takes. (Not an asyncio.Semaphore: its acquire() is a coroutine per
        # item, and parking through it tripled the garbage collections per run.)
        self._parked: collections.deque[asyncio.Future[None]] = collections.deque()
        # What the workers hand the consumer: outcomes in completion order (iter_runs),
        # a worker's failure, and at last _WORKERS_DONE. A deque, and futures for the
        # consumers waiting on it (usually one), not an asyncio.Queue: its put and get cost
        # ~10 calls per item.
        self._outcomes: collections.deque[RunOutcome | _Failed | None] = collections.deque()
        self._consumers: collections.deque[asyncio.Future[None]] = collections.deque()
        self._unreturned = 0  # items read and not yet handed back
        # run_many's outcomes, when the workers hand them back themselves (collect()).
        self._collected: PackedOutcomes | None = None
        self.done = 0
        self.failed = 0

    def cancel(self) -> None:
        """Cancel the workers without waiting (the stream was dropped)."""
        if self._checking is not None:
            self._checking.cancel()
        for worker in self._workers:
            worker.cancel()
        self._stop_listening()
        self._batch.end()

    @property
    def in_flight(self) -> int:
        """Items started and not yet handed back."""
        return self._unreturned

    async def aclose(self) -> None:
        """Stop reading items, cancel runs in flight and wait for them to unwind."""
        self._closed = True
        if self._checking is not None:
            self._checking.cancel()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        self._stop_listening()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._unreturned = 0
        self._batch.end()
        if self._async_items is not None and inspect.isasyncgen(self._async_items):
            await self._async_items.aclose()

    def _read_sync(self) -> object:
        """The next item of a plain iterable, or ``_END``."""
        assert self._sync_items is not None  # noqa: S101 -- the caller checked
        if self._exhausted:
            return _END
        try:
            return next(self._sync_items, _END)
        except Exception as exc:  # noqa: BLE001 -- the caller's iterable: see _stop_reading
            return self._stop_reading(exc)

    async def _read(self) -> object:
        """The next item of an async iterable, or ``_END``."""
        assert self._async_items is not None  # noqa: S101 -- one of the two is set
        assert self._reading is not None  # noqa: S101 -- made with the async iterator
        async with self._reading:
            # Checked under the lock: another worker may have met the end meanwhile.
            if self._exhausted:
                return _END
            try:
                return await anext(self._async_items)
            except StopAsyncIteration:
                self._exhausted = True
                return _END
            except Exception as exc:  # noqa: BLE001 -- the caller's iterable: see _stop_reading
                return self._stop_reading(exc)

    def _stop_reading(self, exc: Exception) -> _EndOfItems:
        """The caller's iterable raised: read no more, as at its end, and let the items
        already started end. Their runs exist at Zuora (and with generated keys the
        caller could not find them), so cancelling would lose them; the consumer raises
        ``BatchInputError`` from ``exc`` once it has every outcome (``_input_failure``)."""
        self._exhausted = True
        if self._input_error is None:
            self._input_error = exc
        return _END

    def _input_failure(self, outcomes: list[RunOutcome] | None = None) -> BatchInputError | None:
        """The error to end the batch with, once, if reading the items raised."""
        cause, self._input_error = self._input_error, None
        if cause is None:
            return None
        failure = BatchInputError(cause=cause, items_read=self._next_index, outcomes=outcomes or ())
        failure.__cause__ = cause
        return failure

    def _start_workers(self) -> None:
        loop = asyncio.get_running_loop()
        # No more workers than items, when the count is known; and, to begin with, no more
        # than there are free slots: the rest of the window is only needed once runs hold
        # places while they sleep, and ``_wake_one`` adds workers then (each worker is a
        # task alive for the whole batch: hundreds made up front are garbage collections).
        count = self._window if self._total is None else max(1, min(self._window, self._total))
        self._most_workers = count
        if self._slots is not None:
            count = max(1, min(count, self._slots.free_slots()))
        self._live_workers = count
        self._coming = count
        self._workers = [loop.create_task(self._work()) for _ in range(count)]
        if self._slots is not None:
            self._slots.add_slot_listener(self._wake_one)

    def _stop_listening(self) -> None:
        if self._slots is not None:
            self._slots.remove_slot_listener(self._wake_one)

    async def _work(self) -> None:
        self._coming -= 1  # here now (see _has_room_for_another)
        try:
            while not self._closed:
                while self._held_back():
                    await self._park()
                self._unreturned += 1  # reserved before reading: reading may suspend
                # A plain iterable is read without a coroutine: this runs once per item.
                item = self._read_sync() if self._sync_items is not None else await self._read()
                if item is _END:
                    self._exhausted = True
                    self._unreturned -= 1
                    self._wake_all()  # parked workers find the end too
                    return
                if self._before_first is not None:
                    await self._check_before_first()
                index = self._next_index
                self._next_index += 1
                if self._has_room_for_another():
                    # Room for more than this item (slots freed while runs sleep, or the
                    # limit grown back): pass the turn on, to a parked or a new worker.
                    self._wake_one()
                # In the batch's trace context (its span as the parent, or tracing
                # suppressed past the first items), set and reset in this worker.
                self._running += 1
                try:
                    with self._batch.item_scope(index):
                        outcome = await self._run_item(index, item)
                finally:
                    self._running -= 1
                self._deliver(index, outcome)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 -- handed to the consumer, who raises it
            self._put(_Failed(exc))
        finally:
            self._live_workers -= 1
            if self._live_workers == 0:
                self._stop_listening()
                self._put(_WORKERS_DONE)

    def _deliver(self, index: int, outcome: RunOutcome | None) -> None:
        """An item's outcome to the consumer (``iter_runs``), or handed back here
        (``run_many``'s ``collect``): packed, or already packed by ``start`` (None)."""
        if outcome is None:  # packed by ``start`` itself, and it went well
            self._hand_back(index, None, ok=True)
        elif self._collected is None:
            self._put(outcome)
        else:
            self._collected.add(outcome)
            self._hand_back(outcome.index, outcome.error, ok=outcome.ok)

    def _held_back(self) -> bool:
        """Whether to read no item now: the window is full, the pre-flight check runs
        (read nothing more until it passed), or every slot is busy.

        Every slot busy: the window is larger than the concurrency (``_WINDOW_PER_SLOT``),
        so that items sleeping out a ``Retry-After`` do not starve the batch. Started into
        a full limiter, the extra items would each park a whole chain of coroutines, a
        request and its body in the limiter's queue: garbage that triggers collections on
        every batch. They wait here instead, as a parked worker and one future.

        Who wakes them: a worker whose item ended goes on to the next item itself, into
        the slot its item freed; a worker that starts an item while more slots are free
        wakes one more, or adds one while the window allows (so a run of free slots fills
        one worker after another); a call that gives its slot back to wait before a
        resend does the same (``_wake_one``, told by the pipeline). Only while one of our
        items runs: with none running, nothing of ours would end to wake us (a slot freed
        by another caller, or a pause ending, does not), so an item started then queues in
        the limiter as before.

        One call per item, the cheap tests first (the worker asks before every item).
        """
        if self._unreturned >= self._window:
            return True
        if self._before_first is not None and self._checking is not None:
            return True
        return self._slots is not None and self._running > 0 and self._slots.free_slots() <= 0

    def _has_room_for_another(self) -> bool:
        """Room in the window and a free slot beyond the one this item will take, and
        beyond those the workers on their way will take (without that, each of the first
        workers saw the slots of those after it free and added one more: twice as many
        workers as slots, the extra half parked for the whole batch)."""
        return self._unreturned < self._window and (
            self._slots is None or self._slots.free_slots() - self._coming > 1
        )

    def _wake_one(self) -> None:
        """Wake a parked worker; with none parked, add one while the window allows."""
        while self._parked:
            parked = self._parked.popleft()
            if not parked.done():
                parked.set_result(None)
                self._coming += 1
                return
        if (
            len(self._workers) < self._most_workers
            and self._live_workers > 0  # not after the last worker has said "done"
            and not self._exhausted
            and not self._closed
        ):
            self._live_workers += 1
            self._coming += 1
            self._workers.append(asyncio.get_running_loop().create_task(self._work()))

    async def _park(self) -> None:
        parked = asyncio.get_running_loop().create_future()
        self._parked.append(parked)
        try:
            await parked
        finally:
            if parked.done() and not parked.cancelled():
                self._coming -= 1  # woken: here (or cancelled on the way, gone either way)
            else:
                with contextlib.suppress(ValueError):
                    self._parked.remove(parked)

    def _wake_all(self) -> None:
        while self._parked:
            parked = self._parked.popleft()
            if not parked.done():
                parked.set_result(None)
                self._coming += 1

    async def _check_before_first(self) -> None:
        assert self._before_first is not None  # noqa: S101 -- the caller checked
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._before_first())
        # Shielded: one worker's cancellation must not cancel the check the others await.
        await asyncio.shield(self._checking)
        if self._before_first is not None:
            self._before_first = None  # passed: the items after this one skip the check
            self._wake_all()  # the workers held back while it ran

    def _run_item(self, index: int, item: object) -> Awaitable[RunOutcome | None]:
        """The item's start, awaited by the worker (a plain function: no coroutine of its
        own per item); an item that is not one fails alone. None: ``start`` packed it."""
        if type(item) is dict:  # the common item, a plain dict of parameters: nothing to unpack
            return self._start(index, item, None, None)
        try:
            params, key, track_id = _unpack(item, index)
        except InvalidRequestError as error:
            return _ready(RunOutcome(index=index, params={}, idempotency_key=None, error=error))
        return self._start(index, params, key, track_id)

    def _put(self, got: RunOutcome | _Failed | None) -> None:
        self._outcomes.append(got)
        consumers = self._consumers
        while consumers:  # wake one waiting consumer (one that gave up is done already)
            waiting = consumers.popleft()
            if not waiting.done():
                waiting.set_result(None)
                return

    async def _arrival(self) -> None:
        """Wait until the workers handed the consumer something (at the end,
        ``_WORKERS_DONE``, which stays for every consumer to find)."""
        while not self._outcomes:
            waiting = asyncio.get_running_loop().create_future()
            self._consumers.append(waiting)
            await waiting

    async def next_outcome(self) -> RunOutcome:
        if self._closed:
            raise StopAsyncIteration
        if not self._outcomes:
            try:
                if not self._workers:
                    self._start_workers()
                await self._arrival()
            except BaseException:
                await self.aclose()
                raise
        got = self._outcomes[0]
        if got is _WORKERS_DONE:  # left in place: _put woke one consumer, the rest see it
            self._closed = True
            self._workers = []
            self._batch.end()
            for waiting in self._consumers:
                if not waiting.done():
                    waiting.set_result(None)
            self._consumers.clear()
            failure = self._input_failure()  # each outcome was yielded: it carries none
            if failure is not None:
                raise failure
            raise StopAsyncIteration
        self._outcomes.popleft()
        if isinstance(got, _Failed):
            await self.aclose()
            raise got.exception
        self._hand_back(got.index, got.error, ok=got.ok)
        return got

    async def collect(self) -> list[RunOutcome]:
        """Every outcome, in input order, with no consumer between the workers and the
        store: each worker hands its outcomes back itself (``run_many``'s shape). Kept
        packed until the end: see ``PackedOutcomes`` for the garbage collections that
        saves."""
        collected = self._packing if self._packing is not None else PackedOutcomes()
        self._collected = collected
        try:
            self._start_workers()
            await self._arrival()  # only a worker's failure or the end arrive here now
        except BaseException:
            await self.aclose()
            raise
        got = self._outcomes.popleft()
        if isinstance(got, _Failed):
            await self.aclose()
            raise got.exception
        self._closed = True
        self._workers = []
        self._batch.end()
        for _left in collected.build_in_steps():
            await asyncio.sleep(0)  # the loop's other work runs between steps
        records = collected.records()
        failure = self._input_failure(records)
        if failure is not None:
            raise failure
        return records

    def _hand_back(self, index: int, error: ZuoraError | None, *, ok: bool) -> None:
        """An outcome leaves the window: room for the next item, counts, progress."""
        if self._unreturned == self._window:
            self._wake_one()  # the window was full: a worker may be parked for room in it
        self._unreturned -= 1
        self._batch.item_done(index, error)
        self.done += 1
        if not ok:
            self.failed += 1
        if self._on_progress is not None:
            call_hook(
                self._on_progress,
                Progress(
                    done=self.done,
                    failed=self.failed,
                    in_flight=self._unreturned,
                    total=self._total,
                ),
            )


class RunStream:
    """``async for outcome in stream``: outcomes in completion order.

    Leaving the loop early (``break``, an exception, cancellation) stops reading items and
    cancels the runs in flight: at once with ``async with``/``aclose()``, else as soon as
    the stream is garbage-collected.
    """

    def __init__(
        self,
        start: _PackingStartFn,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        *,
        window: int,
        total: int | None,
        on_progress: ProgressFn | None,
        batch: BatchTrace = NO_BATCH,
        before_first: Callable[[], Awaitable[None]] | None = None,
        slots: Slots | None = None,
        packing: PackedOutcomes | None = None,
    ) -> None:
        self._workers = _Workers(
            start,
            items,
            window=window,
            total=total,
            on_progress=on_progress,
            batch=batch,
            before_first=before_first,
            slots=slots,
            packing=packing,
        )

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Awaitable[RunOutcome]:
        return self._workers.next_outcome()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A loop left with `break` drops the stream; cancelling is synchronous, so the runs
        # in flight stop now rather than whenever the loop gets round to finalising us.
        # (No workers when the items could not even be iterated: nothing to cancel.)
        workers = getattr(self, "_workers", None)
        if workers is not None:
            workers.cancel()

    @property
    def in_flight(self) -> int:
        """Items started and not yet handed back."""
        return self._workers.in_flight

    @property
    def done(self) -> int:
        """Outcomes handed back so far."""
        return self._workers.done

    @property
    def failed(self) -> int:
        """Outcomes handed back with an error so far."""
        return self._workers.failed

    async def aclose(self) -> None:
        """Stop reading items, cancel runs in flight and wait for them to unwind."""
        await self._workers.aclose()

    async def collect(self) -> list[RunOutcome]:
        """Every remaining outcome, in input order (``run_many``)."""
        return await self._workers.collect()


class FanOut:
    """``run_many`` and ``iter_runs``: many runs of one workflow through a starter."""

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

    def iter_runs(
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        *,
        key_fn: KeyFn | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressFn | None = None,
        window: int | None = None,
        wait: bool = False,
        wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        total: int | None = None,
        journal: BatchJournal | None = None,
        preflight: bool = True,
        operation: str = "iter_runs",  # names the batch span; run_many passes its own
        packing: PackedOutcomes | None = None,  # run_many (no journal), which only collects
    ) -> RunStream:
        """``WorkflowClient.iter_runs`` (documented there): the client delegates here."""
        plan = (
            PollPlan.checked(
                timeout=wait_timeout,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
            )
            if wait
            else None
        )
        policy = self._pipeline.policy(retry)
        if window is None:
            # wait=True too: runs waiting in Zuora's queue hold their places like sleepers.
            window = self._pipeline.max_concurrency * _WINDOW_PER_SLOT
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidRequestError(
                "window", f"must be a whole number >= 1, got {window!r}", "pass e.g. 64"
            )
        if not isinstance(items, Iterable | AsyncIterable) or isinstance(items, Mapping):
            raise InvalidRequestError(
                "items",
                f"expected an iterable of parameter mappings, got {type(items).__name__}",
                "pass a list or generator of dicts (for one run, use run_workflow)",
            )
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        valid_id = build.validate_workflow_id(workflow_id)
        check = self._check_workflow(valid_id) if preflight else None

        async def start(
            index: int, params: Mapping[str, Any], key: str | None, own_track_id: str | None
        ) -> RunOutcome | None:
            try:
                if key is None and key_fn is not None:
                    key = _key_from(key_fn, params, index)
                made_here = key is None
                if key is None:
                    key = new_idempotency_key()
                result = await self._starter.start_valid(
                    valid_id,
                    params,
                    idempotency_key=key,
                    track_id=own_track_id or track_id,
                    policy=policy,
                    key_is_new=made_here,
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
            run = result.value
            detail = None
            if plan is not None:
                try:
                    detail = await self._follower.settle(run.id, plan, policy)
                except ZuoraError as error:
                    return RunOutcome(
                        index=index,
                        params=params,
                        idempotency_key=key,
                        run=run,
                        error=error,
                        attempts=result.attempts,
                        elapsed=result.elapsed,
                    )
            if packing is not None:
                # run_many: packed as values (no record built only to be packed); None
                # tells the worker it went well.
                packing.add_run(
                    index=index,
                    params=params,
                    idempotency_key=key,
                    run=run,
                    detail=detail,
                    attempts=result.attempts,
                    elapsed=result.elapsed,
                )
                return None
            return RunOutcome(
                index=index,
                params=params,
                idempotency_key=key,
                run=run,
                detail=detail,
                attempts=result.attempts,
                elapsed=result.elapsed,
            )

        starting: _PackingStartFn = start
        if journal is not None:
            assert packing is None  # noqa: S101 -- a journal records each outcome as a record
            # Without packing, start always gives a record.
            items, starting = journal.wrap(items, key_fn), journal.recording(cast(StartFn, start))
        batch = self._pipeline.telemetry.batch(
            operation, workflow_id=valid_id, window=window, total=total
        )
        return RunStream(
            starting,
            items,
            window=window,
            total=total,
            on_progress=on_progress,
            batch=batch,
            before_first=check,
            slots=self._pipeline,
            packing=packing,
        )

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

    async def run_many(
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        *,
        key_fn: KeyFn | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressFn | None = None,
        window: int | None = None,
        wait: bool = False,
        wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        total: int | None = None,
        journal: BatchJournal | None = None,
        preflight: bool = True,
    ) -> list[RunOutcome]:
        """``WorkflowClient.run_many`` (documented there): the client delegates here."""
        stream = self.iter_runs(
            workflow_id,
            items,
            operation="run_many",
            key_fn=key_fn,
            track_id=track_id,
            retry=retry,
            on_progress=on_progress,
            window=window,
            wait=wait,
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            total=total,
            journal=journal,
            preflight=preflight,
            # A journal records each outcome as a record; otherwise the items that went
            # well are packed without one (see PackedOutcomes).
            packing=PackedOutcomes() if journal is None else None,
        )
        async with stream:
            return await stream.collect()
