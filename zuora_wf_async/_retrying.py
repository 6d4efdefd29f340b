"""The retry loop, run by ``backoff``. Every ``backoff`` import sits in this module.

``backoff.on_exception`` drives each call: it runs the attempt, asks ``giveup`` whether a
failure is final (a pure check: ``classify`` said ``GiveUp``), and asks the wait generator
for the next delay. The wait generator *receives* each failure (backoff sends it in) and
hands it to ``_core.retry.next_step`` with what the call knows; it yields the delay of a
``Resend``, or ends (which backoff turns into a give-up) on a ``Stop``. ``max_time`` is the
call's deadline. The decorator is built once per client; per-call state reaches backoff's
runtime-evaluated arguments (``max_time``, which backoff calls at the start of each
decorated call, and the wait generator, which it makes and primes then) through
``RetryLoop._starting``, set just before the call. backoff reads them synchronously, in
the first step of its coroutine, before anything else can run on the loop, so no other
call can be in between.

One thing backoff does not do here: sleep. Its async loop calls ``asyncio.sleep`` and
reads ``datetime.now()`` directly, so neither can be injected, and a test could not run a
30 s ``Retry-After`` on a manual clock. The ``on_backoff`` handler therefore takes the
wait through the client's injected ``sleep``, and backoff's ``jitter`` hook (whose job is
to turn the generator's value into the time backoff sleeps) answers 0. Nothing is held
while waiting: the attempt's slot was released when it ended.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Generator
from typing import Any, NamedTuple, Protocol

import attrs
import backoff

from zuora_wf_async._core.retry import (
    GiveUp,
    Resend,
    RetryBudget,
    RetryPolicy,
    Stop,
    classify,
    next_step,
)
from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._events import call_hook
from zuora_wf_async._telemetry import NO_TELEMETRY, Telemetry

__all__ = ["CallResult", "CallState", "RetryEvent", "RetryLoop", "SharedFailure"]

logger = logging.getLogger("zuora_wf_async")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """Handed to ``on_retry`` hooks before each wait."""

    attempt: int
    delay: float
    reason: str
    error: ZuoraError = attrs.field(repr=False)


class CallResult(NamedTuple):
    """A call's value with how many attempts it took and how long, waits included.

    A tuple, not an attrs record: one is made per request, and a tuple costs the least.
    """

    value: Any
    attempts: int
    elapsed: float


class SharedFailure:
    """One failure many calls met together (a shared token fetch that failed).

    Each of them retries, but the client's retry budget pays for the failure once: the
    first call to retry spends the token and marks it ``charged``; the others retry on it.
    200 calls behind one failed fetch used to spend 200 tokens and be refused half.
    """

    __slots__ = ("charged",)

    def __init__(self) -> None:
        self.charged = False


class CallState:
    """What one call knows while it runs; built once per call, read by the loop."""

    __slots__ = (
        "attempts",
        "auth_resends",
        "deadline_at",
        "failures",
        "maybe_ran",
        "policy",
        "refreshed",
        "sent_token",
        "shared_failure",
        "started",
        "step",
    )

    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self.policy = policy
        self.started = started
        self.deadline_at = math.inf if policy.deadline is None else started + policy.deadline
        self.attempts = 0
        # Attempts that used up max_attempts (a 401 resend or a 409 under a deadline do not).
        self.failures = 0
        self.auth_resends = 0
        self.refreshed = False
        self.sent_token: str | None = None
        # True once any attempt failed in a way that may have left the request carried out.
        self.maybe_ran = False
        self.step: Resend | Stop | None = None
        # Set when an attempt failed on a failure other calls share (see above), until
        # the resend after it.
        self.shared_failure: SharedFailure | None = None


def _is_final(error: Exception) -> bool:
    """backoff's ``giveup``: failures no attempt count or wait could change."""
    return isinstance(classify(error), GiveUp)


def _waited_in_handler(_value: float) -> float:
    """backoff's ``jitter``: the wait was already taken by ``on_backoff`` (module doc)."""
    return 0.0


class TokenState(Protocol):
    """What the loop may ask of the token cache (see ``_tokens.TokenCache``)."""

    @property
    def refreshable(self) -> bool: ...

    def is_current(self, token: str) -> bool: ...

    def invalidate(self, token: str) -> None: ...


class RetryLoop:
    """Runs ``attempt(call)`` under backoff until it returns or the rules say stop."""

    def __init__(
        self,
        attempt: Callable[[Any], Awaitable[Any]],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
        random: Callable[[], float],
        budget: RetryBudget | None,
        tokens: Callable[[], TokenState | None],
        on_retry: Callable[[RetryEvent], object] | None,
        telemetry: Telemetry = NO_TELEMETRY,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        # Told when a call, its slot given back, is about to wait before resending.
        self._on_wait = on_wait
        self._sleep = sleep
        self._random = random
        self._budget = budget
        self._tokens = tokens
        self._on_retry = on_retry
        self._telemetry = telemetry
        self._run = backoff.on_exception(
            self._delays,
            ZuoraError,
            max_tries=None,
            max_time=self._starting_deadline,
            giveup=_is_final,
            on_backoff=self._before_resend,
            jitter=_waited_in_handler,
            raise_on_giveup=True,
            logger=None,
        )(attempt)
        self._starting: CallState | None = None

    def run(self, call: CallState) -> Awaitable[Any]:
        """Await it for the attempt's value; on give-up its last ``ZuoraError``, as is.

        A plain function handing back backoff's coroutine (one coroutine less per call);
        the caller awaits it at once, which is when backoff reads ``_starting``.
        """
        self._starting = call
        return self._run(call)

    def _starting_call(self) -> CallState:
        call = self._starting
        assert call is not None  # noqa: S101 -- set by run() just before backoff reads it
        return call

    def _starting_deadline(self) -> float:
        call = self._starting
        assert call is not None  # noqa: S101 -- set by run() just before backoff reads it
        deadline = call.policy.deadline
        return math.inf if deadline is None else deadline

    def _delays(self) -> Generator[float, BaseException | None, None]:
        """backoff's wait generator: each failure in, the delay ``next_step`` chose out.

        backoff makes and primes it at the start of each decorated call, when the call
        it belongs to is ``_starting`` (see ``run``).
        """
        call = self._starting_call()
        error = yield 0.0  # backoff primes the generator; the first value is not used
        while error is not None:
            step = self._decide(call, error)
            call.step = step
            if isinstance(step, Stop):
                if step.out_of_budget and self._budget is not None:
                    self._budget.refuse()
                return  # backoff gives up and re-raises the failure
            error = yield step.delay

    def _decide(self, call: CallState, error: BaseException) -> Resend | Stop:
        tokens = self._tokens()
        sent = call.sent_token
        budget = self._budget
        shared = call.shared_failure
        return next_step(
            error,
            policy=call.policy,
            failures=call.failures,
            auth_resends=call.auth_resends,
            refreshed=call.refreshed,
            token_replaced=(
                tokens is not None and sent is not None and not tokens.is_current(sent)
            ),
            can_refresh=tokens is not None and tokens.refreshable,
            time_left=call.deadline_at - self._clock(),
            # A shared failure another call already paid for costs nothing more.
            budget_left=(
                budget is None or budget.tokens >= 1.0 or (shared is not None and shared.charged)
            ),
            jitter=self._random(),
        )

    async def _before_resend(self, details: Any) -> None:
        """backoff's ``on_backoff``: act on the ``Resend`` the generator chose, then wait."""
        call: CallState = details["args"][0]
        error: ZuoraError = details["exception"]
        step = call.step
        assert isinstance(step, Resend)  # noqa: S101 -- the generator only yields a Resend
        shared, call.shared_failure = call.shared_failure, None  # this failure's, consumed
        if step.spends_budget and self._budget is not None:
            if shared is None or not shared.charged:
                self._budget.try_spend()
            if shared is not None:
                shared.charged = True
        if not step.counts_as_attempt:
            call.failures -= 1
        if step.auth_resend:
            call.auth_resends += 1
        if step.refresh_token:
            tokens = self._tokens()
            if tokens is not None and call.sent_token is not None:
                tokens.invalidate(call.sent_token)
            call.refreshed = True
        # A zuora.retry event on the call's span and zuora.client.retries (_telemetry.py).
        self._telemetry.retrying(step.reason, step.delay, error)
        call_hook(
            self._on_retry,
            RetryEvent(attempt=call.attempts, delay=step.delay, reason=step.reason, error=error),
        )
        if step.delay > 0:
            if self._on_wait is not None:
                self._on_wait()
            await self._sleep(step.delay)

    def ran_out_of_time(self, call: CallState, error: ZuoraError) -> bool:
        """Whether the call's deadline, not its attempts, budget or a verdict, ended it.

        True for a failure a retry could cure when no retry fitted before the deadline
        (``Stop`` for lack of time) or backoff's own ``max_time`` ended the loop.
        """
        if isinstance(classify(error), GiveUp):
            return False
        step = call.step
        if isinstance(step, Stop):
            return (
                step.exhausted
                and not step.out_of_budget
                and call.failures < call.policy.max_attempts
            )
        return True  # backoff's max_time: the generator was not asked

    def give_up_reason(self, call: CallState, error: ZuoraError) -> tuple[str, bool]:
        """Why the call ended on ``error``, and whether a retryable failure ran out."""
        step = call.step
        if isinstance(step, Stop):
            return step.reason, step.exhausted
        decision = classify(error)
        if isinstance(decision, GiveUp):
            return decision.reason, False
        # backoff's own max_time (the deadline on its wall clock) ended the call.
        return "the call's deadline passed", True
