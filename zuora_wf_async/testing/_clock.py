"""A clock that only moves when a test says so.

The fake judges token expiry, idempotency-key expiry, run progress and quota windows by an
injected ``Callable[[], float]``. Handing it a :class:`ManualClock` makes those judgements
deterministic; the same object's :meth:`ManualClock.sleep` can be injected into a retry loop
so that backing off takes no real time and the requested delays can be asserted.
"""

from __future__ import annotations

import asyncio

__all__ = ["ManualClock"]


class ManualClock:
    """A monotonic clock advanced by hand; ``clock()`` returns the current reading."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"

    def advance(self, seconds: float) -> None:
        """Move time forward; a monotonic clock never goes back, so negatives are refused."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds!r})")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, move time to at least now + ``seconds``, and yield once.

        Concurrent sleepers overlap as they would in real time: 16 tasks that each sleep
        1 s from the same moment leave the clock 1 s later, not 16 s.
        """
        self.sleeps.append(seconds)
        wake_at = self._now + max(0.0, seconds)
        await asyncio.sleep(0)
        self._now = max(self._now, wake_at)
