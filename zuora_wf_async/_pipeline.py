"""The call path's parts: one client's session, limiter, tokens and tenant gate.

``Pipeline`` is built with the client (outside any loop) from its ``Settings``; the parts
that belong to an event loop (the aiohttp session, the limiter, the token cache, the tenant
gate with shared limits) are made on the first call inside one, and the pipeline stays
bound to that loop. Every operation sends its ``PreparedRequest`` (built and checked by a
pure builder in ``_core``) with a pure reader through ``Pipeline.call``: the retry loop,
written in ``_call.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from zuora_wf_async import _call
from zuora_wf_async._auth import BearerToken, OAuthCredentials
from zuora_wf_async._call import Call
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.oauth import TokenGrant, read_token_response
from zuora_wf_async._core.redact import HeldSecrets
from zuora_wf_async._core.responses import RawResponse, read_answer
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import ClientStateError, UnauthorizedError, ZuoraError
from zuora_wf_async._events import ClientStats, RequestEvent, ResponseEvent, call_hook
from zuora_wf_async._limiter import AdaptiveLimiter
from zuora_wf_async._options import Settings, refused_retry
from zuora_wf_async._shared import Lease
from zuora_wf_async._telemetry import Telemetry
from zuora_wf_async._tokens import TokenCache
from zuora_wf_async._transport import Transport

if TYPE_CHECKING:
    from zuora_wf_async._shared._gate import SharedGate

logger = logging.getLogger("zuora_wf_async")


class Pipeline:
    """Owns the session, the limiter, the token cache and the tenant gate of one client."""

    call = _call.call  # the retry loop, written once in _call.py

    def __init__(self, settings: Settings, telemetry: Telemetry) -> None:
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        # Made by ensure_open, inside the loop; read by each call (_call.py).
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
        if self.loop is loop and not self.closed:
            return
        if self.closed:
            raise ClientStateError(
                "this WorkflowClient is closed; create a new one (or keep one open for the "
                "life of the service)"
            )
        if self.loop is not None:
            raise ClientStateError(
                "this WorkflowClient was opened in another event loop; aiohttp sessions "
                "cannot cross loops, so create one client per loop"
            )
        self.loop = loop
        settings = self.settings
        self.transport = Transport(
            max_connections=settings.max_concurrency,
            timeout=settings.timeout,
            ssl_context=settings.ssl_context,
            trace_configs=settings.trace_configs,
            max_response_bytes=settings.max_response_bytes,
        )
        self.transport.open()
        self.limiter = AdaptiveLimiter(
            settings.max_concurrency,
            clock=settings.clock,
            sleep=settings.sleep,
            max_rate=settings.max_rate,
        )
        auth = settings.auth
        if settings.shared_limits is not None:
            self._tenant = settings.shared_limits.gate(
                base_url=settings.base_url,
                entity_ids=settings.entity_ids,
                tenant_concurrency=settings.tenant_concurrency,
                # The tenant is the credentials' tenant (never keyed on the secret).
                client_id=auth.client_id if isinstance(auth, OAuthCredentials) else None,
                clock=settings.clock,
            )
        # The client's own secrets, pinned while it is open: scrubbed whatever their
        # length, never pushed out by newer ones (see _core.redact).
        self._held = auth.hold()
        if isinstance(auth, BearerToken):
            self.tokens = TokenCache(None, clock=settings.clock, fixed_token=auth.token)
        else:
            self.tokens = TokenCache(self._fetch_token, clock=settings.clock)

    async def start_shared_limits(self) -> None:
        """Check the shared-limits store at the client's start: ``ConfigurationError``
        when Redis refuses this client; an outage falls back to local limits."""
        if self._tenant is not None:
            await self._tenant.start()

    async def aclose(self) -> None:
        self.closed = True
        self._held.release()
        if self.transport is not None:
            if asyncio.get_running_loop() is not self.loop:
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
    def effective_concurrency(self) -> int:
        return self.limiter.pacing.capacity if self.limiter else self.settings.max_concurrency

    def stats(self) -> ClientStats:
        limiter, tenant, budget = self.limiter, self._tenant, self.settings.retry_budget
        return ClientStats(
            in_flight=self.in_flight,
            # With shared limits a request holds its local slot while it waits for a tenant
            # slot; the gate counts only those sent (a client showed 32, the tenant 5).
            peak_in_flight=(
                tenant.peak_sent if tenant else limiter.peak_in_flight if limiter else 0
            ),
            tenant_peak_in_flight=tenant.tenant_peak if tenant else None,
            effective_concurrency=self.effective_concurrency,
            concurrency_cuts=limiter.pacing.cuts if limiter else 0,
            pauses=limiter.pacing.pauses if limiter else 0,
            retry_tokens=budget.tokens if budget else None,
            retries_refused=budget.refused if budget else 0,
            token_fetches=self.tokens.fetches if self.tokens else 0,
        )

    def policy(self, retry: RetryPolicy | None) -> RetryPolicy:
        """The client's policy, or a per-call override once checked."""
        if retry is None:
            return self.settings.retry
        if not isinstance(retry, RetryPolicy):
            raise refused_retry(retry)
        return retry

    # -- inside an attempt ----------------------------------------------------------------

    async def tenant_slot(self, deadline_at: float) -> Lease:
        """A tenant-wide slot (shared limits), taken by ``deadline_at`` or not at all."""
        assert self._tenant is not None  # noqa: S101 -- only asked with shared limits
        assert self.limiter is not None  # noqa: S101 -- made by ensure_open
        from zuora_wf_async._shared._gate import take_tenant_slot  # loaded with the gate

        settings = self.settings
        return await take_tenant_slot(
            self._tenant,
            self.limiter.pacing,
            deadline_at=deadline_at,
            clock=settings.clock,
            sleep=settings.sleep,
        )

    async def send_observed(
        self, call: Call, headers: dict[str, str], timeout: float
    ) -> RawResponse:
        """The transport's round trip, told to the hooks and the DEBUG log."""
        prepared, settings = call.prepared, self.settings
        assert self.transport is not None  # noqa: S101 -- opened by ensure_open
        identity: dict[str, Any] = {
            "method": prepared.method,
            "path": prepared.path,
            "attempt": call.attempts,
            "workflow_id": call.workflow_id,
            "idempotency_key": prepared.idempotency_key,
            "track_id": prepared.track_id,
        }
        call_hook(settings.on_request, RequestEvent(**identity))
        started = settings.clock()
        try:
            raw = await self.transport.send(prepared, headers, timeout=timeout)
        except ZuoraError as error:
            self._observed(
                ResponseEvent(**identity, elapsed=settings.clock() - started, error=error)
            )
            raise
        elapsed = settings.clock() - started
        self._observed(
            ResponseEvent(**identity, elapsed=elapsed, status=raw.status, request_id=raw.request_id)
        )
        return raw

    def _observed(self, event: ResponseEvent) -> None:
        logger.debug(
            "%s %s attempt %d -> %s in %.3fs",
            event.method,
            event.path,
            event.attempt,
            event.status if event.error is None else type(event.error).__name__,
            event.elapsed,
            extra=event.log_fields(),
        )
        call_hook(self.settings.on_response, event)

    # -- the token -----------------------------------------------------------------------

    async def _fetch_token(self) -> TokenGrant:
        settings, auth, transport = self.settings, self.settings.auth, self.transport
        assert isinstance(auth, OAuthCredentials)  # noqa: S101 -- only OAuth fetches
        assert transport is not None  # noqa: S101 -- opened by ensure_open
        prepared = build.prepare_token(
            base_url=settings.base_url,
            client_id=auth.client_id,
            client_secret=auth.client_secret,
            entity_ids=settings.entity_ids,
        )
        # One attempt: the fetch runs inside the attempts of the calls that wait for it,
        # and their retry loops retry a failed fetch together with their requests.
        started = settings.clock()
        raw = await transport.send(prepared, prepared.headers, timeout=settings.timeout)
        logger.debug(
            "POST %s -> %s in %.3fs",
            prepared.path,
            raw.status,
            settings.clock() - started,
            extra={"method": "POST", "path": prepared.path, "status": raw.status},
        )
        limit = settings.max_response_bytes
        if raw.status != 200:
            error = api_error(raw, prepared, max_bytes=limit)
            if isinstance(error, UnauthorizedError):
                request_id = f" [Zuora-Request-Id: {raw.request_id}]" if raw.request_id else ""
                error.args = (
                    f"Zuora rejected the OAuth client credentials for client_id "
                    f"{auth.client_id!r} (401 from /oauth/token); check ZUORA_CLIENT_ID "
                    f"and ZUORA_CLIENT_SECRET{request_id}",
                )
            raise error
        # Through the same door as every answer, quoting nothing of the body (a 200 from
        # /oauth/token may be the bare token, not yet known to be scrubbed).
        grant = read_answer(
            lambda answer: read_token_response(answer, max_bytes=limit), raw, prepared, quote=False
        )
        self._held.hold_token(grant.access_token)  # pinned while it is the current token
        return grant
