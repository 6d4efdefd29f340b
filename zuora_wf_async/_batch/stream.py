"""``RunStream``: the batch's worker pool, and the consumer's side of it.

Each worker takes a place in the window, reads the next item, runs it (``run_item``, made
by ``fanout.FanOut``) and hands back its ``RunOutcome``, to the stream's consumer
(completion order) or straight into ``run_many``'s list. A place is given back with the
outcome, so at most ``window`` items are read and not yet handed back, whatever the
input's length or the consumer's pace. A worker reads its next item only once the client's
limiter has a free slot for it, so the items beyond the limit stay unread in the input.

Closing (``aclose``, leaving ``async with``, cancelling the consumer, leaving ``async
for`` early: asyncio closes the loop's async generator) cancels the workers and waits
for them. If the caller's iterable raises, no more items are read, the runs already
started end and are handed back, then ``BatchInputError`` is raised.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Self

from zuora_wf_async._batch.outcomes import Progress, RunOutcome
from zuora_wf_async._errors import BatchInputError
from zuora_wf_async._events import call_hook
from zuora_wf_async._limiter import AdaptiveLimiter
from zuora_wf_async._telemetry import BatchTrace

__all__ = ["WORKER_NAME", "RunStream"]

#: The name of every worker task (tests find them by it: none may outlive its batch).
WORKER_NAME = "zuora_wf_async batch worker"
_END: Any = object()  # no more items; and, queued, the end of the outcomes
_BY_INDEX = operator.attrgetter("index")


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
        run_item: Callable[[int, object], Awaitable[RunOutcome]],
        items: Iterable[object] | AsyncIterable[object],
        *,
        window: int,
        total: int | None,
        on_progress: Callable[[Progress], object] | None,
        trace: BatchTrace,
        before_first: Callable[[], Awaitable[None]] | None,
        limiter: Callable[[], AdaptiveLimiter | None],
    ) -> None:
        try:
            self._sync = iter(items) if isinstance(items, Iterable) else None
            self._async = aiter(items) if self._sync is None else None  # type: ignore[arg-type]
        except Exception as exc:  # the caller's iterable: nothing was sent
            raise BatchInputError(cause=exc, items_read=0) from exc
        self._run_item = run_item
        self._limiter = limiter  # the client's, once it is open
        # No more workers than items when the count is known; made one by one as items
        # are read (see _next), so a short batch or a slow input makes few.
        self._most_workers = window if total is None else max(1, min(window, total))
        self._total = total
        self._on_progress = on_progress
        self._trace = trace
        self._before_first = before_first
        self._places = asyncio.Semaphore(window)  # a place per item read, until handed back
        self._reading = asyncio.Lock()
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
        await self._places.acquire()
        limiter = self._limiter()
        if self._read and limiter is not None and not limiter.has_room():
            # An item read now would wait in the limiter as a chain of coroutines (~15%
            # more CPU per run). One sleeping out a Retry-After gives its slot back
            # meanwhile, and the next item is read into it.
            await limiter.wait_for_room()
        item = _END if self._exhausted else await self._read_one()
        if item is _END:
            self._exhausted = True
            self._places.release()
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

    async def _read_one(self) -> object:
        try:
            if self._sync is not None:
                return next(self._sync, _END)
            async with self._reading:  # an async generator refuses a second anext
                if self._exhausted:  # while this worker waited for the lock
                    return _END
                return await anext(self._async, _END)  # type: ignore[arg-type]  # not sync
        except Exception as exc:  # noqa: BLE001 -- the caller's iterable
            # Read no more, and let the items already started end: their runs exist at
            # Zuora (with generated keys the caller could not find them), so cancelling
            # would lose them. The consumer raises BatchInputError once it has them all.
            self._input_error = exc
            return _END

    def _hand_back(self, outcome: RunOutcome) -> None:
        self._places.release()
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
