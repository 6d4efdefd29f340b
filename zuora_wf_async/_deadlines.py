"""Many waiters' deadlines on one timer: the slot waits of the limiter and the shared gate.

A slot wait ends when another request ends, not through the injected sleep, so its deadline
is kept on the loop's own clock. A timer per wait (``asyncio.timeout``) is set and
cancelled for every request that queues for a slot, and leaves a cancelled handle in the
loop's heap until its far-off deadline: handles that pile up into garbage collections on
every batch that queues. One watchdog serves every waiter instead.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any


class DeadlineWatch:
    """Fails each watched future with ``expired()`` once its deadline passes."""

    def __init__(self, expired: Callable[[], BaseException]) -> None:
        self._expired = expired
        self._deadlines: dict[asyncio.Future[Any], float] = {}
        self._watchdog: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """How many waiters are watched."""
        return len(self._deadlines)

    def watch(self, waiter: asyncio.Future[Any], time_left: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + time_left
        self._deadlines[waiter] = due
        if self._watchdog is None or due < self._watchdog.when():
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = loop.call_at(due, self._expire)

    def forget(self, waiter: asyncio.Future[Any]) -> None:
        """The waiter is done with (served or given up): its deadline no longer matters."""
        self._deadlines.pop(waiter, None)

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self) -> None:
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        earliest = math.inf
        for waiter, due in list(self._deadlines.items()):
            if waiter.done():
                del self._deadlines[waiter]
            elif due <= now:
                del self._deadlines[waiter]
                waiter.set_exception(self._expired())
            else:
                earliest = min(earliest, due)
        if not math.isinf(earliest):
            self._watchdog = loop.call_at(earliest, self._expire)
