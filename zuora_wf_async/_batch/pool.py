"""A pool of worker tasks over a batch's items: the engine under ``RunStream``.

Each worker takes a place in the window, reads the next item, runs it and queues its
outcome; the consumer takes outcomes from the queue (completion order) and gives each
place back. So at most ``window`` items are read and not yet handed back, whatever the
length of the input or the pace of the consumer. The requests in flight are bounded by
the pipeline's own limit, as for any call: an item beyond it waits there.

Closing (``aclose``, leaving ``async with``, cancelling the consumer) cancels the workers
and waits for them. Leaving an ``async for`` early closes the stream too: the loop iterates
an async generator (``__aiter__``), which asyncio closes once the loop drops it.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Self

from zuora_wf_async._batch.options import ProgressFn
from zuora_wf_async._batch.outcomes import Progress, RunOutcome
from zuora_wf_async._errors import BatchInputError
from zuora_wf_async._events import call_hook
from zuora_wf_async._telemetry import BatchTrace

__all__ = ["WORKER_NAME", "Pool", "RunStream"]

#: The name of every worker task (tests find them by it: none may outlive its batch).
WORKER_NAME = "zuora_wf_async batch worker"
_BY_INDEX = operator.attrgetter("index")


class _End:
    """Reading found no more items (not None: a None among the items is a bad item)."""


_END = _End()


class _Failed:
    """What a worker hands the consumer when it raised: the pre-flight refusal, or a bug."""

    def __init__(self, exception: Exception) -> None:
        self.exception = exception


class Pool:
    """The workers, their window and their queue: one batch's engine (``RunStream``)."""

    def __init__(
        self,
        run_item: Callable[[int, object], Awaitable[RunOutcome]],
        items: Iterable[object] | AsyncIterable[object],
        *,
        window: int,
        total: int | None,
        on_progress: ProgressFn | None,
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
        # One read at a time (an async generator refuses a second anext), and the gate
        # that holds every other read while the pre-flight check runs.
        self._reading = asyncio.Lock()
        self._outcomes: asyncio.Queue[RunOutcome | _Failed | _End] = asyncio.Queue()
        self._workers: set[asyncio.Task[None]] = set()
        self._live = 0  # workers made and not yet ended
        self._read = 0  # items read: each item's index
        self._exhausted = False  # no item will be read again (the end, an error, closing)
        self._input_error: Exception | None = None  # what the caller's iterable raised
        self._closed = False
        self.in_flight = 0  # items read and not yet handed back
        self.done = 0
        self.failed = 0

    # -- the workers ----------------------------------------------------------------------

    def _add_worker(self) -> None:
        self._live += 1
        worker = asyncio.get_running_loop().create_task(self._work(), name=WORKER_NAME)
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        try:
            while not isinstance(got := await self._next(), _End):
                index, item = got
                with self._trace.item_scope(index):  # the batch's span as the parent
                    outcome = await self._run_item(index, item)
                self._outcomes.put_nowait(outcome)
        except Exception as exc:  # noqa: BLE001 -- handed to the consumer, who raises it
            self._exhausted = True  # no worker reads on: nothing more may be sent
            self._outcomes.put_nowait(_Failed(exc))
        finally:
            self._live -= 1
            if self._live == 0 and not self._closed:
                self._outcomes.put_nowait(_END)

    async def _next(self) -> tuple[int, object] | _End:
        """The next item and its index, once a place in the window is free; or ``_END``."""
        await self._room.acquire()
        async with self._reading:
            item = await self._read_one()
            if isinstance(item, _End):
                self._room.release()
                return item
            index, self._read = self._read, self._read + 1
            self.in_flight += 1
            if index == 0 and self._before_first is not None:
                # The pre-flight check: once, when the first item is about to be sent (a
                # resumed batch with nothing left sends nothing), and under the reading
                # lock, so no other item is read until it passed.
                await self._before_first()
        if self._live < self._most_workers and not self._exhausted:
            self._add_worker()  # room for one more item at a time
        return index, item

    async def _read_one(self) -> object:
        if self._exhausted:
            return _END
        try:
            if self._sync is not None:
                item = next(self._sync, _END)
            else:
                assert self._async is not None  # noqa: S101 -- one of the two is set
                item = await anext(self._async, _END)
        except Exception as exc:  # noqa: BLE001 -- the caller's iterable: see below
            # Read no more, and let the items already started end: their runs exist at
            # Zuora (with generated keys the caller could not find them), so cancelling
            # would lose them. The consumer raises BatchInputError once it has them all.
            self._input_error = exc
            item = _END
        if isinstance(item, _End):
            self._exhausted = True
        return item

    # -- the consumer ---------------------------------------------------------------------

    async def next_outcome(self) -> RunOutcome:
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
        if isinstance(got, _End):
            self._outcomes.put_nowait(got)  # every other consumer waiting sees the end too
            self._trace.end()
            cause, self._input_error = self._input_error, None
            if cause is not None:  # raised once; each outcome was handed back already
                raise BatchInputError(cause=cause, items_read=self._read) from cause
            raise StopAsyncIteration
        if isinstance(got, _Failed):
            await self.aclose()
            raise got.exception
        self._room.release()
        self.in_flight -= 1
        self.done += 1
        self.failed += not got.ok
        self._trace.item_done(got.index, got.error)
        if self._on_progress is not None:
            progress = Progress(
                done=self.done, failed=self.failed, in_flight=self.in_flight, total=self._total
            )
            call_hook(self._on_progress, progress)
        return got

    async def outcomes(self) -> AsyncIterator[RunOutcome]:
        """What ``async for`` iterates; leaving the loop early closes the batch."""
        try:
            while True:
                try:
                    outcome = await self.next_outcome()
                except StopAsyncIteration:
                    return
                yield outcome
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Read no more items, cancel the workers and wait for them (idempotent)."""
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


class RunStream:
    """``async for outcome in stream``: each ``RunOutcome`` as its item finishes.

    Use it as ``async with stream:`` (or call ``aclose()``) to close it at once when you
    stop early: closing stops reading items and cancels the runs in flight. Leaving an
    ``async for`` early closes it too, as soon as asyncio closes the loop's iterator.
    Several consumers may await ``anext(stream)`` at once; each gets its own outcome.
    """

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def __aiter__(self) -> AsyncIterator[RunOutcome]:
        return self._pool.outcomes()

    def __anext__(self) -> Awaitable[RunOutcome]:
        return self._pool.next_outcome()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def in_flight(self) -> int:
        """Items started and not yet handed back."""
        return self._pool.in_flight

    @property
    def done(self) -> int:
        """Outcomes handed back so far."""
        return self._pool.done

    @property
    def failed(self) -> int:
        """Outcomes handed back with an error so far."""
        return self._pool.failed

    async def aclose(self) -> None:
        """Stop reading items, cancel the runs in flight and wait for them to unwind."""
        await self._pool.aclose()

    async def collect(self) -> list[RunOutcome]:
        """Every remaining outcome, in input order (``run_many``).

        If the items raise, ``BatchInputError`` carries these outcomes (``.outcomes``).
        """
        outcomes: list[RunOutcome] = []
        try:
            async with self:
                while True:
                    try:
                        outcomes.append(await self._pool.next_outcome())
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
