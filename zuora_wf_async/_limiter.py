"""The gate every request passes: a slot (adaptive concurrency), quota pauses, rate cap.

A caller holds a slot only for one attempt's round trip (``try_acquire`` or
``wait_for_slot``, then ``release`` with the answer, which teaches ``_core.pacing`` what
Zuora's limits are). Waits (a pause, a quota wait, the rate cap) happen without a slot,
through the injected ``sleep``, so tests drive time with a manual clock. Every wait ends by
the caller's deadline: a pause or quota wait longer than the time left raises
``WaitPastDeadline`` at once (the caller turns it into a ``RateLimitError`` saying how long
Zuora asked to wait), and a wait for a free slot is cut off at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from zuora_wf_async._core.pacing import Pacing, Verdict
from zuora_wf_async._core.ratelimit import (
    RateLimitInfo,
    has_plenty_left,
    parse_rate_limit,
    parse_retry_after,
)
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._deadlines import DeadlineWatch

__all__ = ["AdaptiveLimiter", "Learned", "WaitPastDeadline"]

_NO_CHANGE = Verdict()


class Learned(NamedTuple):
    """What one answer taught the pacing (``status`` None: no answer came), as the tenant
    gate's ``release`` shares it with the other processes."""

    status: int | None = None
    info: RateLimitInfo | None = None
    verdict: Verdict = _NO_CHANGE
    plenty: bool = False


_NOTHING_LEARNED = Learned()


class WaitPastDeadline(Exception):  # noqa: N818 -- an internal signal, never leaves the library
    """Taking a slot would mean waiting past the caller's deadline. ``paused_for``: the
    pause or quota wait Zuora asked for (seconds), None for a wait for a free slot."""

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
        self._deadlines = DeadlineWatch(lambda: WaitPastDeadline(None))
        self._room_waiters: deque[asyncio.Future[None]] = deque()  # see wait_for_room
        self._room_check: asyncio.Handle | None = None

    def try_acquire(self) -> int | None:
        """A free slot without suspending (its pacing generation), or None: then
        ``wait_for_slot``. Runs once per request: a plain function, not a coroutine."""
        pacing = self.pacing
        if (
            self.in_flight < pacing.capacity
            and not self._waiters
            and (not pacing.metered or pacing.before_send(self.clock()) == 0.0)
        ):
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return pacing.generation
        return None

    def release(self, answer: RawResponse | None = None, generation: int = 0) -> Learned:
        """Give the slot back, first learning from ``answer`` (to a request sent in
        ``generation``) what Zuora's limits are; what it taught, for the tenant gate."""
        learned = _NOTHING_LEARNED
        if answer is not None:
            pacing = self.pacing
            status = answer.status
            # Most answers say the quota is far from spent; only near the end of a window
            # (or on a 429, judged by the 429 rules) is every rate header worth reading. A
            # 5xx's figures count like a success's: Pacing reads them alike.
            plenty = status != 429 and has_plenty_left(answer.headers, pacing.plenty_above)
            if plenty and pacing.at_rest:
                learned = Learned(status, None, _NO_CHANGE, True)  # it would change nothing
            else:
                # Away from rest, an error's plenty figures still end a quota count-down.
                info = None if plenty and status < 300 else parse_rate_limit(answer.headers)
                retry_after = None
                if status == 429:
                    reset = info.reset if info else None
                    retry_after = parse_retry_after(answer.headers) or reset
                verdict = pacing.on_answer(
                    generation,
                    status,
                    info,
                    now=self.clock(),
                    retry_after=retry_after,
                    others_in_flight=self.in_flight - 1,
                )
                learned = Learned(status, info, verdict, plenty)
        self.in_flight -= 1
        # Freed slots go straight to waiters in arrival order: a woken waiter owns its slot
        # already, so a newcomer cannot overtake it.
        while self._waiters and self.in_flight < self.pacing.capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                self._deadlines.forget(waiter)
                waiter.set_result(None)
        if self._room_waiters and self._room_check is None:
            # Looked at once this step is over: a slot its caller takes again at once (the
            # next item of a batch worker) wakes nobody.
            self._room_check = asyncio.get_running_loop().call_soon(self._wake_for_room)
        return learned

    def has_room(self) -> bool:
        """Whether a newcomer would get a slot now (a pause, which ends by time, aside)."""
        return not self._waiters and self.in_flight < self.pacing.capacity

    async def wait_for_room(self) -> None:
        """Until ``has_room``, taking nothing: a batch reads its next item only then, so
        its items beyond the free slots stay unread instead of queueing here."""
        while not self.has_room():
            room = asyncio.get_running_loop().create_future()
            self._room_waiters.append(room)
            try:
                await room
            except BaseException:
                if room.done() and not room.cancelled():
                    self._wake_for_room()  # woken as it gave up: pass the wake on
                else:
                    with contextlib.suppress(ValueError):
                        self._room_waiters.remove(room)
                raise

    def _wake_for_room(self) -> None:
        self._room_check = None
        free = 0 if self._waiters else self.pacing.capacity - self.in_flight
        woken = 0
        while woken < free and self._room_waiters:
            room = self._room_waiters.popleft()
            if not room.done():
                room.set_result(None)
                woken += 1
        if woken and self._room_waiters:
            # Look again once the woken have run: one that found nothing more to read
            # took no slot, and a slot nobody takes must wake the next waiter.
            self._room_check = asyncio.get_running_loop().call_soon(self._wake_for_room)

    async def wait_for_slot(self, deadline_at: float = math.inf) -> int:
        """A slot once ``try_acquire`` said none is free now; the pacing generation.

        Waits out a pause, then for a free slot (in arrival order), then for quota or the
        rate cap, each only until ``deadline_at`` (the clock's time): ``WaitPastDeadline``
        instead of waiting past it.
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
                    await waiter  # release hands the slot over with the result
                except BaseException:
                    self._deadlines.forget(waiter)
                    if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                        self.release()  # a slot was handed to us as we gave up: pass it on
                    else:  # release may have dropped it already (cancelled or expired)
                        with contextlib.suppress(ValueError):
                            self._waiters.remove(waiter)
                    raise
            # The wait for a slot may have outlived a pause set meanwhile, and the send
            # itself may have to wait for quota or rate: give the slot back while waiting.
            now = self.clock()
            wait = self.pacing.before_send(now)
            if wait > 0:
                self.release()
                await self._wait(wait, now, deadline_at)
                continue
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.pacing.generation

    async def _wait(self, seconds: float, now: float, deadline_at: float) -> None:
        if now + seconds >= deadline_at:
            raise WaitPastDeadline(seconds)
        await self._sleep(seconds)
