"""The one seam between this package and aiohttp's client.

Everything aiohttp can raise is translated here, once, into ``TransportError`` or
``RequestTimeoutError``; nothing above this module imports aiohttp's client.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping, Sequence

import aiohttp

from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.redact import sanitized_cause
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._errors import RequestTimeoutError, ResponseDecodeError, TransportError


class Transport:
    """One ``aiohttp.ClientSession``, opened inside the running loop and closed once."""

    def __init__(
        self,
        *,
        max_connections: int,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._max_connections = max_connections
        # A request's whole exchange (connect, send, headers, body) is bounded by aiohttp's
        # own total timeout: it arms one timer per request whatever we do, so one more of
        # our own (asyncio.timeout) would only cost. Not rounded up to a whole second
        # (aiohttp's ceil_threshold), so that a call's deadline is kept to the millisecond.
        self._timeout = timeout
        self._client_timeout = _client_timeout(timeout)
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._trace_configs = list(trace_configs)
        self._max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        """Create the session; must run inside the event loop that will use it."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ssl=self._ssl, enable_cleanup_closed=False
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # We decode gzip ourselves so a gzip bomb is capped (see _core.compression).
                auto_decompress=False,
                trace_configs=self._trace_configs or None,
                timeout=self._client_timeout,
                raise_for_status=False,
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def send(
        self, request: PreparedRequest, headers: Mapping[str, str], *, timeout: float
    ) -> RawResponse:
        """Send ``request`` once and read the whole (still encoded) body within
        ``timeout`` seconds (the client's timeout, or less when a deadline is near)."""
        if self._session is None:
            raise TransportError("the HTTP session is not open", method=request.method)
        failure: BaseException
        try:
            # One coroutine for the whole exchange: it runs once per request. Redirects
            # are never followed: a redirect to another origin would carry the
            # Authorization header there, and Zuora's API does not redirect.
            async with self._session.request(
                request.method,
                request.url,
                headers=headers,
                data=request.body,
                allow_redirects=False,
                timeout=(
                    self._client_timeout
                    if timeout >= self._timeout
                    # aiohttp reads a total of 0 as "no timeout": a deadline that has
                    # just passed gets the shortest timeout instead.
                    else _client_timeout(max(timeout, 0.001))
                ),
            ) as response:
                declared = response.content_length
                if declared is not None and declared > self._max_response_bytes:
                    raise ResponseDecodeError(
                        f"response body of {declared} bytes exceeds {self._max_response_bytes}",
                        status=response.status,
                    )
                if declared is not None:
                    # The common case: a small body of known length, read in one call.
                    body = await response.read()
                else:
                    body = await self._read_capped(response)
                return RawResponse(status=response.status, headers=response.headers, body=body)
        except TimeoutError:
            raise RequestTimeoutError(
                f"{request.method} {request.path} got no complete answer within {timeout} s",
                method=request.method,
                path=request.path,
                idempotency_key=request.idempotency_key,
                track_id=request.track_id,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            failure = exc
        # Raised outside the except block and chained to a sanitized stand-in: aiohttp's
        # exception keeps request_info with the request headers, Authorization included,
        # and must be reachable neither as __cause__ nor as __context__.
        cause = sanitized_cause(failure)
        del failure
        raise TransportError(
            f"{request.method} {request.path} failed before Zuora answered: {cause}",
            method=request.method,
            path=request.path,
            idempotency_key=request.idempotency_key,
            track_id=request.track_id,
        ) from cause

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """A body of unknown length (chunked), refused as soon as it passes the cap."""
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.content.iter_any():
            received += len(chunk)
            if received > self._max_response_bytes:
                raise ResponseDecodeError(
                    f"response body exceeds {self._max_response_bytes} bytes",
                    status=response.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # ceil_threshold=inf: aiohttp rounds timeouts of 5 s and more up to a whole second of
    # the loop's clock (cheaper timers); a deadline must not end up to a second late.
    total = None if math.isinf(seconds) else seconds
    return aiohttp.ClientTimeout(total=total, ceil_threshold=math.inf)
