"""The gate every request passes: at most ``max_concurrency`` requests in flight.

It guards requests in flight, not sleepers: a caller holds a slot only for one attempt's
round trip, and never while it backs off between attempts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ConcurrencyLimiter"]


class ConcurrencyLimiter:
    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.in_flight = 0
        self.peak_in_flight = 0
        self._semaphore = asyncio.Semaphore(max_concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1
