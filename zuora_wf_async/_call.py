"""One call to Zuora, start to end: the retry loop (as openai-python's ``request``).

``call`` (bound as ``Pipeline.call``) is the loop, its attempt inline: a limiter slot (and a
tenant slot with shared limits), the token, the send, the slot back with what the answer
taught the pacing, and the answer read through the one door (``read_answer``) or raised as
its error leaf. After a failure ``_after_failure`` asks ``_core.retry.next_step`` (pure,
table-tested) what comes next: stop, or wait through the injected sleep (never past the
deadline) and go again. The loop owns the one deadline (on the client's clock), the retry
budget, the token refresh after a 401 and Retry-After; ``backoff.expo`` only supplies the
delay schedule (made at the first failure), jittered by the injected random source.

The token is taken *inside* the slot: a task queued behind the limiter must not carry a
token fetched minutes ago, or one expiry would come back as a 401 from every queued task.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Generator
from logging import DEBUG, WARNING, getLogger
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import attrs
import backoff

from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.responses import RawResponse, read_answer
from zuora_wf_async._core.retry import RetryPolicy, Stop, may_have_run, next_step
from zuora_wf_async._errors import (
    ClientStateError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
    ZuoraAPIError,
    ZuoraError,
)
from zuora_wf_async._events import RetryEvent, call_hook
from zuora_wf_async._limiter import WaitPastDeadline
from zuora_wf_async._options import refused_retry
from zuora_wf_async._shared import Lease
from zuora_wf_async._tokens import (
    Fetch,
    SharedFetchFailed,
    TokenFetchCancelled,
    TokenWaitTimeout,
)

if TYPE_CHECKING:
    from zuora_wf_async._pipeline import Pipeline


logger = getLogger("zuora_wf_async")

T = TypeVar("T")

# The scopes when telemetry is off: one reusable context manager, no function of ours.
_NO_SCOPE = contextlib.nullcontext()


class CallResult(NamedTuple):
    """A call's value with how many attempts it took and how long, waits included."""

    value: Any
    attempts: int
    elapsed: float


class CallerDeadlinePassed(Exception):  # noqa: N818 -- an internal signal, never leaves
    """The deadline a caller gave the call (``stop_at``: a wait's end) ended it: raised
    instead of its last failure, ``error`` (None when no time was left to start)."""

    def __init__(self, error: ZuoraError | None) -> None:
        super().__init__(error)
        self.error = error


@attrs.define(repr=False)  # its sent_token must not show where locals are captured
class Call:
    """What the loop knows of one call so far; the telemetry hooks read it too."""

    prepared: PreparedRequest
    operation: str
    workflow_id: int | None
    started: float
    deadline_at: float
    stopped_by_caller: bool  # the caller's deadline (stop_at) came first: it is the call's
    attempts: int = 0
    failures: int = 0  # attempts that used up max_attempts (not a 401's resend...)
    auth_resends: int = 0
    refreshed: bool = False  # this call replaced its token after a 401
    sent_token: str | None = None
    maybe_ran: bool = False  # a failed attempt may have been carried out by Zuora
    shared_failure: Fetch | None = None  # a failed token fetch, shared by its waiters
    raw: RawResponse | None = None  # the current attempt's answer
    value: Any = None
    ended_by_caller: bool = False  # stopped by stop_at, not by attempts, budget or verdict
    schedule: Generator[float, None, None] | None = None  # backoff's, made at need
    drawn: int = 0  # how many delays the schedule has handed out
    ceiling: float = 0.0  # the schedule's latest: the most the next wait may be


async def call(  # noqa: PLR0912, PLR0915 -- the loop and its attempt, top to bottom
    pipeline: Pipeline,
    prepared: PreparedRequest,
    read: Callable[[RawResponse], T],
    policy: RetryPolicy | None = None,
    *,
    operation: str,
    read_409: bool = False,
    workflow_id: int | None = None,
    stop_at: float = math.inf,
) -> CallResult:
    """Send ``prepared`` under ``policy`` (None: the client's) and ``read`` the answer.

    ``read`` gets every 2xx; any other status raises its error leaf, except a 409 when
    ``read_409`` is set (a run POST, whose 409 may be the replay of an earlier run).
    ``operation`` names the call in logs and events. ``stop_at`` is a deadline of the
    caller's on the client's clock (a wait's end): the call's own deadline is moved up
    to it, and when it is what ends the call, ``CallerDeadlinePassed`` is raised.
    """
    if pipeline.closed or pipeline.loop is not asyncio.get_running_loop():
        pipeline.ensure_open()  # the first call in a loop opens the parts; else an error
    settings, telemetry, tenant = pipeline.settings, pipeline.telemetry, pipeline._tenant
    limiter, tokens, transport = pipeline.limiter, pipeline.tokens, pipeline.transport
    clock = settings.clock
    assert limiter is not None  # noqa: S101 -- made by ensure_open, as are the others
    assert tokens is not None  # noqa: S101
    assert transport is not None  # noqa: S101
    if policy is None:
        policy = settings.retry
    elif not isinstance(policy, RetryPolicy):  # a caller's retry=, before anything is sent
        raise refused_retry(policy)
    started = clock()
    deadline_at = math.inf if policy.deadline is None else started + policy.deadline
    stopped_by_caller = stop_at < deadline_at
    if stopped_by_caller:
        if stop_at <= started:
            raise CallerDeadlinePassed(None)
        policy = attrs.evolve(policy, deadline=stop_at - started)
        deadline_at = stop_at
    call = Call(prepared, operation, workflow_id, started, deadline_at, stopped_by_caller)
    observed = settings.on_request is not None or settings.on_response is not None
    try:
        # The call's span sees the ZuoraError it ends on.
        with telemetry.call_scope(call) if telemetry.enabled else _NO_SCOPE:
            while True:
                call.attempts += 1
                call.raw = None
                sent = False
                try:
                    with telemetry.attempt_scope(call) if telemetry.enabled else _NO_SCOPE:
                        if deadline_at <= clock():
                            raise _not_sent(
                                prepared, "the call's deadline passed before it could be sent"
                            )
                        generation = limiter.try_acquire()
                        if generation is None:  # no free slot now: queue for one, by the deadline
                            generation = await _wait_for(
                                limiter.wait_for_slot(deadline_at), pipeline, call
                            )
                        lease: Lease | None = None
                        try:
                            if tenant is not None:  # a tenant-wide slot too, shared by processes
                                wait = pipeline.tenant_slot(deadline_at)
                                lease = await _wait_for(wait, pipeline, call)
                            if clock() < tokens.fresh_until:
                                token = tokens.value
                            else:
                                token = await _fetch_token(pipeline, call)
                            if pipeline.closed:  # aclose() ran while this call waited
                                raise _closed_mid_call(call)
                            call.sent_token = token
                            headers = {**prepared.headers, "Authorization": f"Bearer {token}"}
                            if telemetry.propagates:
                                telemetry.sending(headers)  # a traceparent, when asked for
                            timeout = min(settings.timeout, deadline_at - clock())
                            sent = True
                            # Events cost allocations: built only for a hook or the DEBUG log.
                            if observed or logger.isEnabledFor(DEBUG):
                                raw = await pipeline.send_observed(call, headers, timeout)
                            else:
                                raw = await transport.send(prepared, headers, timeout=timeout)
                            call.raw = raw
                        finally:  # the slot back, with what the answer taught the pacing
                            learned = limiter.release(call.raw, generation)
                            if lease is not None and tenant is not None:
                                tenant.release(lease, learned)
                        if 200 <= raw.status < 300 or (read_409 and raw.status == 409):
                            call.value = read_answer(read, raw, prepared)
                            break
                        raise api_error(raw, prepared, max_bytes=settings.max_response_bytes)
                except ZuoraError as error:
                    delay = _after_failure(pipeline, call, policy, error, sent=sent)
                    if delay is None:
                        raise
                    if delay > 0:
                        await settings.sleep(delay)
    except ZuoraError as error:
        if call.ended_by_caller:
            raise CallerDeadlinePassed(error) from error
        raise
    if settings.retry_budget is not None:
        settings.retry_budget.record_success()
    return CallResult(call.value, call.attempts, clock() - started)


def _after_failure(  # noqa: PLR0912 -- one failure's bookkeeping, in order
    pipeline: Pipeline, call: Call, policy: RetryPolicy, error: ZuoraError, *, sent: bool
) -> float | None:
    """After an attempt failed with ``error``: the seconds to wait before the next one, or
    None to end the call on ``error`` (its attempts, time and ``may_have_run`` recorded)."""
    call.failures += 1
    if sent and not call.maybe_ran:
        call.maybe_ran = may_have_run(error, method=call.prepared.method)
    if pipeline.closed and isinstance(error, TransportError):
        # aclose() closed the session under this request: no resend can follow.
        closed = _closed_mid_call(call)
        _give_up(pipeline, call, closed, Stop("the client was closed"))
        raise closed from error
    settings, tokens, shared = pipeline.settings, pipeline.tokens, call.shared_failure
    budget = settings.retry_budget
    assert tokens is not None  # noqa: S101 -- made by ensure_open
    # The schedule's next delay, one per counted failure (backoff's expo stops doubling
    # at the cap, so no float overflows however long a 409 "in progress" lasts).
    if call.failures > call.drawn:
        if call.schedule is None:
            call.schedule = backoff.expo(
                base=2, factor=policy.base_delay, max_value=policy.max_delay
            )
            next(call.schedule)  # backoff's generators start with a bare yield
        call.ceiling = next(call.schedule)
        call.drawn += 1
    sent_token = call.sent_token
    step = next_step(
        error,
        policy=policy,
        failures=call.failures,
        auth_resends=call.auth_resends,
        refreshed=call.refreshed,
        token_replaced=sent_token is not None and sent_token != tokens.value,
        can_refresh=tokens.can_refresh,
        time_left=call.deadline_at - settings.clock(),
        # A shared failure another call already paid for costs nothing more.
        budget_left=(
            budget is None or budget.tokens >= 1.0 or (shared is not None and shared.charged)
        ),
        backoff=call.ceiling * settings.rng.random(),  # full jitter, injected
    )
    if isinstance(step, Stop):
        if step.out_of_budget and budget is not None:
            budget.refuse()
        _give_up(pipeline, call, error, step)
        return None
    call.shared_failure = None  # this failure's, paid for below
    if step.spends_budget and budget is not None:
        if shared is None or not shared.charged:
            budget.try_spend()
        if shared is not None:
            shared.charged = True
    if not step.counts_as_attempt:
        call.failures -= 1
    if step.auth_resend:
        call.auth_resends += 1
    if step.refresh_token:
        if sent_token is not None:
            tokens.invalidate(sent_token)
        call.refreshed = True
    if pipeline.telemetry.enabled:
        pipeline.telemetry.retrying(step.reason, step.delay, error)
    if settings.on_retry is not None:
        event = RetryEvent(attempt=call.attempts, delay=step.delay, reason=step.reason, error=error)
        call_hook(settings.on_retry, event)
    return step.delay


def _give_up(pipeline: Pipeline, call: Call, error: ZuoraError, step: Stop) -> None:
    """Record the call on ``error`` and log why it ended (the caller's deadline or not)."""
    elapsed = pipeline.settings.clock() - call.started
    error.attempts = call.attempts
    error.elapsed = elapsed
    error.may_have_run = call.maybe_ran
    # A 429 from Zuora (with its headers; the client's own "not sent" 429 says so already).
    if (
        isinstance(error, RateLimitError)
        and error.retry_after is not None
        and error.headers
        and step.past_deadline
    ):
        error.args = (
            f"{error.args[0]} -- Zuora asked to wait {error.retry_after:g}s, more than "
            f"the time left before the call's deadline; raise RetryPolicy.deadline or "
            f"slow down",
        )
    logger.log(
        WARNING if step.exhausted else DEBUG,
        "%s gave up after %d attempt(s) in %.3fs: %s (%s)",
        call.operation,
        call.attempts,
        elapsed,
        type(error).__name__,
        step.reason,
        extra={
            "operation": call.operation,
            "attempt": call.attempts,
            "elapsed": elapsed,
            "status": error.status if isinstance(error, ZuoraAPIError) else None,
            "idempotency_key": call.prepared.idempotency_key,
            "request_id": error.request_id if isinstance(error, ZuoraAPIError) else None,
            "may_have_run": call.maybe_ran,
        },
    )
    # The caller's deadline (stop_at) was the call's: it, not the attempts, ended the call.
    call.ended_by_caller = call.stopped_by_caller and step.past_deadline


async def _wait_for(wait: Awaitable[T], pipeline: Pipeline, call: Call) -> T:
    """A slot wait (local or tenant-wide), its end past the deadline as an error."""
    try:
        return await wait
    except WaitPastDeadline as past:
        raise _past_deadline(past, pipeline, call) from None


async def _fetch_token(pipeline: Pipeline, call: Call) -> str:
    """The client's one shared token fetch, waited for until the call's deadline."""
    assert pipeline.tokens is not None  # noqa: S101 -- made by ensure_open
    time_left = call.deadline_at - pipeline.settings.clock()
    try:
        return await pipeline.tokens.token(None if math.isinf(time_left) else time_left)
    except TokenWaitTimeout:
        why = "the OAuth token fetch did not finish before the call's deadline"
        raise _not_sent(call.prepared, why) from None
    except SharedFetchFailed as failed:
        call.shared_failure = failed.fetch
        raise failed.error from None
    except TokenFetchCancelled:
        raise _closed_mid_call(call) from None


# -- the errors a call makes itself --------------------------------------------------------


def _past_deadline(wait: WaitPastDeadline, pipeline: Pipeline, call: Call) -> ZuoraError:
    prepared = call.prepared
    if wait.paused_for is None:
        return _not_sent(
            prepared,
            f"no free slot before the call's deadline ({pipeline.in_flight} requests in "
            f"flight); raise RetryPolicy.deadline or max_concurrency",
        )
    left = max(call.deadline_at - pipeline.settings.clock(), 0.0)
    return RateLimitError(
        f"{prepared.method} {prepared.path} not sent: Zuora asked this client to wait "
        f"{wait.paused_for:g}s (Retry-After or an exhausted quota), more than the "
        f"{left:.3g}s left before the call's deadline; raise RetryPolicy.deadline "
        f"or slow down",
        status=429,
        retry_after=wait.paused_for,
        method=prepared.method,
        path=prepared.path,
        idempotency_key=prepared.idempotency_key,
        track_id=prepared.track_id,
    )


def _closed_mid_call(call: Call) -> ClientStateError:
    prepared = call.prepared
    resend = (
        "; Zuora may have received it: resend it under the same Idempotency-Key "
        f"({prepared.idempotency_key}) from an open client"
        if call.maybe_ran and prepared.idempotency_key
        else ""
    )
    return ClientStateError(
        f"{prepared.method} {prepared.path}: the WorkflowClient was closed (aclose()) "
        f"while this call was in flight{resend}"
    )


def _not_sent(prepared: PreparedRequest, why: str) -> RequestTimeoutError:
    return RequestTimeoutError(
        f"{prepared.method} {prepared.path} not sent: {why}",
        method=prepared.method,
        path=prepared.path,
        idempotency_key=prepared.idempotency_key,
        track_id=prepared.track_id,
    )
