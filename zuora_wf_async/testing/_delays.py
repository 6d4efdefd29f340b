"""The fake's waits: a delay (latency, a ``slow`` fault) that closing the fake ends early.

One timer and one future per wait, on the event loop's clock.
"""

from __future__ import annotations

import asyncio

__all__ = ["Delays"]


class Delays:
    """Every delay the fake is waiting out, so that :meth:`end_all` can end them at once."""

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._sleepers: set[asyncio.Future[None]] = set()

    def reopen(self) -> None:
        self._closing.clear()

    def end_all(self) -> None:
        """End every delay now, and every later one at once, until :meth:`reopen`."""
        self._closing.set()
        for sleeper in self._sleepers:
            _wake(sleeper)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await self.sleep_until(asyncio.get_running_loop().time() + seconds)

    async def sleep_until(self, deadline: float) -> None:
        """Wait until the loop's clock reads ``deadline`` (never earlier); closing ends it.

        One timer and one future per wait: ``asyncio.timeout`` would cancel the task to end
        the wait, several times the work, and under a batch of thousands of runs the fake's
        own time per request is what a client measures as extra latency.
        """
        loop = asyncio.get_running_loop()
        if self._closing.is_set() or deadline <= loop.time():
            return
        woken: asyncio.Future[None] = loop.create_future()
        self._sleepers.add(woken)
        timer = loop.call_at(deadline, _wake, woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._sleepers.discard(woken)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)
