"""The retry loop. Every ``backoff`` import sits in this module, so it can be swapped.

``backoff`` runs the loop: it calls the attempt, asks ``giveup`` whether an error ends the
call, and asks our wait generator how long to wait. The *rules* come from
``_core.retry.classify``; the per-call bookkeeping (attempts, deadline, budget, the single
token refresh) lives in ``_CallState``.

The wait itself is taken through the client's injected ``sleep`` in ``on_backoff``, and
backoff's own ``asyncio.sleep`` is handed 0: backoff has no way to inject a clock, and
tests must run a minute of backoff on a manual clock in microseconds. Nothing is held
while waiting: the slot was released when the attempt ended.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol, TypeVar

import attrs
import backoff

from zuora_wf_async._core.retry import (
    GiveUp,
    Retry,
    RetryBudget,
    RetryPolicy,
    backoff_delay,
    classify,
)
from zuora_wf_async._errors import RateLimitError, ZuoraAPIError, ZuoraError

__all__ = ["CallResult", "RetryEvent", "retrying_call"]

logger = logging.getLogger("zuora_wf_async")

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """Handed to ``on_retry`` hooks before each wait."""

    attempt: int
    delay: float
    reason: str
    error: ZuoraError = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class CallResult:
    """A call's value with how many attempts it took and how long, waits included."""

    value: Any
    attempts: int
    elapsed: float


class _CallState:
    """What one call's retry loop knows: built after its first failure, read by backoff."""

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        budget: RetryBudget | None,
        clock: Callable[[], float],
        random: Callable[[], float],
        auth: _AuthRefresh | None,
        started: float,
        attempts: int,
    ) -> None:
        self.policy = policy
        self.budget = budget
        self.clock = clock
        self.random = random
        self.auth = auth
        self.started = started
        self.attempts = attempts
        self.refreshed = False
        self.delay = 0.0
        self.decision: Retry | GiveUp | None = None
        # True when a retryable failure was turned into a give-up (attempts, deadline,
        # budget): worth a WARNING, unlike a 404 that was final from the start.
        self.exhausted = False
        # Resends after a 401 are not failures of the request: they do not use up
        # max_attempts (but are bounded by it on their own).
        self.auth_resends = 0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def time_left(self) -> float:
        if self.policy.deadline is None:
            return math.inf
        return self.policy.deadline - self.elapsed

    def attempt_timeout(self, per_attempt: float) -> float:
        """No attempt outlives the call's deadline."""
        return max(0.0, min(per_attempt, self.time_left()))

    def should_give_up(self, error: BaseException) -> bool:
        decision = classify(error)
        self.decision = decision
        if isinstance(decision, GiveUp):
            return True
        self.exhausted = self._exhausted_by(decision)
        return self.exhausted

    def _refresh_exhausted(self) -> bool:
        # Each call refreshes the token itself at most once: a 401 on a token this call
        # already replaced means the credentials, not the token's age, are the problem. A
        # 401 on a token some other call has replaced meanwhile (a burst of requests on one
        # expired token) just resends with the new one. Neither counts as a failure retry,
        # so even max_attempts=1 gets its resend, but both stay bounded by max_attempts.
        if self.auth is None:
            self.decision = GiveUp("401 with a fixed bearer token, which cannot be refreshed")
            return True
        stale = not self.auth.token_is_current()
        if (self.refreshed and not stale) or self.auth_resends >= self.policy.max_attempts:
            self.decision = GiveUp("401 again after a token refresh")
            return True
        if not stale:
            self.auth.invalidate()
            self.refreshed = True
        self.auth_resends += 1
        self.delay = 0.0
        return False

    def _exhausted_by(self, decision: Retry) -> bool:
        if decision.refresh_auth:
            return self._refresh_exhausted()
        if self.attempts - self.auth_resends >= self.policy.max_attempts:
            self.decision = GiveUp(f"{self.attempts} attempts made")
            return True
        # A server-given wait of 0 (or an HTTP-date already past) is no pacing at all;
        # back off as if none was given rather than retry in a tight loop.
        delay = (
            decision.after
            if decision.after
            else backoff_delay(
                self.attempts,
                base=self.policy.base_delay,
                cap=self.policy.max_delay,
                random=self.random,
            )
        )
        if delay >= self.time_left():
            left = max(self.time_left(), 0.0)
            self.decision = GiveUp(
                f"waiting {delay:.3g}s would pass the deadline ({left:.3g}s left)"
            )
            return True
        if decision.spends_budget and self.budget is not None and not self.budget.try_spend():
            self.decision = GiveUp("the client's retry budget is exhausted")
            return True
        self.delay = delay
        return False


class TokenSource(Protocol):
    """What the loop asks of the token cache about the token a call last sent."""

    def is_current(self, token: str) -> bool: ...

    def invalidate(self, token: str) -> None: ...


@attrs.frozen
class _AuthRefresh:
    tokens: TokenSource
    sent: list[str]

    def token_is_current(self) -> bool:
        return bool(self.sent) and self.tokens.is_current(self.sent[0])

    def invalidate(self) -> None:
        self.tokens.invalidate(self.sent[0])


def _wait_generator(state: _CallState) -> Generator[float, BaseException | None, None]:
    # backoff primes the generator with None, then sends each retried error; the delay was
    # decided with the error in should_give_up, and is slept in on_backoff (see module doc).
    yield 0.0
    while True:
        yield 0.0


async def retrying_call(
    attempt: Callable[[float], Awaitable[T]],
    *,
    timeout: float,
    policy: RetryPolicy,
    budget: RetryBudget | None,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[object]],
    random: Callable[[], float],
    tokens: TokenSource | None = None,
    sent_token: list[str] | None = None,
    on_retry: Callable[[RetryEvent], object] | None = None,
) -> CallResult:
    """Run ``attempt(timeout_seconds)`` until it succeeds or the rules say stop.

    ``tokens`` and ``sent_token`` (where ``attempt`` records the token it sent) let a 401
    refresh the token; without them a 401 is final. On give-up the last error is raised
    with ``attempts`` and ``elapsed`` filled in.
    """
    # The first attempt runs outside the loop and without any bookkeeping: most calls
    # succeed at once, and building backoff's decorator (and our state) would cost more
    # than the rest of the client's work on a request. Only a failed call pays for the
    # loop, whose first "try" re-raises that failure.
    started = clock()
    first_timeout = timeout if policy.deadline is None else min(timeout, policy.deadline)
    try:
        value = await attempt(first_timeout)
    except ZuoraError as error:
        first_failure = [error]
    else:
        if budget is not None:
            budget.record_success()
        return CallResult(value=value, attempts=1, elapsed=clock() - started)

    state = _CallState(
        policy=policy,
        budget=budget,
        clock=clock,
        random=random,
        auth=(
            _AuthRefresh(tokens=tokens, sent=sent_token)
            if tokens is not None and sent_token is not None
            else None
        ),
        started=started,
        attempts=1,
    )

    async def one_attempt() -> T:
        if first_failure:
            raise first_failure.pop()
        state.attempts += 1
        return await attempt(state.attempt_timeout(timeout))

    async def before_wait(details: Any) -> None:
        error = details["exception"]
        assert isinstance(error, ZuoraError)  # noqa: S101 -- only ZuoraError is retried
        decision = state.decision
        assert isinstance(decision, Retry)  # noqa: S101 -- set by should_give_up
        if on_retry is not None:
            on_retry(
                RetryEvent(
                    attempt=state.attempts, delay=state.delay, reason=decision.reason, error=error
                )
            )
        if state.delay > 0:
            await sleep(state.delay)

    looped = backoff.on_exception(
        lambda: _wait_generator(state),
        ZuoraError,
        max_tries=None,
        giveup=state.should_give_up,
        on_backoff=before_wait,
        jitter=None,
        logger=None,
    )(one_attempt)
    try:
        value = await looped()
    except ZuoraError as error:
        error.attempts = state.attempts
        error.elapsed = state.elapsed
        _log_give_up(error, state)
        if isinstance(error, RateLimitError) and isinstance(state.decision, GiveUp):
            _explain_rate_limit(error, state.decision)
        raise
    if budget is not None:
        budget.record_success()
    return CallResult(value=value, attempts=state.attempts, elapsed=state.elapsed)


def _explain_rate_limit(error: RateLimitError, decision: GiveUp) -> None:
    if error.retry_after is not None and "deadline" in decision.reason:
        error.args = (
            f"{error.args[0]} -- Zuora asked to wait {error.retry_after:g}s, more than the "
            f"time left before the call's deadline; raise RetryPolicy.deadline or slow down",
        )


def _log_give_up(error: ZuoraError, state: _CallState) -> None:
    reason = state.decision.reason if state.decision is not None else "not retryable"
    logger.log(
        logging.WARNING if state.exhausted else logging.DEBUG,
        "giving up after %d attempt(s) in %.3fs: %s (%s)",
        state.attempts,
        state.elapsed,
        type(error).__name__,
        reason,
        extra={
            "attempt": state.attempts,
            "elapsed": state.elapsed,
            "status": error.status if isinstance(error, ZuoraAPIError) else None,
            "idempotency_key": getattr(error, "idempotency_key", None),
            "request_id": error.request_id if isinstance(error, ZuoraAPIError) else None,
        },
    )
