"""The tenant limits of Zuora's rate-limits guide: requests in flight, and quotas per window.

Zuora limits each tenant (not each user) in two ways, and the fake models both:

* **concurrency**: at most ``concurrency`` API requests in flight at once (40 by default;
  200 for high-volume tenants). One more gets 429 at once. The OAuth token call is not
  bound by it. Zuora sends the ``Concurrency-Limit-*`` headers only on ``/v1`` and
  ``/object-query`` paths, so a ``/workflows`` 429 carries none of them: it carries
  ``Retry-After`` (the error-codes page says concurrency errors do), the usual
  ``RateLimit-*`` headers, and ``{"message": "..."}`` (the body is UNCONFIRMED);
* **quotas**: API requests per minute, hour and day (failed requests count too), reported
  on every answer as ``RateLimit-Limit: "50000, 50000;w=60, 2250000;w=3600,
  27000000;w=86400"``: the limit of the window closest to exhaustion, then each window's
  quota with its length in seconds. ``RateLimit-Remaining`` and ``RateLimit-Reset`` are that
  closest window's. Going over any window is 429 with ``RateLimit-Remaining: 0``.

Windows are clock-aligned (``[k*w, (k+1)*w)``), judged by the fake's injected clock.
"""

from __future__ import annotations

from typing import Self

import attrs

from ._ratelimit import FixedWindow

__all__ = ["TenantLimits", "TenantQuota"]

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen(kw_only=True)
class TenantLimits:
    """One tenant's limits; the defaults are a Production tenant's (Zuora's table)."""

    concurrency: int = attrs.field(default=40, validator=_positive)
    per_minute: int = attrs.field(default=50_000, validator=_positive)
    per_hour: int = attrs.field(default=2_250_000, validator=_positive)
    per_day: int = attrs.field(default=27_000_000, validator=_positive)

    @classmethod
    def production(cls, *, concurrency: int = 40) -> Self:
        """Production and Central Sandbox: 50,000/min, 2.25M/h, 27M/day."""
        return cls(concurrency=concurrency)

    @classmethod
    def developer_sandbox(cls, *, concurrency: int = 40) -> Self:
        """Developer Sandbox: 12,500/min, 25,000/h, 50,000/day."""
        return cls(concurrency=concurrency, per_minute=12_500, per_hour=25_000, per_day=50_000)

    @classmethod
    def api_sandbox(cls, *, concurrency: int = 40) -> Self:
        """API Sandbox: 2,500/min, 5,000/h, 10,000/day."""
        return cls(concurrency=concurrency, per_minute=2_500, per_hour=5_000, per_day=10_000)


class TenantQuota:
    """The running per-minute, per-hour and per-day counts of one tenant's API requests."""

    def __init__(self, limits: TenantLimits) -> None:
        self._windows = (
            FixedWindow(limits.per_minute, MINUTE),
            FixedWindow(limits.per_hour, HOUR),
            FixedWindow(limits.per_day, DAY),
        )
        # The quotas part of RateLimit-Limit never changes: written once, not per answer.
        self._quotas = ", ".join(f"{w.limit};w={w.seconds:g}" for w in self._windows)

    def hit(self, now: float) -> bool:
        """Count one request in every window; True when any window is over its limit."""
        over = False
        for window in self._windows:
            over = window.hit(now) or over  # every window counts, even after one is over
        return over

    def _standing(self, now: float) -> list[tuple[int, int, FixedWindow]]:
        # Each window's (remaining, reset_in), worked out once per answer.
        return [(w.remaining(now), w.reset_in(now), w) for w in self._windows]

    def reset_in(self, now: float) -> int:
        return self._reset_in(self._standing(now))

    @staticmethod
    def _reset_in(standing: list[tuple[int, int, FixedWindow]]) -> int:
        exhausted = [reset for remaining, reset, _ in standing if remaining == 0]
        if exhausted:
            return max(exhausted)
        # The fewest requests left; on a tie, the window that resets first.
        return min(standing, key=lambda entry: entry[:2])[1]

    def api_headers(self, now: float) -> dict[str, str]:
        standing = self._standing(now)
        remaining, reset, closest = min(standing, key=lambda entry: entry[:2])
        return {
            "RateLimit-Limit": f"{closest.limit}, {self._quotas}",
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(self._reset_in(standing) if remaining == 0 else reset),
        }
