"""``WorkflowClient``: one session, one token cache, one gate for every request."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import aiohttp

from zuora_wf_async._auth import Auth, BearerToken, OAuthCredentials
from zuora_wf_async._converter import decode
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.oauth import TokenGrant, read_token_grant
from zuora_wf_async._core.ratelimit import (
    has_plenty_left,
    parse_rate_limit,
    parse_retry_after,
)
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._core.responses import RawResponse, api_error, read_json, read_run
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy
from zuora_wf_async._encoding import BodyEncoder
from zuora_wf_async._env import options_from_env, require_connection_options
from zuora_wf_async._errors import (
    ClientStateError,
    InvalidRequestError,
    UnauthorizedError,
    ZuoraError,
)
from zuora_wf_async._events import ClientStats, RequestEvent, ResponseEvent, call_hook
from zuora_wf_async._fanout import FanOut
from zuora_wf_async._follow import FollowRuns
from zuora_wf_async._limiter import AdaptiveLimiter
from zuora_wf_async._models import WorkflowRun
from zuora_wf_async._retrying import CallResult, RetryEvent, retrying_call
from zuora_wf_async._tokens import TokenCache
from zuora_wf_async._transport import Transport

__all__ = ["WorkflowClient"]

logger = logging.getLogger("zuora_wf_async")

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
DEFAULT_GZIP_THRESHOLD = 1024
_RETRY_FIX = "pass RetryPolicy(max_attempts=..., base_delay=..., max_delay=..., deadline=...)"


def _positive_number(field: str, value: object, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidRequestError(field, f"must be a positive number, got {value!r}", fix)
    return float(value)


class WorkflowClient(FollowRuns, FanOut):
    """An asyncio client for Zuora's Workflow API.

    Use one client per service (and per event loop): it owns one ``aiohttp.ClientSession``,
    created inside the running loop when the client is entered or first used, and closed by
    ``async with`` or ``aclose()``. ``max_concurrency`` bounds requests in flight across
    every call made through the client.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: Auth,
        max_concurrency: int = 32,
        entity_ids: Sequence[str] | None = None,
        org_ids: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        gzip_threshold: int | None = DEFAULT_GZIP_THRESHOLD,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | Literal["default"] | None = "default",
        max_rate: float | None = None,
        on_retry: Callable[[RetryEvent], object] | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        on_response: Callable[[ResponseEvent], object] | None = None,
        auto_track_id: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if base_url is None:
            raise InvalidRequestError(
                "base_url",
                "is required",
                "pass Zuora's REST host, e.g. 'https://rest.test.zuora.com', or use from_env()",
            )
        self.base_url = build.normalize_base_url(base_url)
        if not isinstance(auth, BearerToken | OAuthCredentials):
            raise InvalidRequestError(
                "auth",
                f"expected BearerToken or OAuthCredentials, got {type(auth).__name__}",
                "pass auth=OAuthCredentials(client_id=..., client_secret=...) or BearerToken(...)",
            )
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise InvalidRequestError(
                "max_concurrency", f"must be an int, got {max_concurrency!r}", "pass e.g. 32"
            )
        if max_concurrency < 1:
            raise InvalidRequestError(
                "max_concurrency", f"must be at least 1, got {max_concurrency}", "pass e.g. 32"
            )
        if gzip_threshold is not None and (
            isinstance(gzip_threshold, bool)
            or not isinstance(gzip_threshold, int)
            or gzip_threshold < 0
        ):
            raise InvalidRequestError(
                "gzip_threshold",
                f"must be a byte count >= 0 or None, got {gzip_threshold!r}",
                "pass e.g. 1024, or None to never compress request bodies",
            )
        self.auth = auth
        self.max_concurrency = max_concurrency
        self.timeout = _positive_number("timeout", timeout, "pass seconds per attempt, e.g. 60")
        self.gzip_threshold = gzip_threshold
        self._entity_ids = build.validate_id_list("entity_ids", entity_ids)
        self._org_ids = build.validate_id_list("org_ids", org_ids)
        self._max_response_bytes = int(
            _positive_number("max_response_bytes", max_response_bytes, "pass a byte count")
        )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidRequestError(
                "retry", f"expected a RetryPolicy, got {type(retry).__name__}", _RETRY_FIX
            )
        self.retry = retry or RetryPolicy()
        self.retry_budget = RetryBudget() if retry_budget == "default" else retry_budget
        self.max_rate = (
            None
            if max_rate is None
            else _positive_number("max_rate", max_rate, "pass requests per second, or None")
        )
        self._on_retry = on_retry
        self._on_request = on_request
        self._on_response = on_response
        self.auto_track_id = bool(auto_track_id)
        self._clock = clock
        self._sleep = sleep
        self._random = (rng or random.Random()).random  # noqa: S311 -- jitter, not secrets
        self._ssl_context = ssl_context
        self._trace_configs = tuple(trace_configs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._transport: Transport | None = None
        self._limiter: AdaptiveLimiter | None = None
        self._tokens: TokenCache | None = None
        self._encoder = BodyEncoder(gzip_threshold=gzip_threshold)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """A client configured from ``ZUORA_*`` environment variables.

        Reads ``ZUORA_BASE_URL``, ``ZUORA_CLIENT_ID`` and ``ZUORA_CLIENT_SECRET`` (or
        ``ZUORA_BEARER_TOKEN``), and comma-separated ``ZUORA_ENTITY_IDS`` / ``ZUORA_ORG_IDS``.
        Keyword ``overrides`` win over the environment.
        """
        options = options_from_env(os.environ if environ is None else environ)
        options.update(overrides)
        require_connection_options(options)
        return cls(**options)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._transport else "new"
        return (
            f"WorkflowClient({self.base_url!r}, auth={self.auth!r}, "
            f"max_concurrency={self.max_concurrency}, state={state})"
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session; the client cannot be used afterwards. Safe to call twice."""
        self._closed = True
        if self._transport is not None:
            if asyncio.get_running_loop() is not self._loop:
                raise ClientStateError(
                    "aclose() must run in the event loop the client was opened in"
                )
            await self._transport.close()
        self._encoder.close()

    def _ensure_open(self) -> None:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise ClientStateError(
                "this WorkflowClient is closed; create a new one (or keep one open for the "
                "life of the service)"
            )
        if self._loop is None:
            self._loop = loop
            self._transport = Transport(
                max_connections=self.max_concurrency,
                ssl_context=self._ssl_context,
                trace_configs=self._trace_configs,
                max_response_bytes=self._max_response_bytes,
            )
            self._transport.open()
            self._limiter = AdaptiveLimiter(
                self.max_concurrency, clock=self._clock, sleep=self._sleep, max_rate=self.max_rate
            )
            if isinstance(self.auth, BearerToken):
                self._tokens = TokenCache(None, clock=self._clock, fixed_token=self.auth.token)
            else:
                self._tokens = TokenCache(self._fetch_token, clock=self._clock)
        elif self._loop is not loop:
            raise ClientStateError(
                "this WorkflowClient was opened in another event loop; aiohttp sessions "
                "cannot cross loops, so create one client per loop"
            )

    @property
    def in_flight(self) -> int:
        """Requests being sent or awaited right now."""
        return self._limiter.in_flight if self._limiter else 0

    @property
    def token_fetches(self) -> int:
        """How many OAuth tokens this client has fetched."""
        return self._tokens.fetches if self._tokens else 0

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the client's pacing and retry state, for metrics and tests."""
        limiter = self._limiter
        budget = self.retry_budget
        return ClientStats(
            in_flight=limiter.in_flight if limiter else 0,
            peak_in_flight=limiter.peak_in_flight if limiter else 0,
            effective_concurrency=self.effective_concurrency,
            concurrency_cuts=limiter.pacing.cuts if limiter else 0,
            pauses=limiter.pacing.pauses if limiter else 0,
            retry_tokens=budget.tokens if budget else None,
            retries_refused=budget.refused if budget else 0,
            token_fetches=self.token_fetches,
        )

    @property
    def effective_concurrency(self) -> int:
        """Requests allowed in flight now: ``max_concurrency`` until Zuora pushes back."""
        return self._limiter.pacing.capacity if self._limiter else self.max_concurrency

    # -- public calls ------------------------------------------------------------------

    async def run_workflow(
        self,
        workflow_id: int,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        track_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowRun:
        """Start a run of workflow definition ``workflow_id`` with ``params``.

        Every attempt sends the same ``Idempotency-Key`` (a fresh UUID4 unless given) and
        the same body bytes, so Zuora runs the workflow at most once per key. A repeat of a
        key Zuora already ran answers with that earlier run, which is returned here.
        ``retry`` overrides the client's policy for this call.
        """
        result = await self._start_run(
            workflow_id, params, idempotency_key=idempotency_key, track_id=track_id, retry=retry
        )
        run: WorkflowRun = result.value
        return run

    async def _start_run(
        self,
        workflow_id: object,
        params: object,
        *,
        idempotency_key: str | None,
        track_id: str | None,
        retry: RetryPolicy | None,
    ) -> CallResult:
        """``run_workflow`` with its attempt count and elapsed time, for batch outcomes."""
        policy = self._policy(retry)
        valid_id = build.validate_workflow_id(workflow_id)
        prepared = await self._prepare_run(
            valid_id, params, idempotency_key=idempotency_key, track_id=track_id
        )

        def read(raw: RawResponse) -> WorkflowRun:
            body, _replayed = read_run(raw, prepared, max_bytes=self._max_response_bytes)
            return decode(body, WorkflowRun, status=raw.status)

        return await self._call(prepared, read, policy, workflow_id=valid_id, read_409=True)

    # -- the request path --------------------------------------------------------------

    def _new_key(self) -> str:
        return str(uuid.uuid4())

    def _new_track_id(self) -> str:
        # 36 ASCII characters with none of : ; " ', well inside Zuora's 64.
        return f"zwa-{uuid.uuid4().hex}"

    def _policy(self, retry: RetryPolicy | None) -> RetryPolicy:
        if retry is None:
            return self.retry
        if not isinstance(retry, RetryPolicy):
            raise InvalidRequestError(
                "retry", f"expected a RetryPolicy, got {type(retry).__name__}", _RETRY_FIX
            )
        return retry

    async def _prepare_run(
        self,
        workflow_id: int,
        params: object,
        *,
        idempotency_key: str | None,
        track_id: str | None,
    ) -> PreparedRequest:
        # ``workflow_id`` is already validated. Everything else that can be known locally
        # is checked before the session is touched, so bad input never costs a request (or
        # a token fetch). The key and the body are fixed here, once: every retry re-sends
        # these exact bytes under this exact key.
        key = (
            self._new_key()
            if idempotency_key is None
            else build.validate_idempotency_key(idempotency_key)
        )
        track = None if track_id is None else build.validate_track_id(track_id)
        if track is None and self.auto_track_id:
            track = self._new_track_id()
        body, compressed = await self._encoder.encode(params)
        prepared = build.prepare_run(
            base_url=self.base_url,
            workflow_id=workflow_id,
            body=body,
            idempotency_key=key,
            track_id=track,
            entity_ids=self._entity_ids,
            org_ids=self._org_ids,
        )
        return prepared if compressed is None else prepared.with_gzip_body(compressed)

    async def _call(
        self,
        prepared: PreparedRequest,
        read: Callable[[RawResponse], T],
        policy: RetryPolicy,
        *,
        workflow_id: int | None = None,
        read_409: bool = False,
    ) -> CallResult:
        """Send ``prepared`` under ``policy`` and ``read`` the answer into a value.

        ``read`` gets every 2xx; any other status raises its error leaf, except a 409 when
        ``read_409`` is set (a run POST, whose 409 may be the replay of an earlier run).
        """
        self._ensure_open()
        tokens = self._tokens
        assert tokens is not None  # noqa: S101 -- set by _ensure_open
        sent_token: list[str] = []
        attempts = 0

        async def attempt(timeout: float) -> T:
            nonlocal attempts
            attempts += 1
            raw, token = await self._attempt(prepared, timeout, attempts, workflow_id)
            sent_token[:] = [token]
            if 200 <= raw.status < 300 or (read_409 and raw.status == 409):
                return read(raw)
            raise api_error(raw, prepared, max_bytes=self._max_response_bytes)

        return await retrying_call(
            attempt,
            timeout=self.timeout,
            policy=policy,
            budget=self.retry_budget,
            clock=self._clock,
            sleep=self._sleep,
            random=self._random,
            tokens=tokens if tokens.refreshable else None,
            sent_token=sent_token,
            on_retry=self._on_retry,
        )

    async def _attempt(
        self, prepared: PreparedRequest, timeout: float, attempt: int, workflow_id: int | None
    ) -> tuple[RawResponse, str]:
        """One round trip under a limiter slot; returns the response and the token sent.

        The token is taken *inside* the slot: a task queued behind the limiter must not
        carry a token fetched minutes ago, or one token expiry would come back as a 401
        from every queued task. Waiting for a refresh holds the slot, but only for the
        one token request, which itself bypasses the limiter (Zuora does not count token
        requests against the concurrency limit) so it can never wait behind the tasks
        that wait for it.
        """
        assert self._limiter is not None  # noqa: S101 -- set by _ensure_open
        assert self._tokens is not None  # noqa: S101 -- set by _ensure_open
        # Events cost allocations on the hot path; build them only for someone listening.
        observed = bool(self._on_request or self._on_response or logger.isEnabledFor(logging.DEBUG))
        limiter = self._limiter
        generation = limiter.try_acquire()
        if generation is None:
            generation = await limiter.acquire()
        try:
            token = self._tokens.current() or await self._tokens.token()
            if not observed:
                assert self._transport is not None  # noqa: S101 -- set by _ensure_open
                headers = {**prepared.headers, "Authorization": f"Bearer {token}"}
                raw = await self._transport.send(prepared, headers, timeout=timeout)
            else:
                raw = await self._send_observed(prepared, token, timeout, attempt, workflow_id)
            # Most answers say the quota is far from spent; only near the end of a window
            # (or on a 429) is every rate header worth parsing.
            plenty = raw.status < 300 and has_plenty_left(raw.headers, 4 * limiter.max_concurrency)
            info = None if plenty else parse_rate_limit(raw.headers)
            retry_after = None
            if raw.status == 429:
                retry_after = parse_retry_after(raw.headers) or (info.reset if info else None)
            limiter.observe(generation, info, status=raw.status, retry_after=retry_after)
        finally:
            limiter.release()
        return raw, token

    async def _send_observed(
        self,
        prepared: PreparedRequest,
        token: str,
        timeout: float,
        attempt: int,
        workflow_id: int | None,
    ) -> RawResponse:
        identity: dict[str, Any] = {
            "method": prepared.method,
            "path": prepared.path,
            "attempt": attempt,
            "workflow_id": workflow_id,
            "idempotency_key": prepared.idempotency_key,
            "track_id": prepared.track_id,
        }
        call_hook(self._on_request, RequestEvent(**identity))
        started = self._clock()
        try:
            raw = await self._send_once(prepared, token, timeout)
        except ZuoraError as error:
            self._observe(ResponseEvent(**identity, elapsed=self._clock() - started, error=error))
            raise
        self._observe(
            ResponseEvent(
                **identity,
                elapsed=self._clock() - started,
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

    async def _send_once(
        self, prepared: PreparedRequest, token: str | None, timeout: float
    ) -> RawResponse:
        assert self._transport is not None  # noqa: S101 -- set by _ensure_open
        headers = dict(prepared.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self._transport.send(prepared, headers, timeout=timeout)

    async def _fetch_token(self) -> TokenGrant:
        assert isinstance(self.auth, OAuthCredentials)  # noqa: S101 -- only OAuth fetches
        prepared = build.prepare_token(
            base_url=self.base_url,
            client_id=self.auth.client_id,
            client_secret=self.auth.client_secret,
            entity_ids=self._entity_ids,
        )
        # One attempt: the token fetch runs inside a call's attempt, whose retry loop
        # already retries a failed fetch together with the request that needed it.
        started = self._clock()
        raw = await self._send_once(prepared, None, self.timeout)
        logger.debug(
            "POST %s -> %s in %.3fs",
            prepared.path,
            raw.status,
            self._clock() - started,
            extra={"method": "POST", "path": prepared.path, "status": raw.status},
        )
        if raw.status != 200:
            error = api_error(raw, prepared, max_bytes=self._max_response_bytes)
            if isinstance(error, UnauthorizedError):
                error.args = (
                    f"Zuora rejected the OAuth client credentials for client_id "
                    f"{self.auth.client_id!r} (401 from /oauth/token); check ZUORA_CLIENT_ID "
                    f"and ZUORA_CLIENT_SECRET [Zuora-Request-Id: {raw.request_id or 'none'}]",
                )
            raise error
        return read_token_grant(read_json(raw, max_bytes=self._max_response_bytes))
