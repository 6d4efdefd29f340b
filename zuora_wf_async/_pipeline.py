"""The call path's parts: one client's session, limiter, tokens and hooks, and ``call``.

``Pipeline`` is built with the client (outside any loop); the parts that belong to an event
loop (the aiohttp session, the limiter, the token cache, the tenant gate with shared
limits) are made on the first call inside one, and the pipeline stays bound to that loop.
Every operation of the client goes through ``Pipeline.call`` with a ``PreparedRequest``
(built and checked by a pure builder in ``_core``) and a pure reader for the answer; the
retry loop that runs it is ``_call.Call.run``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp

from zuora_wf_async._auth import Auth, BearerToken, OAuthCredentials
from zuora_wf_async._call import Call, CallResult
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.oauth import TokenGrant, read_token_response
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.redact import HeldSecrets
from zuora_wf_async._core.responses import RawResponse, read_answer
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy
from zuora_wf_async._errors import (
    ClientStateError,
    InvalidRequestError,
    UnauthorizedError,
    ZuoraError,
)
from zuora_wf_async._events import (
    ClientStats,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    call_hook,
)
from zuora_wf_async._limiter import AdaptiveLimiter
from zuora_wf_async._shared import (
    DEFAULT_TENANT_CONCURRENCY,
    Lease,
    SharedGate,
    SharedLimits,
    take_tenant_slot,
)
from zuora_wf_async._telemetry import NO_TELEMETRY, Telemetry
from zuora_wf_async._tokens import TokenCache
from zuora_wf_async._transport import Transport

__all__ = ["Pipeline"]

logger = logging.getLogger("zuora_wf_async")

T = TypeVar("T")


_RETRY_FIX = "pass RetryPolicy(max_attempts=..., base_delay=..., max_delay=..., deadline=...)"


class Pipeline:
    """Owns the session, the limiter, the token cache and the hooks of one client."""

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
        telemetry: Telemetry = NO_TELEMETRY,  # OpenTelemetry seam (_telemetry/)
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
        self.on_retry = on_retry
        self.on_request = on_request
        self.on_response = on_response
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        # Made by ensure_open, inside the loop; read by each Call (_call.py).
        self.transport: Transport | None = None
        self.limiter: AdaptiveLimiter | None = None
        self._tenant: SharedGate | None = None  # the tenant-wide slots, with shared_limits
        self.tokens: TokenCache | None = None
        self._held = HeldSecrets()  # the auth's secrets, once open (see ensure_open)
        # OpenTelemetry (_telemetry/): a span per call and per attempt, and metrics.
        self.telemetry = telemetry
        telemetry.watch(self)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def state(self) -> str:
        return "closed" if self.closed else "open" if self.transport else "new"

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
        self.transport = Transport(
            max_connections=self.max_concurrency,
            timeout=self.timeout,
            ssl_context=self._ssl_context,
            trace_configs=self._trace_configs,
            max_response_bytes=self.max_response_bytes,
        )
        self.transport.open()
        self.limiter = AdaptiveLimiter(
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
            self.tokens = TokenCache(None, clock=self.clock, fixed_token=self.auth.token)
        else:
            self.tokens = TokenCache(self._fetch_token, clock=self.clock)

    async def start_shared_limits(self) -> None:
        """Check the shared-limits store at the client's start: ``ConfigurationError``
        when Redis refuses this client; an outage falls back to local limits."""
        if self._tenant is not None:
            await self._tenant.start()

    async def aclose(self) -> None:
        self.closed = True
        self._held.release()
        if self.transport is not None:
            if asyncio.get_running_loop() is not self._loop:
                raise ClientStateError(
                    "aclose() must run in the event loop the client was opened in"
                )
            if self.tokens is not None:
                self.tokens.close()
            if self._tenant is not None:
                await self._tenant.aclose()
            await self.transport.close()

    # -- what the client reports ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self.limiter.in_flight if self.limiter else 0

    @property
    def token_fetches(self) -> int:
        return self.tokens.fetches if self.tokens else 0

    @property
    def effective_concurrency(self) -> int:
        return self.limiter.pacing.capacity if self.limiter else self.max_concurrency

    def stats(self) -> ClientStats:
        limiter = self.limiter
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
        ``operation`` names the call in logs and events. ``stop_at`` is a deadline of the
        caller's on the client's clock (a wait's end): the call's own deadline is moved up
        to it, and when it is what ends the call, ``CallerDeadlinePassed`` is raised.
        """
        if self.closed or self._loop is not asyncio.get_running_loop():
            self.ensure_open()  # the first call in a loop opens the parts; else an error
        call = Call(
            self,
            prepared,
            read,
            policy,
            operation=operation,
            read_409=read_409,
            workflow_id=workflow_id,
            stop_at=stop_at,
        )
        return await call.run()

    async def tenant_slot(self, deadline_at: float) -> Lease:
        """A tenant-wide slot (shared limits), taken by ``deadline_at`` or not at all."""
        assert self._tenant is not None  # noqa: S101 -- only asked with shared limits
        assert self.limiter is not None  # noqa: S101 -- made by ensure_open
        return await take_tenant_slot(
            self._tenant,
            self.limiter.pacing,
            deadline_at=deadline_at,
            clock=self.clock,
            sleep=self.sleep,
        )

    # -- observation -------------------------------------------------------------------

    async def send_observed(
        self, call: Call, headers: dict[str, str], timeout: float
    ) -> RawResponse:
        """The transport's round trip, told to the hooks and the DEBUG log."""
        prepared = call.prepared
        identity: dict[str, Any] = {
            "method": prepared.method,
            "path": prepared.path,
            "attempt": call.attempts,
            "workflow_id": call.workflow_id,
            "idempotency_key": prepared.idempotency_key,
            "track_id": prepared.track_id,
        }
        call_hook(self.on_request, RequestEvent(**identity))
        started = self.clock()
        assert self.transport is not None  # noqa: S101 -- opened by ensure_open
        try:
            raw = await self.transport.send(prepared, headers, timeout=timeout)
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
        call_hook(self.on_response, event)

    # -- the token -----------------------------------------------------------------------

    async def _fetch_token(self) -> TokenGrant:
        assert isinstance(self.auth, OAuthCredentials)  # noqa: S101 -- only OAuth fetches
        assert self.transport is not None  # noqa: S101 -- opened by ensure_open
        prepared = build.prepare_token(
            base_url=self.base_url,
            client_id=self.auth.client_id,
            client_secret=self.auth.client_secret,
            entity_ids=self.entity_ids,
        )
        # One attempt: the fetch runs inside the attempts of the calls that wait for it,
        # and their retry loops retry a failed fetch together with their requests.
        started = self.clock()
        raw = await self.transport.send(prepared, prepared.headers, timeout=self.timeout)
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
