"""Waiting for a run to end, as data: the poll plan, its intervals and its timeout error.

Pure: the client hands in the clock readings and the random source. A run usually ends
within seconds, but one waiting in Zuora's global queue can take minutes, and hundreds of
waiters started in the same second would otherwise poll in lock-step. So each interval is
``poll_interval * factor ** n``, capped at ``max_poll_interval``, then shortened by up to
``jitter`` of itself (only shortened: no interval exceeds the cap the caller set).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._errors import InvalidRequestError, RunWaitTimeoutError, ZuoraError

if TYPE_CHECKING:
    from zuora_wf_async._models import WorkflowRunDetail

DEFAULT_WAIT_TIMEOUT = 3600.0
DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_MAX_POLL_INTERVAL = 30.0
GROWTH_FACTOR = 1.5
JITTER = 0.2
# Polls get this share of the client's concurrency, so waiting on runs can never take the
# slots that new runs need.
POLL_SHARE = 4
# A wait's timeout bounds its polls, their retries and their waits for a poll permit; the
# poll made at the deadline (and a zero timeout's only poll) still needs time to be
# answered, and gets this long. So a wait ends at most this long after its timeout.
LAST_POLL_SECONDS = 1.0


def poll_ends_by(now: float, deadline: float) -> float:
    """When a poll starting at ``now`` must be over, permit wait and retries included: the
    wait's ``deadline``, or ``LAST_POLL_SECONDS`` from now for a poll made closer to it."""
    return max(deadline, now + LAST_POLL_SECONDS)


PENDING_WHY = "its tasks wait on an approval, a delay or a retry (approvals can pend for 90 days)"


def poll_budget(max_concurrency: int, configured: int | None = None) -> int:
    """How many polls may be in flight at once: ``configured``, else a quarter of the client."""
    if configured is not None:
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 1:
            raise InvalidRequestError(
                "poll_concurrency",
                f"must be a positive int or None, got {shown_value(configured)}",
                "set e.g. 4, or None for max(1, max_concurrency // 4)",
            )
        return configured
    return max(1, max_concurrency // POLL_SHARE)


def _seconds(field: str, value: object, *, allow_zero: bool, fix: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and math.isnan(value))
    ):
        shown = shown_value(value)
        raise InvalidRequestError(field, f"must be a number of seconds, got {shown}", fix)
    # An int too large for a float (10**400) is no finite number of seconds either.
    seconds = float(value) if -1e300 < value < 1e300 else math.inf
    if seconds < 0 or (seconds == 0 and not allow_zero) or math.isinf(seconds):
        bound = "at least 0" if allow_zero else "positive"
        shown = shown_value(value)
        raise InvalidRequestError(field, f"must be finite and {bound}, got {shown}", fix)
    return seconds


@attrs.frozen(kw_only=True)
class PollPlan:
    """How to wait for one run: the overall ``timeout`` (None: no limit) and the intervals.

    ``until_pending`` ends the wait as soon as the run is pending (status ``Pending``, or
    ``Finished`` with tasks pending): its tasks wait on an approval, a delay or a retry,
    which can take days (approvals pend for up to 90), so a caller may rather stop there.

    Build it with :meth:`checked` from caller input; the constructor trusts its arguments.
    """

    timeout: float | None = DEFAULT_WAIT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL
    factor: float = GROWTH_FACTOR
    jitter: float = JITTER
    until_pending: bool = False

    @classmethod
    def checked(
        cls,
        *,
        timeout: object = DEFAULT_WAIT_TIMEOUT,
        poll_interval: object = DEFAULT_POLL_INTERVAL,
        max_poll_interval: object = DEFAULT_MAX_POLL_INTERVAL,
        until_pending: object = False,
    ) -> PollPlan:
        """A plan from caller input, or ``InvalidRequestError`` naming the bad field."""
        limit = (
            None
            if timeout is None
            else _seconds(
                "timeout",
                timeout,
                allow_zero=True,
                fix="pass seconds to wait in all, e.g. 600, or None to wait without limit",
            )
        )
        first = _seconds(
            "poll_interval", poll_interval, allow_zero=False, fix="pass seconds, e.g. 2"
        )
        cap = _seconds(
            "max_poll_interval", max_poll_interval, allow_zero=False, fix="pass seconds, e.g. 30"
        )
        if cap < first:
            raise InvalidRequestError(
                "max_poll_interval",
                f"{cap!r} is below poll_interval {first!r}",
                "pass a max_poll_interval at least as long as poll_interval",
            )
        if not isinstance(until_pending, bool):
            raise InvalidRequestError(
                "until_pending",
                f"must be True or False, got {shown_value(until_pending)}",
                "pass True to stop waiting once the run is pending, False to wait for its end",
            )
        return cls(
            timeout=limit,
            poll_interval=first,
            max_poll_interval=cap,
            until_pending=until_pending,
        )

    def is_done(self, *, terminal: bool, pending: bool) -> bool:
        """Whether a wait ends at a poll that saw a run ``terminal`` and/or ``pending``."""
        return terminal or (self.until_pending and pending)

    def base_delay(self, poll: int) -> float:
        """The un-jittered interval after poll number ``poll`` (0-based)."""
        # min() before the power would still overflow for huge n; cap the exponent instead.
        exponent = min(poll, 64)
        return min(self.max_poll_interval, self.poll_interval * self.factor**exponent)

    def delay(self, poll: int, random: Callable[[], float]) -> float:
        """The jittered interval after poll ``poll``: in ``[base * (1 - jitter), base]``."""
        return self.base_delay(poll) * (1.0 - self.jitter * random())

    def deadline(self, started: float) -> float:
        """The clock reading at which waiting ends (``inf`` without a timeout)."""
        return math.inf if self.timeout is None else started + self.timeout

    def next_wait(
        self, poll: int, *, now: float, deadline: float, random: Callable[[], float]
    ) -> float | None:
        """Seconds to wait before the next poll, or None when the deadline has passed.

        The last wait is cut short at the deadline so that one final poll happens right at
        it: a run that ended during that wait is reported, not timed out.
        """
        remaining = deadline - now
        if remaining <= 0:
            return None
        return min(self.delay(poll, random), remaining)

    def timed_out(
        self,
        run_id: int,
        *,
        elapsed: float,
        polls: int,
        last: WorkflowRunDetail | None,
        failure: ZuoraError | None = None,
        permits_held: int | None = None,
    ) -> RunWaitTimeoutError:
        """The error a wait under this plan ends with when its ``timeout`` ran out.

        ``last`` is the last detail a poll read (None if none was answered); ``failure``
        the error of a poll the deadline cut short (the caller chains it as
        ``__cause__``); ``permits_held`` the poll budget, when the wait for a poll permit
        is what ran out.
        """
        assert self.timeout is not None  # noqa: S101 -- an infinite deadline never passes
        if last is None:
            state = "not known: no poll was answered in time"
        elif last.is_pending:
            state = f"pending rather than running ({last.status}: {PENDING_WHY})"
        else:
            state = f"still {last.status}"
        why = ""
        if failure is not None:
            why = f"; the last poll failed ({type(failure).__name__}) with no time left to retry"
        elif permits_held is not None:
            why = f"; every poll permit (poll_concurrency={permits_held}) was held by other waits"
        name = "" if last is None else f" ({last.name})"
        also = ", or until_pending=True" if last is not None and last.is_pending else ""
        return RunWaitTimeoutError(
            f"run {run_id}{name} is {state} after {elapsed:.1f} s and {polls} poll(s) "
            f"(timeout {self.timeout:g} s){why}; it goes on at Zuora: wait again with a "
            f"longer timeout{also}, or stop_run({run_id})",
            run_id=run_id,
            timeout=self.timeout,
            last_detail=last,
            polls=polls,
            elapsed=elapsed,
        )
