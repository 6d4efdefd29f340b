"""How fast to send: adaptive concurrency, quota pauses and an optional rate cap.

The rules live here, pure; the waiting lives in ``_limiter`` (and, across processes, in
``_shared``). All times are seconds on the client's injected clock. Zuora answers 429 for
two reasons, with different cures:

- **Too many in flight** (``Concurrency-Limit-Remaining: 0``, quota left, or no rate
  headers at all: Zuora's concurrency errors carry only ``Retry-After``). The tenant took
  the requests we had in flight besides the refused one, and no more: the limit drops to
  that count (never below one) and holds there ``HOLD`` seconds, then climbs back by 1, 2,
  4, ... slots every ``CLIMB_STEP`` (from 1 to 40 in ~3.5 s, whatever the latency). A burst
  of refusals (64 sent to a tenant of 40) settles where the tenant stopped accepting (40),
  where halving settled at 20-32 and climbed back into the next 429 within a second (issue
  24). A climb refused again (``max_concurrency`` above the tenant's limit) doubles the
  hold, up to ``MAX_HOLD``: each probe costs a 429 and its request a ``Retry-After``.
  Nobody pauses: the refused request alone waits, in the retry loop.
- **The window is spent** (``RateLimit-Remaining: 0``). Every new request waits for the
  reset, **once**: the 429s of requests in flight when the pause began belong to the same
  window (an older ``generation``) and neither extend it nor count as new pauses. A spent
  429 that what we know contradicts (the last answers said plenty was left) is a fluke
  until ``confirm_spent`` come in a row: at 3% random 429s a run of three comes by chance
  every ~37,000 answers (a 1 s pause for everyone, every ten seconds at 4,000 answers a
  second), a run of five once in ~41 million; a window truly spent answers every request
  in flight with a 429, so five come at once.

``RateLimit-Remaining`` minus the requests sent since is our estimate of the window's
quota: at zero, new requests wait for ``RateLimit-Reset`` instead of each collecting a 429.
An optional rate cap spaces sends ``1/max_rate`` seconds apart. With shared limits Redis
applies the same concurrency rule, with these constants, and the pause a :class:`Verdict`
names, for every process of the tenant (``_shared._scripts``).
"""

from __future__ import annotations

import enum
import math

import attrs

from zuora_wf_async._core.ratelimit import RateLimitInfo

__all__ = [
    "CLIMB_STEP",
    "DEFAULT_PAUSE",
    "HOLD",
    "MAX_HOLD",
    "Pacing",
    "Throttle",
    "Verdict",
    "classify_429",
]

# A spent-window 429 that names no wait: a second, the smallest Zuora names.
DEFAULT_PAUSE = 1.0
HOLD = 2.0
MAX_HOLD = 8.0
CLIMB_STEP = 0.25
# 2 ** this many steps is far past any ceiling: the climb is over (and no float overflows).
_CLIMB_DONE = 30.0


class Throttle(enum.Enum):
    """Why a 429 was sent, as far as its headers tell."""

    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    WINDOW_SPENT = "window_spent"


def classify_429(info: RateLimitInfo | None) -> Throttle:
    """A spent window only on ``RateLimit-Remaining: 0`` with no concurrency header saying
    otherwise; anything else, no rate headers included, is too many in flight."""
    if info is not None and info.remaining == 0 and info.concurrency_remaining != 0:
        return Throttle.WINDOW_SPENT
    return Throttle.TOO_MANY_IN_FLIGHT


@attrs.frozen
class Verdict:
    """What one answer changed: a concurrency cut, and/or a pause for everyone until
    ``pause_until`` (clock seconds); ``isolated``: a spent-window 429 read as a fluke."""

    cut: bool = False
    pause_until: float | None = None
    isolated: bool = False


_NOTHING = Verdict()


class Pacing:
    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        max_rate: float | None = None,
        confirm_spent: int = 5,
    ) -> None:
        self.max_concurrency = max_concurrency
        # What the limit climbs back to: lower if Concurrency-Limit-Limit says so.
        self.ceiling = float(max_concurrency)
        self.min_concurrency = min(min_concurrency, max_concurrency)
        self.max_rate = max_rate
        self.confirm_spent = max(1, confirm_spent)
        # A window with more than this left is far from spent: no count-down (the limiter
        # reads no other header of a success that says so).
        self.plenty_above = 4 * max_concurrency
        self.limit = float(max_concurrency)  # fractional while it climbs
        self.capacity = max_concurrency  # requests allowed in flight now: int(limit)
        self._cut_to = self.limit  # where the last too-many 429 left the limit ...
        self._cut_at = -math.inf  # ... and when
        self._hold = HOLD  # how long the limit stays there before it climbs
        self.generation = 0  # bumped by each cut and pause
        self.paused_until = -math.inf
        self._next_send_at = -math.inf
        self._quota_left: int | None = None
        self._quota_reset_at = -math.inf
        self._plenty = False  # the last quota reading said "far from spent"
        self._spent_in_a_row = 0  # spent-window 429s since the last success
        # Plain flags the limiter reads on every request, so that the common request
        # enters no function of this class: ``metered``, before_send has something to say
        # (a pause, a quota count-down, the rate cap); ``at_rest``, a 2xx without quota
        # figures would change nothing (on_answer may be skipped for it).
        self.metered = max_rate is not None
        self.at_rest = False
        self.cuts = 0
        self.pauses = 0
        self.isolated_429s = 0

    def pause_remaining(self, now: float) -> float:
        return max(0.0, self.paused_until - now)

    def before_send(self, now: float) -> float:
        """Seconds to wait before this send; 0 reserves the send (quota and rate) now."""
        if now < self.paused_until:
            return self.paused_until - now
        if self._quota_left is not None:
            if now >= self._quota_reset_at:
                self._quota_left = None  # a new window: unknown until an answer says
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
        self.metered = self.max_rate is not None or self._quota_left is not None
        return 0.0

    def on_answer(  # noqa: PLR0912 -- one answer, read top to bottom in one function
        self,
        generation: int,
        status: int,
        info: RateLimitInfo | None,
        *,
        now: float,
        retry_after: float | None,
        others_in_flight: int,
    ) -> Verdict:
        """Learn from one answer to a request sent in ``generation``; say what changed.

        ``info``: the answer's rate headers, None when it had none or when they said
        plenty of quota is left (a 2xx without figures counts as plenty).
        ``others_in_flight``: this process's other requests in flight now.
        """
        if status == 429 and classify_429(info) is Throttle.WINDOW_SPENT:
            assert info is not None  # noqa: S101 -- WINDOW_SPENT reads info.remaining
            return self._spent(generation, info.reset, now, retry_after)
        before = self.limit
        if info is None:
            if status < 300:
                self._quota_left = None
                self._plenty = True
        else:
            if info.remaining is not None and info.reset is not None:
                if info.remaining > self.plenty_above:  # far from spent: nothing to count
                    self._quota_left = None
                    self._plenty = True
                else:  # requests in flight may not be counted in this figure yet
                    self._quota_left = info.remaining - others_in_flight
                    self._quota_reset_at = now + info.reset
                    self._plenty = self._quota_left > 0
                    self.metered = True
            if info.concurrency_limit:
                self.ceiling = float(min(self.max_concurrency, info.concurrency_limit))
                self._cut_to = min(self._cut_to, self.ceiling)
                if self.limit > self.ceiling:
                    self._set_limit(self.ceiling)
        if status == 429 or (info is not None and info.concurrency_remaining == 0):
            self._cut_to_in_flight(now, others_in_flight)
        if 200 <= status < 300:
            self._spent_in_a_row = 0
            if self.limit < self.ceiling:
                self._climb(now)
        self.at_rest = (
            self._quota_left is None
            and self._plenty
            and not self._spent_in_a_row
            and self.limit >= self.ceiling
        )
        if status == 429 and self.limit < before:
            # Every refusal counts, those of requests sent before the last cut too: each
            # frees its slot, so a burst cuts only as far as the tenant took, never to one.
            self.generation += 1
            self.cuts += 1
            return Verdict(cut=True)
        return _NOTHING

    def pause_until(self, until: float) -> None:
        """Pause new sends until ``until``: another process saw the window spent. Bumps
        the generation so in-flight 429s of that window cause no second pause."""
        if until > self.paused_until:
            self._pause(until)
            self.generation += 1

    # -- the rules ------------------------------------------------------------------------

    def _set_limit(self, value: float) -> None:
        self.limit = value
        self.capacity = max(self.min_concurrency, int(value))

    def _climb(self, now: float) -> None:
        steps = (now - self._cut_at - self._hold) / CLIMB_STEP
        if steps > 0:
            self._set_limit(min(self.ceiling, self._cut_to + 2.0 ** min(steps, _CLIMB_DONE) - 1))
            if self.limit >= self.ceiling:  # back: the next cut starts afresh
                self._cut_to, self._hold = self.ceiling, HOLD

    def _cut_to_in_flight(self, now: float, others_in_flight: int) -> None:
        learned = max(float(self.min_concurrency), float(others_in_flight))
        if learned < self.limit:
            if self.limit > self._cut_to:  # refused while climbing: the wall is still there
                self._hold = min(2.0 * self._hold, MAX_HOLD)
            self._set_limit(learned)
            self._cut_to, self._cut_at = learned, now

    def _spent(
        self, generation: int, reset: float | None, now: float, retry_after: float | None
    ) -> Verdict:
        self.at_rest = False
        self._spent_in_a_row += 1
        if self._quota_left is not None and now < self._quota_reset_at:
            quota_known_left = self._quota_left > 0
        else:
            quota_known_left = self._plenty
        if self._spent_in_a_row < self.confirm_spent and quota_known_left:
            self.isolated_429s += 1
            return Verdict(isolated=True)
        if generation != self.generation:
            return _NOTHING  # already paused for this window by an earlier 429
        until = now + (retry_after or reset or DEFAULT_PAUSE)
        self._pause(until)
        self.generation += 1
        self._spent_in_a_row = 0
        self._plenty = False
        self._quota_left = 0
        self._quota_reset_at = until
        return Verdict(pause_until=until)

    def _pause(self, until: float) -> None:
        if until > self.paused_until:
            self.paused_until = until
            self.pauses += 1
            self.metered = True
