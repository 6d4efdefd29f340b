"""How fast to send: adaptive concurrency, quota pauses and an optional rate cap.

The rules live here; the waiting lives in ``_limiter`` (and, across processes, in
``_shared``). All times are seconds on the client's injected clock.

Zuora answers 429 for two different reasons, and they call for different cures:

- **Too many in flight** (the tenant's concurrency limit). The quota is fine; sending
  *fewer at once* cures it. Signs: ``Concurrency-Limit-Remaining: 0``, or a
  ``RateLimit-Remaining`` above zero ("there is quota left, yet you were refused"), or no
  rate headers at all (Zuora's concurrency errors carry only ``Retry-After``). Cure: cut
  the allowed concurrency (below). Nobody pauses; the refused request alone waits its
  ``Retry-After`` in the retry loop.
- **The window is spent** (``RateLimit-Remaining: 0``). Sending anything before
  ``RateLimit-Reset`` only collects more 429s (which count against the next window too).
  Cure: pause every new request until the reset, **once**: the 429s of requests already
  in flight when the pause began belong to the same spent window and neither extend the
  pause nor count as new pauses.

A "spent" 429 is believed only when nothing we know contradicts it. If the last answers
said plenty of quota was left (and no quota count-down of ours reached zero), a lone spent
429 is treated as a fluke: the request retries on its own, everyone else carries on.
``confirm_spent`` such 429s in a row (no success between them, in arrival order) are
believed anyway: a window spent by *other* processes looks exactly like that. Without this,
random isolated 429s (3% of answers, ``Retry-After: 1``) paused everyone about once per
33 answers and cut throughput twentyfold. Five, not three: at 3% a run of three comes by
chance once in ~37,000 answers, every ten seconds at 4,000 answers a second (a 1 s pause
for everyone each time), a run of five once in ~41 million; a window truly spent answers
every request in flight with a 429, so five come at once.

- **Concurrency starts at the ceiling and learns the tenant's limit downward.** The
  ceiling is ``max_concurrency`` (by default the tenant's documented 40), lowered by a
  ``Concurrency-Limit-Limit`` header. A too-many 429 says the tenant took the requests we
  had in flight besides the refused one and no more: the limit drops to that count (never
  below one). Each refusal frees its slot, so a burst of them (64 sent to a tenant of 40)
  settles where the tenant stopped accepting (40), where halving settled at 20-32 and
  climbed back into the next 429 within a second (issue 24: 1.35-1.41x the ideal).
- **Once refusals stop, the limit climbs back within seconds, by the clock.** It holds
  where the tenant accepted us for ``HOLD`` seconds, then climbs by 1, 2, 4, ... slots
  every ``CLIMB_STEP``: back from 1 to 40 in ~3.5 s whatever the latency, where one slot
  per round of successes took minutes for slow calls. A climb the tenant refuses again
  (``max_concurrency`` above the tenant's limit) doubles the hold, up to ``MAX_HOLD``:
  each probe costs a 429, and its request a ``Retry-After`` that, at the end of a batch,
  is added to the whole batch's time.
- **Quota exhaustion pauses.** ``RateLimit-Remaining`` minus the requests sent since is our
  estimate of what is left in Zuora's window; at zero new requests wait for
  ``RateLimit-Reset`` instead of each collecting a 429.
- **An optional rate cap** spaces sends ``1/max_rate`` seconds apart, for tenants whose
  quota is known up front.

Every reaction to an answer is also returned as a :class:`Verdict`, plain data, so that a
shared store can apply the same cut or pause to every process of the tenant.
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

# A spent-window 429 that names no wait at all (no Retry-After, no RateLimit-Reset): a
# second is the smallest wait Zuora ever names (RateLimit-Reset is whole seconds).
DEFAULT_PAUSE = 1.0

# After a too-many 429, the limit stays at what the tenant accepted for HOLD seconds, then
# adds 1, 2, 4, ... slots every CLIMB_STEP seconds until it is back at the ceiling. Each
# climb the tenant refuses again doubles the hold, up to MAX_HOLD, until a climb succeeds.
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
    """Read a 429's headers: a spent window, or too many requests in flight.

    Only ``RateLimit-Remaining: 0`` (with no concurrency header saying otherwise) means the
    window is spent. A 429 without rate headers is read as a concurrency refusal: Zuora
    documents ``Retry-After`` on concurrency errors, and its quota 429s carry
    ``RateLimit-*``.
    """
    if info is None:
        return Throttle.TOO_MANY_IN_FLIGHT
    if info.concurrency_remaining == 0:
        return Throttle.TOO_MANY_IN_FLIGHT
    if info.remaining == 0:
        return Throttle.WINDOW_SPENT
    return Throttle.TOO_MANY_IN_FLIGHT


@attrs.frozen
class Verdict:
    """What one answer changed: a concurrency cut, and/or a pause for everyone until
    ``pause_until`` (clock seconds). ``NOTHING`` for most answers."""

    cut: bool = False
    pause_until: float | None = None
    isolated: bool = False  # a spent-window 429 contradicted by what we know: ignored


_NOTHING = Verdict()


class Pacing:
    capacity: int  # requests allowed in flight now: set with ``limit`` (see its setter)

    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        max_rate: float | None = None,
        confirm_spent: int = 5,
    ) -> None:
        self.max_concurrency = max_concurrency
        # What the limit climbs back to: max_concurrency, or less if Zuora's
        # Concurrency-Limit-Limit header says the tenant allows less.
        self.ceiling = float(max_concurrency)
        self.min_concurrency = min(min_concurrency, max_concurrency)
        self.max_rate = max_rate
        self.confirm_spent = max(1, confirm_spent)
        self.limit = float(max_concurrency)
        self._cut_to = self.limit  # where the last too-many 429 left the limit ...
        self._cut_at = -math.inf  # ... and when (clock seconds)
        self._hold = HOLD  # how long the limit stays there before it climbs
        self.generation = 0
        self.paused_until = -math.inf
        self._next_send_at = -math.inf
        self._quota_left: int | None = None
        self._quota_reset_at = -math.inf
        self._plenty = False  # the last quota reading said "far from spent"
        self._spent_in_a_row = 0  # spent-window 429s since the last success
        self.cuts = 0
        self.pauses = 0
        self.isolated_429s = 0

    @property
    def limit(self) -> float:
        """The adaptive concurrency limit (fractional while it climbs)."""
        return self._limit

    @limit.setter
    def limit(self, value: float) -> None:
        self._limit = value
        # Requests allowed in flight right now: read on every send and release, so kept
        # as a plain attribute rather than worked out each time.
        self.capacity = max(self.min_concurrency, int(value))

    def pause_remaining(self, now: float) -> float:
        return max(0.0, self.paused_until - now)

    def before_send(self, now: float) -> float:
        """Seconds to wait before this send; 0 reserves the send (quota and rate) now."""
        if now < self.paused_until:  # pause_remaining, inline: this runs once per request
            return self.paused_until - now
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

    # -- learning from answers ------------------------------------------------------------

    def on_answer(
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

        ``info`` is the answer's parsed rate headers (None when absent, or when the caller
        skipped parsing because the quota was plentiful: see :meth:`on_plenty`).
        ``others_in_flight`` counts this process's other requests in flight now.
        """
        if status == 429:
            return self._throttled(generation, info, now, retry_after, others_in_flight)
        if info is not None:
            self._learn(info, now, others_in_flight)
        if 200 <= status < 300:
            self._succeeded(now)
        return _NOTHING

    def on_plenty(self) -> None:
        """A response said the quota is far from spent: stop counting it down."""
        self._quota_left = None
        self._plenty = True

    def on_plenty_success(self, now: float) -> None:
        """A 2xx whose headers said the quota is far from spent, the common answer:
        ``on_plenty`` then ``on_answer`` for it (which only counts the success), in one
        call; it runs once per request."""
        self._quota_left = None
        self._plenty = True
        self._succeeded(now)

    # -- the rules ------------------------------------------------------------------------

    def _learn(self, info: RateLimitInfo, now: float, others_in_flight: int) -> None:
        if info.remaining is not None and info.reset is not None:
            # Requests still in flight may not be counted in this figure yet; assume not.
            self._quota_left = info.remaining - others_in_flight
            self._quota_reset_at = now + info.reset
            self._plenty = self._quota_left > 0
        if info.concurrency_limit:
            self.ceiling = float(min(self.max_concurrency, info.concurrency_limit))
            self.limit = min(self.limit, self.ceiling)
            self._cut_to = min(self._cut_to, self.ceiling)
        if info.concurrency_remaining == 0:
            self._cut_to_in_flight(now, others_in_flight)

    def _succeeded(self, now: float) -> None:
        self._spent_in_a_row = 0
        if self._limit < self.ceiling:  # at the ceiling (the usual case): as is
            self._climb(now)

    def _climb(self, now: float) -> None:
        steps = (now - self._cut_at - self._hold) / CLIMB_STEP
        if steps > 0:
            gained = 2.0 ** min(steps, _CLIMB_DONE) - 1.0
            self.limit = min(self.ceiling, self._cut_to + gained)
            if self._limit >= self.ceiling:  # back: the next cut starts afresh
                self._cut_to, self._hold = self.ceiling, HOLD

    def _cut_to_in_flight(self, now: float, others_in_flight: int) -> None:
        """The tenant took ``others_in_flight`` and no more: allow that many (at least
        ``min_concurrency``) and hold there, unless the limit is that low already."""
        learned = max(float(self.min_concurrency), float(others_in_flight))
        if learned < self.limit:
            if self._limit > self._cut_to:
                # Refused while climbing above the last cut: the wall is still there (a
                # tenant below max_concurrency). Probe it less often: each probe costs a
                # 429, and its request a Retry-After, which at the end of a batch is
                # time added to the whole batch.
                self._hold = min(2.0 * self._hold, MAX_HOLD)
            self.limit = self._cut_to = learned
            self._cut_at = now

    def _throttled(
        self,
        generation: int,
        info: RateLimitInfo | None,
        now: float,
        retry_after: float | None,
        others_in_flight: int,
    ) -> Verdict:
        current = generation == self.generation
        if classify_429(info) is Throttle.TOO_MANY_IN_FLIGHT:
            # Every refusal counts, including those of requests sent before the last cut:
            # each frees its slot, so a burst lowers the limit only as far as the tenant
            # actually took, never to one (as reacting to each by halving would).
            before = self.limit
            if info is not None:
                self._learn(info, now, others_in_flight)
            self._cut_to_in_flight(now, others_in_flight)
            if self.limit >= before:
                return _NOTHING
            self.generation += 1
            self.cuts += 1
            return Verdict(cut=True)
        self._spent_in_a_row += 1
        if self._spent_in_a_row < self.confirm_spent and self._quota_known_left(now):
            self.isolated_429s += 1
            return Verdict(isolated=True)
        if not current:
            return _NOTHING  # already paused for this window by an earlier 429
        wait = retry_after or (info.reset if info is not None else None) or DEFAULT_PAUSE
        until = now + wait
        self._pause(until)
        self.generation += 1
        self._spent_in_a_row = 0
        self._plenty = False
        self._quota_left = 0
        self._quota_reset_at = until
        return Verdict(pause_until=until)

    def _quota_known_left(self, now: float) -> bool:
        """True when what we last heard says the current window still has quota."""
        if self._quota_left is not None and now < self._quota_reset_at:
            return self._quota_left > 0
        return self._plenty

    def _pause(self, until: float) -> None:
        if until > self.paused_until:
            self.paused_until = until
            self.pauses += 1

    def pause_until(self, until: float) -> None:
        """Pause new sends until ``until`` (clock seconds): another process saw the window
        spent. Bumps the generation so in-flight 429s of that window cause no second pause."""
        if until > self.paused_until:
            self._pause(until)
            self.generation += 1
