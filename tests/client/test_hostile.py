"""Broken and hostile servers: every answer becomes a typed error, never a crash or a hang.

A scripted aiohttp server on 127.0.0.1 plays the misbehaving Zuora; each test says what
it answers to ``POST /workflows/396/run``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    WorkflowClient,
    ZuoraAPIError,
    ZuoraError,
)
from zuora_wf_async.testing import ManualClock

Handler = Callable[[web.Request], "web.StreamResponse | asyncio.Future[web.StreamResponse]"]

TOKEN = "tok-9f8e7d6c5b4a"
RUN = {
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "createdAt": "2019-09-19 18:25:33 UTC",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}


class ScriptedServer:
    def __init__(self) -> None:
        self.answer: Callable[[web.Request], web.StreamResponse] = lambda _: web.json_response(RUN)
        self.hits: list[str] = []
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        await request.read()
        result = self.answer(request)
        if asyncio.iscoroutine(result):
            return await result
        return result


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    scripted.base_url = f"http://127.0.0.1:{port}"
    yield scripted
    await runner.cleanup()


def client(server: ScriptedServer, **options) -> WorkflowClient:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return WorkflowClient(server.base_url, auth=BearerToken(TOKEN), **options)


def raw(status: int, body: bytes, **headers: str) -> Callable[[web.Request], web.Response]:
    return lambda _: web.Response(status=status, body=body, headers=headers)


def gzip_bomb(decoded_size: int) -> bytes:
    squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"0" * (1 << 20)
    parts = [squeezer.compress(chunk) for _ in range(decoded_size >> 20)]
    return b"".join([*parts, squeezer.flush()])


@pytest.mark.parametrize(
    ("answer", "error_type", "says"),
    [
        pytest.param(
            raw(200, b"<html>maintenance</html>", **{"Content-Type": "text/html"}),
            ResponseDecodeError,
            "expected a JSON body",
            id="html-on-200",
        ),
        pytest.param(raw(200, b""), ResponseDecodeError, "expected a JSON body", id="empty-200"),
        pytest.param(raw(200, b"[1, 2]"), ResponseDecodeError, "JSON object", id="list-on-200"),
        pytest.param(
            raw(200, json.dumps({**RUN, "id": "four hundred"}).encode()),
            ResponseDecodeError,
            "WorkflowRun.id",
            id="wrong-type-field",
        ),
        pytest.param(
            raw(200, json.dumps({"id": 1}).encode()),
            ResponseDecodeError,
            "required field missing",
            id="missing-fields",
        ),
        pytest.param(
            raw(200, gzip.compress(json.dumps(RUN).encode())[:-12], **{"Content-Encoding": "gzip"}),
            ResponseDecodeError,
            "truncated",
            id="truncated-gzip",
        ),
        pytest.param(
            raw(200, b"\x1f\x8b\x08garbage", **{"Content-Encoding": "gzip"}),
            ResponseDecodeError,
            "corrupt",
            id="corrupt-gzip",
        ),
        pytest.param(
            raw(200, gzip_bomb(64 << 20), **{"Content-Encoding": "gzip"}),
            ResponseDecodeError,
            "exceeds",
            id="gzip-bomb",
        ),
        pytest.param(
            raw(500, b"<html><body>Internal error</body></html>"),
            ServerError,
            "Internal error",
            id="html-on-500",
        ),
        pytest.param(raw(418, b"\x00\xff binary"), ZuoraAPIError, "418", id="binary-on-418"),
        pytest.param(
            raw(302, b"", Location="https://elsewhere.invalid/"),
            ZuoraAPIError,
            "302",
            id="redirect-not-followed",
        ),
        pytest.param(
            raw(429, b"slow down", **{"Retry-After": "soon", "RateLimit-Reset": "-4"}),
            RateLimitError,
            "429",
            id="nonsense-rate-headers",
        ),
    ],
)
async def test_broken_answers_become_typed_errors(server, answer, error_type, says):
    server.answer = answer
    async with client(server, max_response_bytes=1 << 20) as zuora:
        with pytest.raises(error_type) as caught:
            await zuora.run_workflow(396)
    assert says in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)


async def test_nonsense_rate_headers_read_as_absent(server):
    server.answer = raw(429, b"", **{"Retry-After": "soon", "RateLimit-Remaining": "many"})
    async with client(server) as zuora:
        with pytest.raises(RateLimitError) as caught:
            await zuora.run_workflow(396)
    assert caught.value.retry_after is None
    assert caught.value.rate_limit is None


async def test_a_huge_body_is_refused_without_reading_it_all(server):
    server.answer = raw(200, b"[" + b"1," * (3 << 20) + b"1]")
    async with client(server, max_response_bytes=1 << 20) as zuora:
        with pytest.raises(ResponseDecodeError, match="exceeds"):
            await zuora.run_workflow(396)


async def test_a_server_that_never_answers_times_out(server):
    never = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response(RUN)

    server.answer = hang
    async with client(server, timeout=0.2) as zuora:
        with pytest.raises(RequestTimeoutError) as caught:
            await zuora.run_workflow(396)
    assert caught.value.idempotency_key
    never.set()


async def test_a_redirect_is_not_followed_and_sends_nothing_elsewhere(server):
    async with server_pair() as (other_hits, other_url):
        server.answer = raw(307, b"", Location=f"{other_url}/workflows/396/run")
        async with client(server) as zuora:
            with pytest.raises(ZuoraAPIError) as caught:
                await zuora.run_workflow(396)
    assert caught.value.status == 307
    assert other_hits == []


def server_pair():
    class Pair:
        async def __aenter__(self):
            self.hits: list[str] = []

            async def record(request: web.Request) -> web.Response:
                self.hits.append(request.headers.get("Authorization", ""))
                return web.json_response(RUN)

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", record)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", 0).start()
            return self.hits, f"http://127.0.0.1:{self.runner.addresses[0][1]}"

        async def __aexit__(self, *exc):
            await self.runner.cleanup()

    return Pair()


async def test_retries_of_hostile_5xx_still_end_in_a_typed_error(server):
    server.answer = raw(
        503, b"<html>down</html>", **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    clock = ManualClock()
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken(TOKEN),
        retry=RetryPolicy(max_attempts=3),
        clock=clock,
        sleep=clock.sleep,
    ) as zuora:
        with pytest.raises(ZuoraError) as caught:
            await zuora.run_workflow(396)
    assert isinstance(caught.value, ServerError)
    assert caught.value.attempts == 3
    assert len(server.hits) == 3
    assert len(clock.sleeps) == 2  # an HTTP-date in the past means "now": backoff decides
