"""The gate every request passes: adaptive concurrency, quota pauses, rate cap.

It guards requests in flight, not sleepers: a caller holds a slot only for one attempt's
round trip. Waits (a quota pause, a ``Retry-After``, the rate cap) happen without a slot,
through the injected ``sleep``, so tests drive time with a manual clock.

Every wait ends by the caller's deadline: a pause or quota wait longer than the time left
raises ``WaitPastDeadline`` at once (the caller turns it into a ``RateLimitError`` saying
how long Zuora asked to wait), and a wait for a free slot is cut off at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable

from zuora_wf_async._core.pacing import Pacing, Verdict
from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._deadlines import DeadlineWatch

_NO_CHANGE = Verdict()

__all__ = ["AdaptiveLimiter", "WaitPastDeadline"]


class WaitPastDeadline(Exception):  # noqa: N818 -- an internal signal, never leaves the library
    """Taking a slot would mean waiting past the caller's deadline.

    ``paused_for`` is the pause or quota wait Zuora asked for (seconds), or None when the
    wait was for a free slot.
    """

    def __init__(self, paused_for: float | None) -> None:
        self.paused_for = paused_for
        super().__init__(paused_for)


class AdaptiveLimiter:
    def __init__(
        self,
        max_concurrency: int,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
        max_rate: float | None = None,
    ) -> None:
        self.pacing = Pacing(max_concurrency, max_rate=max_rate)
        self.clock = clock
        self._sleep = sleep
        self.in_flight = 0
        self.peak_in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Each waiter's deadline, on one timer (see _deadlines).
        self._deadlines = DeadlineWatch(lambda: WaitPastDeadline(None))

    @property
    def max_concurrency(self) -> int:
        return self.pacing.max_concurrency

    def try_acquire(self) -> int | None:
        """Take a free slot without suspending, or None: then ``wait_for_slot``.

        The common case (no pause, a free slot, nobody queued, no quota or rate wait);
        this runs once per request, so it is a plain function, not a coroutine.
        """
        if (
            self.in_flight < self.pacing.capacity
            and not self._waiters
            and self.pacing.before_send(self.clock()) == 0.0
        ):
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.pacing.generation
        return None

    def release(self) -> None:
        self._release()

    def free_slots(self) -> int:
        """Slots a newcomer could take now (0 while anyone is queued for one).

        Pauses and quota waits are not counted: a caller that waits for room must not
        wait on a pause, which ends by time, not by a request ending (see ``_fanout``).
        """
        return 0 if self._waiters else self.pacing.capacity - self.in_flight

    def observe(
        self, generation: int, info: RateLimitInfo | None, *, status: int, retry_after: float | None
    ) -> Verdict:
        """Learn from one response to a request sent in ``generation``; the verdict says
        what changed (a cut, a pause), for shared limits to tell other processes."""
        if info is None and status < 300:
            if status >= 200:  # the common answer: plenty of quota (or no rate headers)
                self.pacing.on_plenty_success(self.clock())
                return _NO_CHANGE
            self.pacing.on_plenty()
        return self.pacing.on_answer(
            generation,
            status,
            info,
            now=self.clock(),
            retry_after=retry_after,
            others_in_flight=self.in_flight - 1,
        )

    async def wait_for_slot(self, deadline_at: float = math.inf) -> int:
        """Take a slot once ``try_acquire`` said none is free now; the pacing generation.

        Waits out a pause, then for a free slot (in arrival order), then for quota or the
        rate cap, each only until ``deadline_at`` (the clock's time): ``WaitPastDeadline``
        instead of waiting past it. One coroutine: many requests park here at once.
        """
        while True:
            now = self.clock()
            pause = self.pacing.pause_remaining(now)
            if pause > 0:
                await self._wait(pause, now, deadline_at)
                continue
            if self.in_flight < self.pacing.capacity and not self._waiters:
                self.in_flight += 1
            else:
                time_left = deadline_at - now
                if time_left <= 0:
                    raise WaitPastDeadline(None)
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                if not math.isinf(time_left):
                    self._deadlines.watch(waiter, time_left)
                try:
                    await waiter  # _release hands the slot over with the result
                except BaseException:
                    self._give_back(waiter)
                    raise
            # The wait for a slot may have outlived a pause set meanwhile, and the send
            # itself may have to wait for quota or rate: give the slot back while waiting.
            now = self.clock()
            wait = self.pacing.before_send(now)
            if wait > 0:
                self._release()
                await self._wait(wait, now, deadline_at)
                continue
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.pacing.generation

    async def _wait(self, seconds: float, now: float, deadline_at: float) -> None:
        if now + seconds >= deadline_at:
            raise WaitPastDeadline(seconds)
        await self._sleep(seconds)

    def _give_back(self, waiter: asyncio.Future[None]) -> None:
        self._deadlines.forget(waiter)
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            self._release()  # a slot was handed to us as we gave up: pass it on
        else:
            # _release may have dropped it already (done: cancelled or expired).
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _release(self) -> None:
        self.in_flight -= 1
        # Hand freed slots straight to waiters in arrival order; a woken waiter owns its
        # slot already, so a newcomer cannot overtake it.
        while self._waiters and self.in_flight < self.pacing.capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                self._deadlines.forget(waiter)
                waiter.set_result(None)
