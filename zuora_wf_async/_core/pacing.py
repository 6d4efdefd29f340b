"""How fast to send: adaptive concurrency, quota pauses and an optional rate cap.

The rules live here; the waiting lives in ``_limiter``. All times are seconds on the
client's injected clock.

- **Concurrency adapts (AIMD).** A 429 cuts the allowed concurrency in half; each success
  adds ``1/limit`` (about one more slot per round of successes), never above the configured
  maximum. Only the first 429 of a "generation" cuts: the requests already in flight when
  the limit was cut will collect their own 429s, and halving once per such 429 would
  collapse the limit to 1 on a single burst.
- **Quota exhaustion pauses.** ``RateLimit-Remaining`` minus the requests sent since is our
  estimate of what is left in Zuora's window; at zero new requests wait for
  ``RateLimit-Reset`` instead of each collecting a 429. A ``Retry-After`` pauses everyone
  the same way.
- **An optional rate cap** spaces sends ``1/max_rate`` seconds apart, for tenants whose
  quota is known up front.
"""

from __future__ import annotations

import math

from zuora_wf_async._core.ratelimit import RateLimitInfo

__all__ = ["Pacing"]


class Pacing:
    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        decrease: float = 0.5,
        max_rate: float | None = None,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.min_concurrency = min(min_concurrency, max_concurrency)
        self.decrease = decrease
        self.max_rate = max_rate
        self.limit = float(max_concurrency)
        self.generation = 0
        self.paused_until = -math.inf
        self._next_send_at = -math.inf
        self._quota_left: int | None = None
        self._quota_reset_at = -math.inf
        self.cuts = 0
        self.pauses = 0

    @property
    def capacity(self) -> int:
        """Requests allowed in flight right now."""
        return max(self.min_concurrency, int(self.limit))

    def pause_remaining(self, now: float) -> float:
        return max(0.0, self.paused_until - now)

    def _pause(self, until: float) -> None:
        if until > self.paused_until:
            self.paused_until = until
            self.pauses += 1

    def before_send(self, now: float) -> float:
        """Seconds to wait before this send; 0 reserves the send (quota and rate) now."""
        pause = self.pause_remaining(now)
        if pause > 0:
            return pause
        if self._quota_left is not None:
            if now >= self._quota_reset_at:
                self._quota_left = None  # a new window: unknown until a response says
            elif self._quota_left <= 0:
                self._pause(self._quota_reset_at)
                return self._quota_reset_at - now
            else:
                self._quota_left -= 1
        if self.max_rate is not None:
            slot = max(now, self._next_send_at)
            if slot > now:
                return slot - now
            self._next_send_at = slot + 1.0 / self.max_rate
        return 0.0

    def on_response(self, info: RateLimitInfo | None, now: float, others_in_flight: int) -> None:
        """Learn from a response's ``RateLimit-*`` and ``Concurrency-Limit-*`` headers."""
        if info is None:
            return
        if info.remaining is not None and info.reset is not None:
            # Requests still in flight may not be counted in this figure yet; assume not.
            self._quota_left = info.remaining - others_in_flight
            self._quota_reset_at = now + info.reset
        if info.concurrency_limit:
            self.limit = min(self.limit, float(info.concurrency_limit))
        if info.concurrency_remaining == 0:
            self.limit = max(float(self.min_concurrency), min(self.limit, others_in_flight))

    def on_plenty(self) -> None:
        """A response said the quota is far from spent: stop counting it down."""
        self._quota_left = None

    def on_success(self) -> None:
        self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)

    def on_throttled(self, generation: int, now: float, retry_after: float | None) -> None:
        """A 429 for a request sent during ``generation``."""
        if generation == self.generation:
            self.limit = max(float(self.min_concurrency), self.limit * self.decrease)
            self.generation += 1
            self.cuts += 1
        if retry_after:
            self._pause(now + retry_after)
