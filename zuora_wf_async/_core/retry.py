"""The retry rules live here, as data: the one module that decides what a call does next.

``classify`` says what one failure *means* (``Retry``, maybe after a server-given wait or a
token refresh, or ``GiveUp``). ``next_step`` adds what the call knows (attempts made, time
left before its deadline, the retry budget, whether its token was already replaced) and
returns the next step: ``Resend`` after a delay (refreshing the token first or not) or
``Stop``. Both are pure, so every rule is a row in a table test without a socket or a sleep.
The loop that acts on the steps is ``_call.call``; ``may_have_run`` says, for an error that
ends a call, whether Zuora may have carried the request out.

Why these rules are safe: every request we retry is idempotent. A run POST carries an
``Idempotency-Key`` fixed before the first attempt and the same body bytes, so a retry after
a timeout or a 5xx returns the first run instead of starting another; GETs and the stop PUT
are idempotent by nature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.ratelimit import parse_retry_after
from zuora_wf_async._core.requests import TOKEN_PATH
from zuora_wf_async._errors import (
    IdempotencyInProgressError,
    InvalidRequestError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnauthorizedError,
    ZuoraAPIError,
)

# Gateway and availability failures; 501/505 mean "never going to work" and are not here.
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})


@attrs.frozen
class Retry:
    """Try again: after ``after`` seconds if the server said so, else on the backoff curve."""

    reason: str
    after: float | None = None
    refresh_auth: bool = False
    # Server-paced waits (429) are not a sign of an outage, so they do not spend the budget.
    spends_budget: bool = True


@attrs.frozen
class GiveUp:
    reason: str


Decision = Retry | GiveUp


def classify(error: BaseException) -> Decision:
    """What to do after an attempt failed with ``error``."""
    if isinstance(error, TransportError):
        return Retry(f"transport: {type(error).__name__}")
    if isinstance(error, RateLimitError):
        return Retry("429 rate limited", after=error.retry_after, spends_budget=False)
    if isinstance(error, ServerError):
        if error.status in RETRYABLE_SERVER_STATUSES:
            # Zuora's guide asks clients to honour Retry-After on 503 as well as on 429.
            headers = error.headers
            after = parse_retry_after(headers) if "Retry-After" in headers else None
            return Retry(f"{error.status} server error", after=after)
        return GiveUp(f"{error.status} server error is not transient")
    if isinstance(error, UnauthorizedError):
        if error.path == TOKEN_PATH:
            return GiveUp("401 from /oauth/token: the client credentials are wrong")
        return Retry("401: refresh the token once", after=0.0, refresh_auth=True)
    if isinstance(error, IdempotencyInProgressError):
        return Retry("409: same Idempotency-Key still in progress")
    if isinstance(error, ZuoraAPIError):
        # 400, 403, 404, 406, 422 and the 409s other than "in progress" will not change.
        return GiveUp(f"{error.status} is final")
    return GiveUp(f"{type(error).__name__} is not retryable")


@attrs.frozen
class Resend:
    """Send the same bytes under the same key again, after ``delay`` seconds."""

    reason: str
    delay: float
    # Drop the token that was refused before resending (a 401 on a token nobody replaced).
    refresh_token: bool = False
    # False for resends that are not failures of the request (a 401 resend, 409 "in
    # progress" under a deadline): they do not use up ``max_attempts``.
    counts_as_attempt: bool = True
    spends_budget: bool = False
    # A resend after a 401: bounded by max_attempts on its own count.
    auth_resend: bool = False


@attrs.frozen
class Stop:
    """End the call with the failure; ``exhausted`` when it was retryable but ran out."""

    reason: str
    exhausted: bool = False
    # The retry was refused by the client's retry budget (counted in RetryBudget.refused).
    out_of_budget: bool = False
    # The wait, or the attempt after it, would not end before the call's deadline.
    past_deadline: bool = False


Step = Resend | Stop


def next_step(
    error: BaseException,
    *,
    policy: RetryPolicy,
    failures: int,
    auth_resends: int,
    refreshed: bool,
    token_replaced: bool,
    can_refresh: bool,
    time_left: float,
    budget_left: bool,
    backoff: float,
) -> Step:
    """What a call does after an attempt failed with ``error``.

    ``failures`` counts the attempts that used up ``max_attempts`` so far, this one
    included; ``auth_resends`` the resends after a 401; ``refreshed`` whether this call has
    already replaced its token; ``token_replaced`` whether the token this attempt sent has
    been replaced since (by another call); ``time_left`` the seconds before the call's
    deadline (``math.inf`` without one); ``budget_left`` whether the client's retry budget
    has a retry to spend; ``backoff`` the wait the backoff schedule offers after this
    failure (backoff's capped exponential, with full jitter),
    taken when the server named no wait of its own.
    """
    decision = classify(error)
    if isinstance(decision, GiveUp):
        return Stop(decision.reason)
    if decision.refresh_auth:
        return _after_401(policy, auth_resends, refreshed, token_replaced, can_refresh)
    # 409 "same key in progress" costs Zuora nothing to answer and its first request's
    # answer is what we want: under a deadline it is asked again until the deadline, not
    # until max_attempts. Without a deadline, max_attempts is the only bound left.
    in_progress = isinstance(error, IdempotencyInProgressError)
    counts = not (in_progress and policy.deadline is not None)
    if counts and failures >= policy.max_attempts:
        return Stop(f"{failures} attempts made", exhausted=True)
    # A server-given wait of 0 (or an HTTP-date already past) is no pacing at all; back
    # off as if none was given rather than retry in a tight loop.
    delay = decision.after or backoff
    if delay >= time_left:
        left = max(time_left, 0.0)
        return Stop(
            f"waiting {delay:.3g}s would pass the deadline ({left:.3g}s left)",
            exhausted=True,
            past_deadline=True,
        )
    # A resend needs time to be answered: one started a millisecond before the deadline
    # would end in a timeout that hides the answer the call had (a 409, a 503). The floor
    # is 1 s (Zuora answers most requests well within one), or a tenth of a shorter deadline.
    floor = 0.0 if policy.deadline is None else min(1.0, policy.deadline / 10)
    if time_left - delay < floor:
        return Stop(
            f"after waiting {delay:.3g}s, less than {floor:.3g}s would be left for the next "
            f"attempt ({max(time_left, 0.0):.3g}s left before the deadline)",
            exhausted=True,
            past_deadline=True,
        )
    spends = decision.spends_budget and not in_progress
    if spends and not budget_left:
        return Stop("the client's retry budget is exhausted", exhausted=True, out_of_budget=True)
    return Resend(decision.reason, delay, counts_as_attempt=counts, spends_budget=spends)


def _after_401(
    policy: RetryPolicy, auth_resends: int, refreshed: bool, token_replaced: bool, can_refresh: bool
) -> Step:
    # A 401 is not a failure of the request: even max_attempts=1 gets its resend, and the
    # resends after 401s are bounded by max_attempts on their own count. A 401 on a token
    # some other call has replaced meanwhile (a burst of requests on one expired token)
    # resends with the new one without another fetch. A 401 on the current token drops
    # it, so the resend fetches a new one (once for every caller waiting, see _tokens).
    # A 401 again on the token this call itself fetched is refreshed once more (a token can
    # be revoked between its fetch and its use), and then it is final: Zuora keeps
    # refusing fresh tokens, which no number of fetches will change.
    if not can_refresh:
        return Stop("401 with a fixed bearer token, which cannot be refreshed")
    if auth_resends >= policy.max_attempts or (
        refreshed and not token_replaced and auth_resends >= _MAX_OWN_REFRESHES
    ):
        return Stop(f"401 again after {auth_resends} token refreshes")
    return Resend(
        "401: refresh the token",
        0.0,
        refresh_token=not token_replaced,
        counts_as_attempt=False,
        auth_resend=True,
    )


_MAX_OWN_REFRESHES = 2


def may_have_run(error: BaseException, *, method: str) -> bool:
    """True when Zuora may have carried out the request although ``error`` ended it.

    Then a resend must reuse the same ``Idempotency-Key``: no answer (a dropped connection,
    a timeout), a 5xx other than 501, 409 "same key in progress", or a 2xx whose body could
    not be read. A GET has nothing to run; a 4xx verdict (429 included) or a 501 means the
    request was refused, not carried out. The caller asks only about failures of a request
    that was sent.
    """
    if method == "GET":
        return False
    if isinstance(error, ServerError):
        # 501 says the server cannot do what was asked at all: refused, like a 4xx.
        return error.status != 501
    # A 2xx whose body we could not read was carried out; we only failed to read it.
    return isinstance(error, TransportError | IdempotencyInProgressError | ResponseDecodeError)


# Compared, never converted: float() of an int of 400 digits raises OverflowError, and a
# delay or a budget that large is no number a caller means.
_FINITE = 1e300


def _positive(fix: str, *, whole: bool = False) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        field = f"RetryPolicy.{attribute.name}"
        if value is None and attribute.name == "deadline":
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < _FINITE:
            problem = f"must be a finite positive number, got {shown_value(value)}"
            raise InvalidRequestError(field, problem, fix)
        if whole and not isinstance(value, int):
            raise InvalidRequestError(field, f"must be a whole number, got {value!r}", fix)

    return check


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard one call tries.

    ``max_attempts`` counts every try including the first. ``deadline`` bounds the whole
    call, retries and waits included: no attempt's timeout outlives it, and a ``Retry-After``
    longer than the time left gives up at once instead of sleeping past it.
    """

    max_attempts: int = attrs.field(
        default=5,
        validator=_positive(
            "pass the number of tries including the first, e.g. 5 (1 disables retries)",
            whole=True,
        ),
    )
    base_delay: float = attrs.field(default=0.5, validator=_positive("pass seconds, e.g. 0.5"))
    max_delay: float = attrs.field(default=30.0, validator=_positive("pass seconds, e.g. 30"))
    deadline: float | None = attrs.field(
        default=300.0,
        validator=_positive(
            "pass seconds for the whole call including retries, or None for no limit"
        ),
    )


class RetryBudget:
    """A token bucket of retries shared by every call on one client.

    Each retry spends one token; each success puts back ``refill`` tokens, up to
    ``capacity``. While Zuora is healthy the bucket stays full and retries are free; in an
    outage it drains after ``capacity`` retries and from then on a failure is returned at
    once, so the client adds at most ``refill`` retries per success instead of multiplying
    the load by ``max_attempts``.
    """

    def __init__(self, *, capacity: float = 100.0, refill: float = 0.2) -> None:
        if (
            any(isinstance(v, bool) or not isinstance(v, int | float) for v in (capacity, refill))
            or not 0 < capacity < _FINITE
            or not 0 <= refill < _FINITE
        ):
            raise InvalidRequestError(
                "RetryBudget",
                f"capacity must be finite and > 0 and refill finite and >= 0, got "
                f"{shown_value(capacity)} and {shown_value(refill)}",
                "pass e.g. RetryBudget(capacity=100, refill=0.2)",
            )
        self.capacity = float(capacity)
        self.refill = float(refill)
        self.tokens = float(capacity)
        self.spent = 0
        self.refused = 0

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self.tokens:.1f}/{self.capacity:g}, refill={self.refill:g})"

    def try_spend(self) -> bool:
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.spent += 1
            return True
        self.refused += 1
        return False

    def refuse(self) -> None:
        """Count a retry the rules refused because the bucket was empty."""
        self.refused += 1

    def record_success(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.refill)
