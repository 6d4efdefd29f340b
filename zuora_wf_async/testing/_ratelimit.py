"""Fixed-window request counting and the rate-limit headers Zuora derives from it.

Zuora reports the window "closest to exhaustion" in ``RateLimit-Limit`` as
``"<limit>, <limit>;w=<seconds>"``; the fake has one window per quota, so both numbers match.
The OAuth endpoint reports ``X-RateLimit-Limit-minute`` / ``X-RateLimit-Remaining-minute``
instead, as the official OpenAPI document shows.
"""

from __future__ import annotations

import math

import attrs

__all__ = ["FixedWindow"]


@attrs.define
class FixedWindow:
    """Counts requests in clock-aligned windows of ``seconds``: [k*seconds, (k+1)*seconds)."""

    limit: int
    seconds: float
    _index: int = attrs.field(default=-1, init=False)
    _count: int = attrs.field(default=0, init=False)

    def _roll(self, now: float) -> None:
        index = math.floor(now / self.seconds)
        if index != self._index:
            self._index = index
            self._count = 0

    def hit(self, now: float) -> bool:
        """Count one request (failed ones count too); ``True`` when it is over the limit."""
        self._roll(now)
        self._count += 1
        return self._count > self.limit

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(0, self.limit - self._count)

    def reset_in(self, now: float) -> int:
        """Whole seconds until the window resets, at least 1 so a client never spins."""
        self._roll(now)
        end = (self._index + 1) * self.seconds
        return max(1, math.ceil(end - now))

    def api_headers(self, now: float) -> dict[str, str]:
        return {
            "RateLimit-Limit": f"{self.limit}, {self.limit};w={self.seconds:g}",
            "RateLimit-Remaining": str(self.remaining(now)),
            "RateLimit-Reset": str(self.reset_in(now)),
        }

    def auth_headers(self, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit-minute": str(self.limit),
            "X-RateLimit-Remaining-minute": str(self.remaining(now)),
        }
