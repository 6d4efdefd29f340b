"""The call pipeline: the one object that sends a prepared request and reads the answer.

Every operation of the client goes through ``Pipeline.call``: a slot from the limiter, a
token from the cache, one round trip through the transport, the hooks and the debug log,
and the retry loop around it all. Operations hand it a ``PreparedRequest`` (built and
validated by a pure builder in ``_core``) and a pure reader for the answer; they never see
a slot, a token or a retry.

Every wait of a call ends by the call's deadline (``RetryPolicy.deadline``): waiting for a
free slot, for a client-wide pause after a 429 or an exhausted quota, for a token, and
between attempts. What a call does after a failure is decided by ``_core.retry``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import attrs

from zuora_wf_async._auth import Auth, BearerToken, OAuthCredentials
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.answers import read_answer
from zuora_wf_async._core.oauth import TokenGrant, read_token_response
from zuora_wf_async._core.pacing import Verdict
from zuora_wf_async._core.ratelimit import (
    RateLimitInfo,
    has_plenty_left,
    parse_rate_limit,
    parse_retry_after,
)
from zuora_wf_async._core.redact import HeldSecrets
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._core.responses import RawResponse, api_error
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy, may_have_run
from zuora_wf_async._errors import (
    ClientStateError,
    InvalidRequestError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
    UnauthorizedError,
    ZuoraAPIError,
    ZuoraError,
)
from zuora_wf_async._events import ClientStats, RequestEvent, ResponseEvent, call_hook
from zuora_wf_async._limiter import AdaptiveLimiter, WaitPastDeadline
from zuora_wf_async._retrying import CallResult, CallState, RetryEvent, RetryLoop
from zuora_wf_async._shared import (
    DEFAULT_TENANT_CONCURRENCY,
    Lease,
    SharedGate,
    SharedLimits,
    take_tenant_slot,
)
from zuora_wf_async._telemetry import NO_TELEMETRY, Telemetry
from zuora_wf_async._tokens import (
    SharedFetchFailed,
    TokenCache,
    TokenFetchCancelled,
    TokenWaitTimeout,
)
from zuora_wf_async._transport import Transport

__all__ = ["CallerDeadlinePassed", "Pipeline"]

logger = logging.getLogger("zuora_wf_async")

T = TypeVar("T")

# What one answer taught the pacing: status, rate headers, verdict, "plenty of quota".
_Learned = tuple[int | None, RateLimitInfo | None, Verdict, bool]
# What an attempt that got no answer taught it (one shared tuple: nothing per attempt).
_NOTHING_LEARNED: _Learned = (None, None, Verdict(), False)

_RETRY_FIX = "pass RetryPolicy(max_attempts=..., base_delay=..., max_delay=..., deadline=...)"


class CallerDeadlinePassed(Exception):  # noqa: N818 -- an internal signal, never leaves
    """The deadline a caller gave ``Pipeline.call`` (``stop_at``) ended the call.

    Raised instead of the call's last failure, which is ``error`` (None when no time was
    left to start), so that the caller (a wait, whose own timeout this is) can say so.
    """

    def __init__(self, error: ZuoraError | None) -> None:
        super().__init__(error)
        self.error = error


class _Call(CallState):
    """One call: the retry loop's state plus the request and how to read its answer."""

    __slots__ = ("operation", "prepared", "read", "read_409", "workflow_id")

    def __init__(
        self,
        prepared: PreparedRequest,
        read: Callable[[RawResponse], Any],
        policy: RetryPolicy,
        started: float,
        *,
        operation: str,
        read_409: bool,
        workflow_id: int | None,
    ) -> None:
        super().__init__(policy, started)
        self.prepared = prepared
        self.read = read
        self.operation = operation
        self.read_409 = read_409
        self.workflow_id = workflow_id


class Pipeline:
    """Owns the session, the limiter, the token cache and the retry loop of one client.

    Built with the client (outside any loop); the parts that belong to an event loop are
    made on the first call inside one, and the pipeline stays bound to that loop.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        entity_ids: str | None,
        org_ids: str | None,
        max_concurrency: int,
        timeout: float,
        max_response_bytes: int,
        ssl_context: ssl.SSLContext | None,
        trace_configs: Sequence[aiohttp.TraceConfig],
        retry: RetryPolicy,
        retry_budget: RetryBudget | None,
        max_rate: float | None,
        shared_limits: SharedLimits | None = None,
        tenant_concurrency: int = DEFAULT_TENANT_CONCURRENCY,
        on_retry: Callable[[RetryEvent], object] | None,
        on_request: Callable[[RequestEvent], object] | None,
        on_response: Callable[[ResponseEvent], object] | None,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
        random: Callable[[], float],
        telemetry: Telemetry = NO_TELEMETRY,  # OpenTelemetry seam (_telemetry.py)
    ) -> None:
        self.base_url = base_url
        self.auth = auth
        self.entity_ids = entity_ids
        self.org_ids = org_ids
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.retry = retry
        self.retry_budget = retry_budget
        self.max_rate = max_rate
        self.shared_limits = shared_limits
        self.tenant_concurrency = tenant_concurrency
        self.clock = clock
        self.sleep = sleep
        self.random = random
        self._ssl_context = ssl_context
        self._trace_configs = tuple(trace_configs)
        self._on_request = on_request
        self._on_response = on_response
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self._transport: Transport | None = None
        self._limiter: AdaptiveLimiter | None = None
        self._tenant: SharedGate | None = None  # the tenant-wide slots, with shared_limits
        self._tokens: TokenCache | None = None
        self._held = HeldSecrets()  # the auth's secrets, once open (see ensure_open)
        self._retry_loop = RetryLoop(
            telemetry.traced_attempt(self._attempt),
            clock=clock,
            sleep=sleep,
            random=random,
            budget=retry_budget,
            tokens=lambda: self._tokens,
            on_retry=on_retry,
            telemetry=telemetry,
        )
        # OpenTelemetry (_telemetry.py): the call's span around the retry loop and an
        # attempt's span around each attempt; the no-op hands both functions back as is.
        self.telemetry = telemetry
        self._run_call = telemetry.traced_call(self._retry_loop.run)
        telemetry.watch(self)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def state(self) -> str:
        return "closed" if self.closed else "open" if self._transport else "new"

    def ensure_open(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and not self.closed:
            return
        if self.closed:
            raise ClientStateError(
                "this WorkflowClient is closed; create a new one (or keep one open for the "
                "life of the service)"
            )
        if self._loop is not None:
            raise ClientStateError(
                "this WorkflowClient was opened in another event loop; aiohttp sessions "
                "cannot cross loops, so create one client per loop"
            )
        self._loop = loop
        self._transport = Transport(
            max_connections=self.max_concurrency,
            timeout=self.timeout,
            ssl_context=self._ssl_context,
            trace_configs=self._trace_configs,
            max_response_bytes=self.max_response_bytes,
        )
        self._transport.open()
        self._limiter = AdaptiveLimiter(
            self.max_concurrency, clock=self.clock, sleep=self.sleep, max_rate=self.max_rate
        )
        if self.shared_limits is not None:
            self._tenant = self.shared_limits.gate(
                base_url=self.base_url,
                entity_ids=self.entity_ids,
                tenant_concurrency=self.tenant_concurrency,
                # The tenant is the credentials' tenant (never keyed on the secret).
                client_id=self.auth.client_id if isinstance(self.auth, OAuthCredentials) else None,
                clock=self.clock,
            )
        # The client's own secrets, pinned while it is open: scrubbed whatever their
        # length, never pushed out by newer ones (see _core.redact).
        self._held = self.auth.hold()
        if isinstance(self.auth, BearerToken):
            self._tokens = TokenCache(None, clock=self.clock, fixed_token=self.auth.token)
        else:
            self._tokens = TokenCache(self._fetch_token, clock=self.clock)

    async def start_shared_limits(self) -> None:
        """Check the shared-limits store at the client's start: ``ConfigurationError``
        when Redis refuses this client; an outage falls back to local limits."""
        if self._tenant is not None:
            await self._tenant.start()

    async def aclose(self) -> None:
        self.closed = True
        self._held.release()
        if self._transport is not None:
            if asyncio.get_running_loop() is not self._loop:
                raise ClientStateError(
                    "aclose() must run in the event loop the client was opened in"
                )
            if self._tokens is not None:
                self._tokens.close()
            if self._tenant is not None:
                await self._tenant.aclose()
            await self._transport.close()

    # -- what the client reports ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._limiter.in_flight if self._limiter else 0

    @property
    def token_fetches(self) -> int:
        return self._tokens.fetches if self._tokens else 0

    @property
    def effective_concurrency(self) -> int:
        return self._limiter.pacing.capacity if self._limiter else self.max_concurrency

    def stats(self) -> ClientStats:
        limiter = self._limiter
        budget = self.retry_budget
        return ClientStats(
            in_flight=limiter.in_flight if limiter else 0,
            # With shared limits a request holds its local slot while it waits for a tenant
            # slot; the gate counts only those sent (a client showed 32, the tenant 5).
            peak_in_flight=(
                self._tenant.peak_sent
                if self._tenant is not None
                else limiter.peak_in_flight
                if limiter
                else 0
            ),
            tenant_peak_in_flight=self._tenant.tenant_peak if self._tenant is not None else None,
            effective_concurrency=self.effective_concurrency,
            concurrency_cuts=limiter.pacing.cuts if limiter else 0,
            pauses=limiter.pacing.pauses if limiter else 0,
            retry_tokens=budget.tokens if budget else None,
            retries_refused=budget.refused if budget else 0,
            token_fetches=self.token_fetches,
        )

    def policy(self, retry: RetryPolicy | None) -> RetryPolicy:
        """The client's policy, or a per-call override once checked."""
        if retry is None:
            return self.retry
        if not isinstance(retry, RetryPolicy):
            raise InvalidRequestError(
                "retry", f"expected a RetryPolicy, got {type(retry).__name__}", _RETRY_FIX
            )
        return retry

    # -- a call ------------------------------------------------------------------------

    async def call(
        self,
        prepared: PreparedRequest,
        read: Callable[[RawResponse], T],
        policy: RetryPolicy,
        *,
        operation: str,
        read_409: bool = False,
        workflow_id: int | None = None,
        stop_at: float = math.inf,
    ) -> CallResult:
        """Send ``prepared`` under ``policy`` and ``read`` the answer into a value.

        ``read`` gets every 2xx; any other status raises its error leaf, except a 409 when
        ``read_409`` is set (a run POST, whose 409 may be the replay of an earlier run).
        ``operation`` names the call in logs and events.

        ``stop_at`` is a deadline of the caller's on the client's clock (a wait's end):
        the call's own deadline is moved up to it, and when it is what ends the call
        (no retry fitted before it), ``CallerDeadlinePassed`` is raised instead.
        """
        self.ensure_open()
        started = self.clock()
        bounded = stop_at < math.inf and (
            policy.deadline is None or stop_at - started < policy.deadline
        )
        if bounded:
            if stop_at <= started:
                raise CallerDeadlinePassed(None)
            policy = attrs.evolve(policy, deadline=stop_at - started)
        call = _Call(
            prepared,
            read,
            policy,
            started,
            operation=operation,
            read_409=read_409,
            workflow_id=workflow_id,
        )
        try:
            value = await self._run_call(call)  # the retry loop, inside the call's span
        except ZuoraError as error:
            self._gave_up(call, error)
            if bounded and self._retry_loop.ran_out_of_time(call, error):
                raise CallerDeadlinePassed(error) from error
            raise
        if self.retry_budget is not None:
            self.retry_budget.record_success()
        return CallResult(value=value, attempts=call.attempts, elapsed=self.clock() - call.started)

    async def _attempt(self, call: _Call) -> Any:
        """One round trip under a limiter slot, read into a value or raised as an error.

        The token is taken *inside* the slot: a task queued behind the limiter must not
        carry a token fetched minutes ago, or one token expiry would come back as a 401
        from every queued task. The token fetch itself bypasses the limiter (Zuora does
        not count token requests against the concurrency limit), so it never waits behind
        the tasks that wait for it.
        """
        call.attempts += 1
        prepared = call.prepared
        sent = False
        limiter = self._limiter
        tokens = self._tokens
        transport = self._transport
        assert limiter is not None  # noqa: S101 -- the three are made by ensure_open
        assert tokens is not None  # noqa: S101
        assert transport is not None  # noqa: S101
        try:
            time_left = call.deadline_at - self.clock()
            if time_left <= 0:
                raise self._not_sent(call, "the call's deadline passed before it could be sent")
            generation = limiter.try_acquire()
            if generation is None:  # asked once; the slow path does not ask again
                try:
                    generation = await limiter.wait_for_slot(call.deadline_at)
                except WaitPastDeadline as wait:
                    raise self._past_deadline(call, limiter, wait) from None
            lease: Lease | None = None
            learned = _NOTHING_LEARNED
            try:
                if self._tenant is not None:  # a tenant-wide slot too, shared with others
                    lease = await self._wait_for_tenant_slot(call, limiter, self._tenant)
                token = call.sent_token = await self._token_for(call, tokens)
                headers = {**prepared.headers, "Authorization": f"Bearer {token}"}
                self.telemetry.sending(headers)  # a traceparent, only when asked for
                timeout = min(self.timeout, call.deadline_at - self.clock())
                sent = True
                # Events cost allocations on the hot path; build them only for a listener.
                if self._on_request or self._on_response or logger.isEnabledFor(logging.DEBUG):
                    raw = await self._send_observed(call, headers, timeout)
                else:
                    raw = await transport.send(prepared, headers, timeout=timeout)
                learned = self._observe_pacing(limiter, generation, raw)
            finally:
                limiter.release()
                if lease is not None and self._tenant is not None:
                    status, info, verdict, plenty = learned
                    self._tenant.release(
                        lease, status=status, info=info, verdict=verdict, plenty=plenty
                    )
            self.telemetry.answered(raw)  # status, request id, 429 kind on the span
            if 200 <= raw.status < 300 or (call.read_409 and raw.status == 409):
                # The one door every answer is read through (_core/answers.py): whatever
                # the body makes fail is ResponseDecodeError, may_have_run set below.
                return read_answer(call.read, raw, prepared)
            raise api_error(raw, prepared, max_bytes=self.max_response_bytes)
        except ZuoraError as error:
            closed = self._attempt_failed(call, error, sent=sent)
            if closed is not None:
                raise closed from error
            raise

    def _attempt_failed(
        self, call: _Call, error: ZuoraError, *, sent: bool
    ) -> ClientStateError | None:
        """Count a failed attempt; the error to end the call with if the client closed."""
        call.failures += 1
        if sent and not call.maybe_ran:
            call.maybe_ran = may_have_run(error, method=call.prepared.method)
        if self.closed and isinstance(error, TransportError):
            # aclose() closed the session under this request: no resend can follow.
            return self._closed_mid_call(call)
        return None

    def _observe_pacing(
        self, limiter: AdaptiveLimiter, generation: int, raw: RawResponse
    ) -> _Learned:
        # Most answers say the quota is far from spent; only near the end of a window (or
        # on a 429) is every rate header worth parsing.
        plenty = raw.status < 300 and has_plenty_left(raw.headers, 4 * limiter.max_concurrency)
        info = None if plenty else parse_rate_limit(raw.headers)
        retry_after = None
        if raw.status == 429:
            retry_after = parse_retry_after(raw.headers) or (info.reset if info else None)
        verdict = limiter.observe(generation, info, status=raw.status, retry_after=retry_after)
        return raw.status, info, verdict, plenty

    async def _wait_for_tenant_slot(
        self, call: _Call, limiter: AdaptiveLimiter, tenant: SharedGate
    ) -> Lease:
        try:
            return await take_tenant_slot(
                tenant,
                limiter.pacing,
                deadline_at=call.deadline_at,
                clock=self.clock,
                sleep=self.sleep,
            )
        except WaitPastDeadline as wait:
            raise self._past_deadline(call, limiter, wait) from None

    def _past_deadline(
        self, call: _Call, limiter: AdaptiveLimiter, wait: WaitPastDeadline
    ) -> ZuoraError:
        if wait.paused_for is None:
            return self._not_sent(
                call,
                f"no free slot before the call's deadline ({limiter.in_flight} requests "
                f"in flight); raise RetryPolicy.deadline or max_concurrency",
            )
        prepared = call.prepared
        left = max(call.deadline_at - self.clock(), 0.0)
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

    async def _token_for(self, call: _Call, tokens: TokenCache) -> str:
        """The token to send, unless ``aclose()`` ran while this call waited (to resend,
        for a slot, for the token): then nothing is sent, and the call ends at once."""
        token = tokens.current() or await self._wait_for_token(call, tokens)
        if self.closed:
            raise self._closed_mid_call(call)
        return token

    async def _wait_for_token(self, call: _Call, tokens: TokenCache) -> str:
        time_left = call.deadline_at - self.clock()
        try:
            return await tokens.token(None if math.isinf(time_left) else time_left)
        except TokenWaitTimeout:
            raise self._not_sent(
                call, "the OAuth token fetch did not finish before the call's deadline"
            ) from None
        except SharedFetchFailed as failed:
            # Every waiter of the fetch fails with it; the budget pays for it once.
            call.shared_failure = failed.failure
            raise failed.error from None
        except TokenFetchCancelled:
            raise self._closed_mid_call(call) from None

    def _closed_mid_call(self, call: _Call) -> ClientStateError:
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

    def _not_sent(self, call: _Call, why: str) -> RequestTimeoutError:
        prepared = call.prepared
        return RequestTimeoutError(
            f"{prepared.method} {prepared.path} not sent: {why}",
            method=prepared.method,
            path=prepared.path,
            idempotency_key=prepared.idempotency_key,
            track_id=prepared.track_id,
        )

    def _gave_up(self, call: _Call, error: ZuoraError) -> None:
        elapsed = self.clock() - call.started
        error.attempts = call.attempts
        error.elapsed = elapsed
        error.may_have_run = call.maybe_ran
        reason, exhausted = self._retry_loop.give_up_reason(call, error)
        if (
            isinstance(error, RateLimitError)
            and error.retry_after is not None
            and error.headers
            and "deadline" in reason
        ):
            error.args = (
                f"{error.args[0]} -- Zuora asked to wait {error.retry_after:g}s, more than "
                f"the time left before the call's deadline; raise RetryPolicy.deadline or "
                f"slow down",
            )
        logger.log(
            logging.WARNING if exhausted else logging.DEBUG,
            "%s gave up after %d attempt(s) in %.3fs: %s (%s)",
            call.operation,
            call.attempts,
            elapsed,
            type(error).__name__,
            reason,
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

    # -- observation -------------------------------------------------------------------

    async def _send_observed(
        self, call: _Call, headers: dict[str, str], timeout: float
    ) -> RawResponse:
        prepared = call.prepared
        identity: dict[str, Any] = {
            "method": prepared.method,
            "path": prepared.path,
            "attempt": call.attempts,
            "workflow_id": call.workflow_id,
            "idempotency_key": prepared.idempotency_key,
            "track_id": prepared.track_id,
        }
        call_hook(self._on_request, RequestEvent(**identity))
        started = self.clock()
        assert self._transport is not None  # noqa: S101 -- opened by ensure_open
        try:
            raw = await self._transport.send(prepared, headers, timeout=timeout)
        except ZuoraError as error:
            self._observe(ResponseEvent(**identity, elapsed=self.clock() - started, error=error))
            raise
        self._observe(
            ResponseEvent(
                **identity,
                elapsed=self.clock() - started,
                status=raw.status,
                request_id=raw.request_id,
            )
        )
        return raw

    def _observe(self, event: ResponseEvent) -> None:
        logger.debug(
            "%s %s attempt %d -> %s in %.3fs",
            event.method,
            event.path,
            event.attempt,
            event.status if event.error is None else type(event.error).__name__,
            event.elapsed,
            extra=event.log_fields(),
        )
        call_hook(self._on_response, event)

    # -- the token -----------------------------------------------------------------------

    async def _fetch_token(self) -> TokenGrant:
        assert isinstance(self.auth, OAuthCredentials)  # noqa: S101 -- only OAuth fetches
        assert self._transport is not None  # noqa: S101 -- opened by ensure_open
        prepared = build.prepare_token(
            base_url=self.base_url,
            client_id=self.auth.client_id,
            client_secret=self.auth.client_secret,
            entity_ids=self.entity_ids,
        )
        # One attempt: the fetch runs inside the attempts of the calls that wait for it,
        # and their retry loops retry a failed fetch together with their requests.
        started = self.clock()
        raw = await self._transport.send(prepared, prepared.headers, timeout=self.timeout)
        logger.debug(
            "POST %s -> %s in %.3fs",
            prepared.path,
            raw.status,
            self.clock() - started,
            extra={"method": "POST", "path": prepared.path, "status": raw.status},
        )
        if raw.status != 200:
            error = api_error(raw, prepared, max_bytes=self.max_response_bytes)
            if isinstance(error, UnauthorizedError):
                request_id = f" [Zuora-Request-Id: {raw.request_id}]" if raw.request_id else ""
                error.args = (
                    f"Zuora rejected the OAuth client credentials for client_id "
                    f"{self.auth.client_id!r} (401 from /oauth/token); check ZUORA_CLIENT_ID "
                    f"and ZUORA_CLIENT_SECRET{request_id}",
                )
            raise error
        # Quotes nothing of the body: a 200 from /oauth/token may be the bare token.
        # Through the same door as every answer, quoting nothing (the token is in it).
        limit = self.max_response_bytes
        grant = read_answer(
            lambda answer: read_token_response(answer, max_bytes=limit), raw, prepared, quote=False
        )
        self._held.hold_token(grant.access_token)  # pinned while it is the current token
        return grant
