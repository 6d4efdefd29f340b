"""The gate every request passes: adaptive concurrency, quota pauses, rate cap.

It guards requests in flight, not sleepers: a caller holds a slot only for one attempt's
round trip. Waits (a quota pause, a ``Retry-After``, the rate cap) happen without a slot,
through the injected ``sleep``, so tests drive time with a manual clock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from zuora_wf_async._core.pacing import Pacing
from zuora_wf_async._core.ratelimit import RateLimitInfo

__all__ = ["AdaptiveLimiter"]


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

    @property
    def max_concurrency(self) -> int:
        return self.pacing.max_concurrency

    def try_acquire(self) -> int | None:
        """Take a free slot without suspending, or None when the caller must ``acquire``.

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

    async def acquire(self) -> int:
        """Take a slot; returns the pacing generation to hand back to ``observe``."""
        generation = self.try_acquire()
        return generation if generation is not None else await self._acquire_slowly()

    def release(self) -> None:
        self._release()

    def observe(
        self, generation: int, info: RateLimitInfo | None, *, status: int, retry_after: float | None
    ) -> None:
        """Learn from one response to a request sent in ``generation``."""
        now = self.clock()
        if info is None and status < 300:
            self.pacing.on_plenty()
        else:
            self.pacing.on_response(info, now, self.in_flight - 1)
        if status == 429:
            self.pacing.on_throttled(generation, now, retry_after)
        elif 200 <= status < 300:
            self.pacing.on_success()

    async def _acquire_slowly(self) -> int:
        while True:
            pause = self.pacing.pause_remaining(self.clock())
            if pause > 0:
                await self._sleep(pause)
                continue
            await self._take_slot()
            # The wait for a slot may have outlived a pause set meanwhile, and the send
            # itself may have to wait for quota or rate: give the slot back while waiting.
            wait = self.pacing.before_send(self.clock())
            if wait > 0:
                self._release()
                await self._sleep(wait)
                continue
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.pacing.generation

    async def _take_slot(self) -> None:
        if self.in_flight < self.pacing.capacity and not self._waiters:
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # a slot was handed to us as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        self.in_flight -= 1
        # Hand freed slots straight to waiters in arrival order; a woken waiter owns its
        # slot already, so a newcomer cannot overtake it.
        while self._waiters and self.in_flight < self.pacing.capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
