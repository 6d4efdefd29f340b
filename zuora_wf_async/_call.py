"""One call to Zuora, start to end: the retry loop (as openai-python's ``request``).

``Call.run`` is the whole loop: make an attempt; on a failure ask ``_core.retry.next_step``
(the pure, table-tested decision, which classifies the failure once) what comes next;
``Stop`` ends the call with that failure, ``Resend`` waits through the client's injected
sleep (``next_step`` never picks a wait that ends past the deadline) and tries again. The
loop owns the deadline (one, on the client's clock), the retry budget, the token refresh
after a 401 and Retry-After; ``backoff`` only supplies the delay schedule, through its
public ``backoff.expo`` generator (made at the first failure, never on a call that
succeeds at once), jittered by the client's injected random source.

``Call._attempt`` is one round trip: a slot from the limiter (and a tenant slot with shared
limits), the token, the transport, what the answer teaches the pacing, and the answer read
through the one door (``_core.responses.read_answer``) or turned into its error leaf.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from logging import DEBUG, WARNING, getLogger
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import backoff

from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.responses import RawResponse, read_answer
from zuora_wf_async._core.retry import Resend, RetryPolicy, Stop, may_have_run, next_step
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
from zuora_wf_async._tokens import (
    SharedFailure,
    SharedFetchFailed,
    TokenCache,
    TokenFetchCancelled,
    TokenWaitTimeout,
)

if TYPE_CHECKING:
    from zuora_wf_async._pipeline import Pipeline
    from zuora_wf_async._shared import Lease

__all__ = ["Call", "CallResult", "CallerDeadlinePassed"]

logger = getLogger("zuora_wf_async")


class CallResult(NamedTuple):
    """A call's value with how many attempts it took and how long, waits included."""

    value: Any
    attempts: int
    elapsed: float


_MAX_DOUBLINGS = 64


class CallerDeadlinePassed(Exception):  # noqa: N818 -- an internal signal, never leaves
    """The deadline a caller gave the call (``stop_at``: a wait's end) ended it: raised
    instead of its last failure, ``error`` (None when no time was left to start)."""

    def __init__(self, error: ZuoraError | None) -> None:
        super().__init__(error)
        self.error = error


class Call:
    """One call: its request, how its answer is read, and what the loop knows so far."""

    def __init__(
        self,
        pipeline: Pipeline,
        prepared: PreparedRequest,
        read: Callable[[RawResponse], Any],
        policy: RetryPolicy,
        *,
        operation: str,
        read_409: bool,
        workflow_id: int | None,
        stop_at: float,
    ) -> None:
        self.pipeline = pipeline
        self.prepared = prepared
        self.read = read
        self.operation = operation
        self.read_409 = read_409  # a run POST: its 409 may replay the run of its key
        self.workflow_id = workflow_id
        self.started = pipeline.clock()
        # A caller's deadline (a wait's end) that comes before the policy's cuts the call
        # short, and is then what the call reports running out of.
        self.stopped_by_caller = stop_at < math.inf and (
            policy.deadline is None or stop_at - self.started < policy.deadline
        )
        if self.stopped_by_caller:
            if stop_at <= self.started:
                raise CallerDeadlinePassed(None)
            policy = attrs.evolve(policy, deadline=stop_at - self.started)
        self.policy = policy
        self.deadline_at = math.inf if policy.deadline is None else self.started + policy.deadline
        self.attempts = 0
        self.failures = 0  # attempts that used up max_attempts (not a 401's resend...)
        self.auth_resends = 0
        self.refreshed = False  # this call replaced its token after a 401
        self.sent_token: str | None = None
        self.maybe_ran = False  # a failed attempt may have been carried out by Zuora
        self.shared_failure: SharedFailure | None = None  # a failed token fetch, shared
        self.raw: RawResponse | None = None  # the current attempt's answer (telemetry)
        self.value: Any = None
        self._schedule: Generator[float, None, None] | None = None  # backoff's, at need
        self._drawn = 0  # how many delays the schedule has handed out
        self._ceiling = 0.0

    async def run(self) -> CallResult:
        """Attempt until the answer is read or ``next_step`` says stop (module doc)."""
        pipeline = self.pipeline
        telemetry = pipeline.telemetry
        ended_by_caller = False
        try:
            with telemetry.call_scope(self):  # the call's span sees the ZuoraError it ends on
                while True:
                    self.attempts += 1
                    try:
                        with telemetry.attempt_scope(self):
                            self.value = await self._attempt()
                        break
                    except ZuoraError as error:
                        step = self._next_step(error)
                        if isinstance(step, Stop):
                            ended_by_caller = self._give_up(error, step)
                            raise
                        await self._resend_after(step, error)
        except ZuoraError as error:
            if ended_by_caller:
                raise CallerDeadlinePassed(error) from error
            raise
        if pipeline.retry_budget is not None:
            pipeline.retry_budget.record_success()
        return CallResult(self.value, self.attempts, pipeline.clock() - self.started)

    def _next_step(self, error: ZuoraError) -> Resend | Stop:
        pipeline = self.pipeline
        tokens = pipeline.tokens
        budget = pipeline.retry_budget
        shared = self.shared_failure
        sent = self.sent_token
        # The schedule's next delay, one per counted failure; past 64 doublings the cap
        # has long been reached (and 2 ** 1024 would overflow a float).
        if self.failures > self._drawn and self._drawn < _MAX_DOUBLINGS:
            if self._schedule is None:
                policy = self.policy
                self._schedule = backoff.expo(
                    base=2, factor=policy.base_delay, max_value=policy.max_delay
                )
                next(self._schedule)  # backoff's generators start with a bare yield
            self._ceiling = next(self._schedule)
            self._drawn += 1
        step = next_step(
            error,
            policy=self.policy,
            failures=self.failures,
            auth_resends=self.auth_resends,
            refreshed=self.refreshed,
            token_replaced=tokens is not None and sent is not None and not tokens.is_current(sent),
            can_refresh=tokens is not None and tokens.refreshable,
            time_left=self.deadline_at - pipeline.clock(),
            # A shared failure another call already paid for costs nothing more.
            budget_left=(
                budget is None or budget.tokens >= 1.0 or (shared is not None and shared.charged)
            ),
            backoff=self._ceiling * pipeline.random(),  # full jitter, injected
        )
        if isinstance(step, Stop) and step.out_of_budget and budget is not None:
            budget.refuse()
        return step

    async def _resend_after(self, step: Resend, error: ZuoraError) -> None:
        pipeline = self.pipeline
        shared, self.shared_failure = self.shared_failure, None  # this failure's, consumed
        budget = pipeline.retry_budget
        if step.spends_budget and budget is not None:
            if shared is None or not shared.charged:
                budget.try_spend()
            if shared is not None:
                shared.charged = True
        if not step.counts_as_attempt:
            self.failures -= 1
        if step.auth_resend:
            self.auth_resends += 1
        if step.refresh_token:
            if pipeline.tokens is not None and self.sent_token is not None:
                pipeline.tokens.invalidate(self.sent_token)
            self.refreshed = True
        pipeline.telemetry.retrying(step.reason, step.delay, error)
        event = RetryEvent(attempt=self.attempts, delay=step.delay, reason=step.reason, error=error)
        call_hook(pipeline.on_retry, event)
        if step.delay > 0:
            await pipeline.sleep(step.delay)

    def _give_up(self, error: ZuoraError, step: Stop) -> bool:
        """Record the call on ``error`` and log why it ended; True when the caller's own
        deadline (``stop_at``), not the attempts, the budget or a verdict, ended it."""
        elapsed = self.pipeline.clock() - self.started
        error.attempts = self.attempts
        error.elapsed = elapsed
        error.may_have_run = self.maybe_ran
        if (
            isinstance(error, RateLimitError)
            and error.retry_after is not None
            and error.headers
            and "deadline" in step.reason
        ):
            error.args = (
                f"{error.args[0]} -- Zuora asked to wait {error.retry_after:g}s, more than "
                f"the time left before the call's deadline; raise RetryPolicy.deadline or "
                f"slow down",
            )
        logger.log(
            WARNING if step.exhausted else DEBUG,
            "%s gave up after %d attempt(s) in %.3fs: %s (%s)",
            self.operation,
            self.attempts,
            elapsed,
            type(error).__name__,
            step.reason,
            extra={
                "operation": self.operation,
                "attempt": self.attempts,
                "elapsed": elapsed,
                "status": error.status if isinstance(error, ZuoraAPIError) else None,
                "idempotency_key": self.prepared.idempotency_key,
                "request_id": error.request_id if isinstance(error, ZuoraAPIError) else None,
                "may_have_run": self.maybe_ran,
            },
        )
        return (
            self.stopped_by_caller
            and step.exhausted
            and not step.out_of_budget
            and self.failures < self.policy.max_attempts
        )

    # -- one attempt ---------------------------------------------------------------------

    async def _attempt(self) -> Any:  # noqa: PLR0912 -- one round trip, top to bottom
        """One round trip under a limiter slot, read into a value or raised as an error.

        The token is taken *inside* the slot: a task queued behind the limiter must not
        carry a token fetched minutes ago, or one token expiry would come back as a 401
        from every queued task. The token fetch itself bypasses the limiter (Zuora does
        not count token requests against the concurrency limit).
        """
        pipeline = self.pipeline
        prepared = self.prepared
        limiter, tenant, transport = pipeline.limiter, pipeline._tenant, pipeline.transport
        tokens = pipeline.tokens
        assert limiter is not None  # noqa: S101 -- made by ensure_open, as are the others
        assert transport is not None  # noqa: S101
        assert tokens is not None  # noqa: S101
        self.raw = None
        sent = False
        try:
            if self.deadline_at <= pipeline.clock():
                raise self._not_sent("the call's deadline passed before it could be sent")
            generation = limiter.try_acquire()
            if generation is None:  # no free slot now: queue for one, until the deadline
                generation = await self._wait_for(limiter.wait_for_slot(self.deadline_at))
            lease: Lease | None = None
            try:
                if tenant is not None:  # a tenant-wide slot too, shared with other processes
                    lease = await self._wait_for(pipeline.tenant_slot(self.deadline_at))
                token = tokens.current() or await self._fetch_token(tokens)
                if pipeline.closed:  # aclose() ran while this call waited: send nothing
                    raise self._closed_mid_call()
                self.sent_token = token
                headers = {**prepared.headers, "Authorization": f"Bearer {token}"}
                if pipeline.telemetry.propagates:
                    pipeline.telemetry.sending(headers)  # a traceparent, when asked for
                timeout = min(pipeline.timeout, self.deadline_at - pipeline.clock())
                sent = True
                # Events cost allocations: built only for a hook or the DEBUG log.
                if pipeline.on_request or pipeline.on_response or logger.isEnabledFor(DEBUG):
                    raw = await pipeline.send_observed(self, headers, timeout)
                else:
                    raw = await transport.send(prepared, headers, timeout=timeout)
                self.raw = raw
            finally:
                # The slot back, with what the answer taught the pacing (and the tenant).
                learned = limiter.release(self.raw, generation)
                if lease is not None and tenant is not None:
                    tenant.release(lease, learned)
            if 200 <= raw.status < 300 or (self.read_409 and raw.status == 409):
                # The one door every answer is read through: whatever the body makes fail
                # is ResponseDecodeError (may_have_run set from the request, below).
                return read_answer(self.read, raw, prepared)
            raise api_error(raw, prepared, max_bytes=pipeline.max_response_bytes)
        except ZuoraError as error:
            self.failures += 1
            if sent and not self.maybe_ran:
                self.maybe_ran = may_have_run(error, method=prepared.method)
            if pipeline.closed and isinstance(error, TransportError):
                # aclose() closed the session under this request: no resend can follow.
                raise self._closed_mid_call() from error
            raise

    async def _wait_for(self, wait: Any) -> Any:
        """A slot wait (local or tenant-wide), its end past the deadline as an error."""
        try:
            return await wait
        except WaitPastDeadline as past:
            raise self._past_deadline(past) from None

    async def _fetch_token(self, tokens: TokenCache) -> str:
        """A token when none is fresh: the client's one shared fetch, waited for until the
        deadline (a fetch that fails costs the retry budget once, for all its waiters)."""
        time_left = self.deadline_at - self.pipeline.clock()
        try:
            return await tokens.token(None if math.isinf(time_left) else time_left)
        except TokenWaitTimeout:
            raise self._not_sent(
                "the OAuth token fetch did not finish before the call's deadline"
            ) from None
        except SharedFetchFailed as failed:
            self.shared_failure = failed.failure
            raise failed.error from None
        except TokenFetchCancelled:
            raise self._closed_mid_call() from None

    # -- the errors a call makes itself ----------------------------------------------------

    def _past_deadline(self, wait: WaitPastDeadline) -> ZuoraError:
        prepared = self.prepared
        if wait.paused_for is None:
            in_flight = self.pipeline.in_flight
            return self._not_sent(
                f"no free slot before the call's deadline ({in_flight} requests in flight); "
                f"raise RetryPolicy.deadline or max_concurrency",
            )
        left = max(self.deadline_at - self.pipeline.clock(), 0.0)
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

    def _closed_mid_call(self) -> ClientStateError:
        prepared = self.prepared
        resend = (
            "; Zuora may have received it: resend it under the same Idempotency-Key "
            f"({prepared.idempotency_key}) from an open client"
            if self.maybe_ran and prepared.idempotency_key
            else ""
        )
        return ClientStateError(
            f"{prepared.method} {prepared.path}: the WorkflowClient was closed (aclose()) "
            f"while this call was in flight{resend}"
        )

    def _not_sent(self, why: str) -> RequestTimeoutError:
        prepared = self.prepared
        return RequestTimeoutError(
            f"{prepared.method} {prepared.path} not sent: {why}",
            method=prepared.method,
            path=prepared.path,
            idempotency_key=prepared.idempotency_key,
            track_id=prepared.track_id,
        )
