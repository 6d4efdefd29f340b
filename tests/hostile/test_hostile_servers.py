"""Hostile servers: whatever they send, the call ends in its typed ``ZuoraError``.

Servers on 127.0.0.1 send exactly the bytes each case scripts:

- ``scripted``: a plain ``aiohttp.web`` app answering the five routes the client uses (run,
  get, stop, tasks, token) with good answers until a case replaces one;
- ``raw_server``: an asyncio socket server for what aiohttp.web cannot send (malformed
  status lines and headers, lying lengths, bodies that stop halfway, silence).

Every client has a short transport timeout, two attempts and a manual clock, so a case
either ends in its error or in a timeout of about a second; nothing here measures time.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BadRequestError,
    BearerToken,
    ConflictError,
    IdempotencyInProgressError,
    NotFoundError,
    OAuthCredentials,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnauthorizedError,
    WorkflowClient,
    ZuoraAPIError,
    ZuoraError,
)
from zuora_wf_async.testing import ManualClock

TOKEN = "hostile-bearer-5e2c8d1f7a3b9e60"
FETCHED_TOKEN = "hostile-fetched-a1b2c3d4e5f60718"
CLIENT_ID = "hostile-client-id"
CLIENT_SECRET = "hostile-secret-0f9e8d7c6b5a4938"
# A token no code path has read yet, so the scrubber cannot know it (the others are
# registered by the first test that reads them): only quoting nothing keeps it out.
UNSEEN_TOKEN = "unseen-token-7d3f0b9c2e1a4c58"
# Short on purpose: every hostile answer must end in a typed error, and a hang must end
# at the transport timeout rather than hold the suite.
TRANSPORT_TIMEOUT = 1.0
# The deadline is on the manual clock, so backoff waits cost nothing; real hangs end at
# the transport timeout.
POLICY = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, deadline=60.0)

RUN: dict[str, Any] = {
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "createdAt": "2019-09-19 18:25:33 UTC",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}
DETAIL: dict[str, Any] = {
    **RUN,
    "status": "Finished",
    "runTime": 1.0,
    "cpuTime": "00:00:01",
    "tasks": {"error": 0, "pending": 0, "processing": 0, "queued": 0, "stopped": 0}
    | {"success": 1, "total": 1},
    "finishedAt": "2019-09-19 18:25:34 UTC",
}
TASKS: dict[str, Any] = {"data": [{"id": 1, "name": "Task 1"}], "pagination": {"page": 1}}
GRANT: dict[str, Any] = {"access_token": FETCHED_TOKEN, "token_type": "bearer", "expires_in": 3599}

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: object) -> Answer:
    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    return answer


class Scripted:
    """The five routes, each answered by ``answers[name]``; every request is recorded."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {
            "run": _json(RUN),
            "get": _json(DETAIL),
            "stop": _json({"success": True}),
            "tasks": _json(TASKS),
            "token": _json(GRANT),
        }
        self.hits: list[tuple[str, str]] = []
        self.base_url = ""
        self.release = asyncio.Event()

    def route(self, name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            self.hits.append((name, request.headers.get("Authorization", "")))
            return await self.answers[name](request)

        return handle


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    app = web.Application()
    app.router.add_post("/workflows/{workflow_id}/run", server.route("run"))
    app.router.add_get("/workflows/workflow_runs/{run_id}", server.route("get"))
    app.router.add_put("/workflows/workflow_runs/{run_id}/stop", server.route("stop"))
    app.router.add_get("/workflows/tasks", server.route("tasks"))
    app.router.add_post("/oauth/token", server.route("token"))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    server.release.set()  # a handler left hanging must end before the runner can stop
    await runner.cleanup()


class RawServer:
    """Answers every request with ``reply`` bytes, then ``after``: close, or stay silent."""

    def __init__(self) -> None:
        self.reply = b""
        self.after = "close"
        self.base_url = ""
        self.requests = 0
        self._silence = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            self.requests += 1
            writer.write(self.reply)
            await writer.drain()
            if self.after == "silence":
                await self._silence.wait()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def release(self) -> None:
        self._silence.set()


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    server = RawServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.base_url = f"http://127.0.0.1:{port}"
    yield server
    server.release()
    listener.close()
    await listener.wait_closed()


def hostile_client(base_url: str, *, oauth: bool = False, **options: Any) -> WorkflowClient:
    """A client with a short timeout, two attempts and a manual clock (backoff costs nothing)."""
    clock = ManualClock()
    options.setdefault("retry", POLICY)
    options.setdefault("timeout", TRANSPORT_TIMEOUT)
    options.setdefault("max_response_bytes", 1 << 20)
    auth = (
        OAuthCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        if oauth
        else BearerToken(TOKEN)
    )
    return WorkflowClient(base_url, auth=auth, clock=clock, sleep=clock.sleep, **options)


def body_of(value: object) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


# --- answers ------------------------------------------------------------------------------


def send(status: int, body: object = b"", **headers: str) -> Answer:
    data = body_of(body)

    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=data, headers=headers)

    return answer


def deep(levels: int = 100_000) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object(levels: int = 100_000) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def gzip_bomb(decoded_size: int) -> bytes:
    squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"0" * (1 << 20)
    parts = [squeezer.compress(chunk) for _ in range(decoded_size >> 20)]
    return b"".join([*parts, squeezer.flush()])


def endless_chunks(_request: web.Request) -> Awaitable[web.StreamResponse]:
    async def answer() -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.enable_chunked_encoding()
        await response.prepare(_request)
        try:
            for _ in range(64):  # 4 MiB, four times the client's cap
                await response.write(b"x" * 65536)
        except ConnectionError:
            pass
        return response

    return answer()


async def echo_authorization(request: web.Request) -> web.StreamResponse:
    """A 500 that repeats the request's Authorization header (a debugging proxy)."""
    return web.Response(status=500, text=f"upstream failed for {request.headers!r}")


async def echo_form(request: web.Request) -> web.StreamResponse:
    """A 401 from /oauth/token that repeats the form it got, client_secret included."""
    form = await request.text()
    return web.Response(status=401, text=f"invalid_client: {form}")


def next_page(url: str) -> Answer:
    return _json({"data": [{"id": 1, "name": "Task 1"}], "pagination": {"next_page": url}})


HTML_PAGE = (
    b"<html><head><title>503 Service Unavailable</title></head><body>"
    + b"<p>The server is temporarily unable to service your request.</p>\n" * 2000
    + b"</body></html>"
)

# (operation, answer, the error it must end in). "token" cases run a call with OAuth
# credentials and script /oauth/token; the rest use a fixed bearer token.
CASES = [
    # POST /workflows/{id}/run
    pytest.param(
        "run", send(200, b"<html>maintenance</html>"), ResponseDecodeError, id="run-html-200"
    ),
    pytest.param("run", send(200, b""), ResponseDecodeError, id="run-empty-200"),
    pytest.param("run", send(200, [RUN]), ResponseDecodeError, id="run-list-200"),
    pytest.param("run", send(200, deep()), ResponseDecodeError, id="run-deep-array-200"),
    pytest.param("run", send(200, deep_object()), ResponseDecodeError, id="run-deep-object-200"),
    pytest.param(
        "run", send(200, body_of(RUN) + b"garbage"), ResponseDecodeError, id="run-trailing-bytes"
    ),
    pytest.param(
        "run", send(200, b'{"id": "\xff\xfe"}'), ResponseDecodeError, id="run-invalid-utf8"
    ),
    pytest.param(
        "run", send(200, b'{"id": NaN, "status": "Queued"}'), ResponseDecodeError, id="run-nan-id"
    ),
    pytest.param(
        "run",
        send(200, b'{"id": 1' + b"0" * 5000 + b"}"),
        ResponseDecodeError,
        id="run-5000-digit-int",
    ),
    pytest.param(
        "run",
        send(200, b'{"id": 1e400, "status": "Queued"}'),
        ResponseDecodeError,
        id="run-infinite-id",
    ),
    pytest.param(
        "run", send(200, {**RUN, "id": "four hundred"}), ResponseDecodeError, id="run-wrong-type"
    ),
    pytest.param(
        "run", send(200, '"Bearer abcdefgh12345678"'), ResponseDecodeError, id="run-json-string"
    ),
    pytest.param(
        "run",
        send(200, gzip_bomb(64 << 20), **{"Content-Encoding": "gzip"}),
        ResponseDecodeError,
        id="run-gzip-bomb",
    ),
    pytest.param(
        "run",
        send(200, gzip.compress(body_of(RUN))[:-12], **{"Content-Encoding": "gzip"}),
        ResponseDecodeError,
        id="run-truncated-gzip",
    ),
    pytest.param(
        "run",
        send(200, body_of(RUN), **{"Content-Encoding": "br"}),
        ResponseDecodeError,
        id="run-unknown-encoding",
    ),
    pytest.param("run", endless_chunks, ResponseDecodeError, id="run-endless-chunked-body"),
    pytest.param(
        "run",
        send(503, HTML_PAGE, **{"Content-Type": "text/html"}),
        ServerError,
        id="run-503-html-page",
    ),
    pytest.param("run", echo_authorization, ServerError, id="run-500-echoes-authorization"),
    pytest.param("run", send(400, deep()), BadRequestError, id="run-400-deep"),
    pytest.param("get", send(409, deep()), ConflictError, id="get-409-deep"),
    pytest.param(
        "run",
        send(302, b"", Location="https://elsewhere.invalid/"),
        ZuoraAPIError,
        id="run-redirect",
    ),
    pytest.param(
        "run",
        send(429, b"slow", **{"Retry-After": "soon", "RateLimit-Reset": "-4"}),
        RateLimitError,
        id="run-429-nonsense-headers",
    ),
    pytest.param(
        "run",
        send(429, b"", **{"Retry-After": "1e12"}),
        RateLimitError,
        id="run-429-retry-after-forever",
    ),
    # An HTTP-date whose year no C long holds: email.utils raises OverflowError on it.
    pytest.param(
        "run",
        send(429, b"", **{"Retry-After": f"Mon, 01 Jan {10**20} 00:00:00 GMT"}),
        RateLimitError,
        id="run-429-retry-after-year-overflow",
    ),
    pytest.param(
        "get",
        send(503, b"", **{"Retry-After": f"Mon, 01 Jan {10**20} 00:00:00 GMT"}),
        ServerError,
        id="get-503-retry-after-year-overflow",
    ),
    pytest.param("run", send(418, b"\x00\xff binary"), ZuoraAPIError, id="run-418-binary"),
    # GET /workflows/workflow_runs/{id}
    pytest.param("get", send(200, deep()), ResponseDecodeError, id="get-deep-200"),
    pytest.param("get", send(200, [DETAIL]), ResponseDecodeError, id="get-list-200"),
    pytest.param(
        "get",
        send(200, {**DETAIL, "createdAt": "yesterday"}),
        ResponseDecodeError,
        id="get-wrong-type",
    ),
    pytest.param("get", send(200, b"<html/>"), ResponseDecodeError, id="get-html-200"),
    pytest.param("get", send(404, deep_object()), NotFoundError, id="get-404-deep"),
    pytest.param("get", send(502, HTML_PAGE), ServerError, id="get-502-html-page"),
    # PUT /workflows/workflow_runs/{id}/stop
    pytest.param(
        "stop", send(200, {"success": "yes"}), ResponseDecodeError, id="stop-success-not-bool"
    ),
    pytest.param("stop", send(200, {}), ResponseDecodeError, id="stop-empty-object"),
    pytest.param("stop", send(200, deep()), ResponseDecodeError, id="stop-deep-200"),
    pytest.param("stop", send(200, b"OK"), ResponseDecodeError, id="stop-text-200"),
    pytest.param("stop", send(404, b"nope"), NotFoundError, id="stop-404"),
    # GET /workflows/tasks
    pytest.param(
        "tasks", send(200, {"data": "tasks"}), ResponseDecodeError, id="tasks-data-not-a-list"
    ),
    pytest.param(
        "tasks", send(200, {"data": [{"id": "x"}]}), ResponseDecodeError, id="tasks-item-wrong-type"
    ),
    pytest.param("tasks", send(200, deep_object()), ResponseDecodeError, id="tasks-deep-200"),
    pytest.param(
        "tasks",
        next_page("https://elsewhere.invalid/workflows/tasks?page=2"),
        ResponseDecodeError,
        id="tasks-next-page-other-host",
    ),
    pytest.param(
        "tasks",
        next_page("/workflows/tasks?workflow_id=400&page=1&page_length=100"),
        ResponseDecodeError,
        id="tasks-next-page-loops",
    ),
    pytest.param("tasks", next_page(12), ResponseDecodeError, id="tasks-next-page-not-text"),
    # POST /oauth/token
    pytest.param("token", send(200, deep()), ResponseDecodeError, id="token-deep-200"),
    pytest.param(
        "token",
        send(200, {**GRANT, "expires_in": -1}),
        ResponseDecodeError,
        id="token-negative-lifetime",
    ),
    pytest.param(
        "token",
        send(200, body_of(GRANT).replace(b"3599", b"NaN")),
        ResponseDecodeError,
        id="token-nan-lifetime",
    ),
    pytest.param(
        "token",
        send(200, {**GRANT, "access_token": "abc\r\nX-Injected: 1"}),
        ResponseDecodeError,
        id="token-crlf-token",
    ),
    pytest.param(
        "token",
        send(200, {**GRANT, "access_token": "abc\x00def"}),
        ResponseDecodeError,
        id="token-nul-token",
    ),
    pytest.param(
        "token",
        send(200, {**GRANT, "access_token": 12345}),
        ResponseDecodeError,
        id="token-number-token",
    ),
    pytest.param(
        "token",
        send(200, f"access_token={FETCHED_TOKEN}&expires_in=3599".encode()),
        ResponseDecodeError,
        id="token-form-encoded-200",
    ),
    pytest.param(
        "token",
        send(200, body_of(GRANT) + b"\n<!-- cache -->"),
        ResponseDecodeError,
        id="token-trailing-bytes-200",
    ),
    pytest.param(
        "token", send(200, b"<html>login</html>"), ResponseDecodeError, id="token-html-200"
    ),
    pytest.param(
        "token",
        send(200, UNSEEN_TOKEN.encode()),
        ResponseDecodeError,
        id="token-bare-text-200",
    ),
    pytest.param("token", echo_form, UnauthorizedError, id="token-401-echoes-form"),
    pytest.param("token", send(500, HTML_PAGE), ServerError, id="token-500"),
    pytest.param(
        "token",
        send(302, b"", Location="https://elsewhere.invalid/oauth/token"),
        ZuoraAPIError,
        id="token-redirect",
    ),
]


async def _all_tasks(zuora: WorkflowClient) -> list[object]:
    return [task async for task in zuora.iter_tasks(workflow_run_id=400)]


OPERATIONS: dict[str, Callable[[WorkflowClient], Awaitable[object]]] = {
    "run": lambda zuora: zuora.run_workflow(396, {"accountId": "A-1"}),
    "get": lambda zuora: zuora.get_run(400),
    "stop": lambda zuora: zuora.stop_run(400),
    "tasks": _all_tasks,
    "token": lambda zuora: zuora.run_workflow(396, {"accountId": "A-1"}),
}


def secrets_in(error: BaseException) -> list[str]:
    """Every known secret found in the error's message, repr, attributes or causes."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.extend([str(current), repr(current)])
        texts.extend(repr(value) for value in vars(current).values())
        current = current.__cause__ or current.__context__
    return [
        text
        for text in texts
        for secret in (TOKEN, FETCHED_TOKEN, CLIENT_SECRET, UNSEEN_TOKEN)
        if secret in text
    ]


@pytest.mark.parametrize(("operation", "answer", "error_type"), CASES)
async def test_a_hostile_answer_ends_in_its_typed_error(scripted, operation, answer, error_type):
    oauth = operation == "token"
    scripted.answers[operation] = answer
    async with hostile_client(scripted.base_url, oauth=oauth) as zuora:
        with pytest.raises(ZuoraError) as caught:
            await OPERATIONS[operation](zuora)
    error = caught.value
    assert type(error) is error_type, f"{type(error).__name__}: {error}"
    assert 1 <= error.attempts <= POLICY.max_attempts or error.attempts == 0
    assert len(str(error)) < 600, "server text is excerpted, not copied whole"
    assert secrets_in(error) == []
    if oauth:
        # Whatever the token endpoint said, nothing was sent to the API with a bad token.
        assert [name for name, _ in scripted.hits if name != "token"] == []


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        pytest.param(b"HTTP/1.1 abc OK\r\n\r\n", TransportError, id="status-not-a-number"),
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", TransportError, id="not-http-at-all"),
        pytest.param(b"", TransportError, id="closed-without-a-byte"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", TransportError, id="header-without-colon"
        ),
        pytest.param(
            b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id":',
            TransportError,
            id="body-shorter-than-length",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
            TransportError,
            id="invalid-chunk-size",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            TransportError,
            id="conflicting-lengths",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", TransportError, id="negative-length"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n{}",
            TransportError,
            id="header-of-200kb",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
            TransportError,
            id="nul-in-header",
        ),
        pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n", TransportError, id="only-100-continue"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n{}",
            ResponseDecodeError,
            id="declared-50mb",
        ),
        pytest.param(
            b"HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\n{}", ZuoraAPIError, id="status-999"
        ),
    ],
)
async def test_malformed_bytes_end_in_a_typed_error(raw_server, reply, error_type):
    raw_server.reply = reply
    async with hostile_client(raw_server.base_url) as zuora:
        with pytest.raises(ZuoraError) as caught:
            await zuora.run_workflow(396)
    assert type(caught.value) is error_type, f"{type(caught.value).__name__}: {caught.value}"
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", id="headers-then-silence"),
        pytest.param(b"HTTP/1.1 200 OK\r\n", id="status-line-then-silence"),
        pytest.param(b"", id="silence"),
    ],
)
@pytest.mark.parametrize("oauth", [pytest.param(False, id="api"), pytest.param(True, id="token")])
async def test_a_silent_server_ends_in_a_timeout(raw_server, reply, oauth):
    """Silence on the API call or on the token request (fetched first, with OAuth)."""
    raw_server.reply = reply
    raw_server.after = "silence"
    async with hostile_client(
        raw_server.base_url, oauth=oauth, timeout=0.3, retry=RetryPolicy(max_attempts=1)
    ) as zuora:
        with pytest.raises(RequestTimeoutError) as caught:
            await zuora.get_run(400)
    assert caught.value.path == ("/oauth/token" if oauth else "/workflows/workflow_runs/400")
    assert raw_server.requests == 1


async def test_a_409_in_progress_forever_ends_in_the_409(scripted):
    """A deep 409 body is still "same key in progress": resent, then raised as itself.

    Without a deadline so that only max_attempts ends it: under a deadline the outcome
    would hang on how much time the last resend happened to get.
    """
    scripted.answers["run"] = send(409, deep())
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01, deadline=None)
    async with hostile_client(scripted.base_url, retry=policy) as zuora:
        with pytest.raises(ZuoraError) as caught:
            await zuora.run_workflow(396)
    assert type(caught.value) is IdempotencyInProgressError, repr(caught.value)
    assert caught.value.attempts == 3
    assert [name for name, _ in scripted.hits] == ["run"] * 3


async def test_a_huge_token_lifetime_is_clamped_and_the_call_goes_on(scripted):
    """expires_in 10**400 raised OverflowError; now it is a day, and the run starts."""
    scripted.answers["token"] = send(200, body_of(GRANT).replace(b"3599", b"1" + b"0" * 400))
    async with hostile_client(scripted.base_url, oauth=True) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == RUN["id"]
    assert scripted.hits[-1] == ("run", f"Bearer {FETCHED_TOKEN}")


async def test_a_token_the_server_changes_its_mind_about_is_never_sent(scripted):
    """A CR/LF token is refused at reading, so no request ever carries a split header."""
    scripted.answers["token"] = send(200, {**GRANT, "access_token": "abc\r\nX-Evil: 1"})
    async with hostile_client(scripted.base_url, oauth=True) as zuora:
        for _ in range(2):
            with pytest.raises(ResponseDecodeError):
                await zuora.get_run(400)
    assert {name for name, _ in scripted.hits} == {"token"}


# --- a batch over good and hostile answers -----------------------------------------------

BATCH_ANSWERS: dict[str, tuple[Answer, type[ZuoraError] | None]] = {
    "good": (_json(RUN), None),
    "deep": (send(200, deep()), ResponseDecodeError),
    "deep-400": (send(400, deep_object()), BadRequestError),
    "html-503": (send(503, HTML_PAGE), ServerError),
    "truncated-gzip": (
        send(200, gzip.compress(body_of(RUN))[:-12], **{"Content-Encoding": "gzip"}),
        ResponseDecodeError,
    ),
    "wrong-type": (send(200, {**RUN, "id": []}), ResponseDecodeError),
    "echo": (echo_authorization, ServerError),
}


async def test_run_many_returns_one_outcome_per_item_over_hostile_answers(scripted):
    """A body nested 100,000 deep once aborted a batch and lost the outcomes already run."""
    kinds = [kind for _ in range(3) for kind in BATCH_ANSWERS]

    async def by_kind(request: web.Request) -> web.StreamResponse:
        kind = (await request.json())["kind"]
        return await BATCH_ANSWERS[kind][0](request)

    scripted.answers["run"] = by_kind
    items = [{"kind": kind, "n": index} for index, kind in enumerate(kinds)]
    async with hostile_client(scripted.base_url, max_concurrency=4) as zuora:
        # preflight=False: the workflow check is not what this server is about.
        outcomes = await zuora.run_many(
            396, items, retry=RetryPolicy(max_attempts=1), preflight=False
        )
    assert [outcome.index for outcome in outcomes] == list(range(len(items)))
    for outcome, kind in zip(outcomes, kinds, strict=True):
        expected = BATCH_ANSWERS[kind][1]
        if expected is None:
            assert outcome.ok, outcome.error
        else:
            assert type(outcome.error) is expected, (kind, outcome.error)
            assert secrets_in(outcome.error) == []
    assert sum(outcome.ok for outcome in outcomes) == 3


@pytest.mark.parametrize(
    "remaining",
    [
        pytest.param("9" * 5000, id="5000-digits"),
        pytest.param("²", id="superscript-two"),
        pytest.param("١٢٣", id="arabic-indic-digits"),
        pytest.param("1e400", id="beyond-float"),
        pytest.param("-1", id="negative"),
    ],
)
async def test_nonsense_rate_headers_on_a_success_read_as_absent(raw_server, remaining):
    """On every 2xx the remaining quota is read; "²" and 5,000 digits once made int() raise."""
    body = json.dumps(RUN).encode()
    raw_server.reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + b"RateLimit-Remaining: "
        + remaining.encode()
        + b"\r\nRateLimit-Limit: "
        + remaining.encode()
        + b"\r\nConcurrency-Limit-Remaining: "
        + remaining.encode()
        + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    async with hostile_client(raw_server.base_url) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == RUN["id"]


class SteeringInt(int):
    """An id whose text forms lie: only its value may reach a path."""

    def __format__(self, spec: str) -> str:
        return "../../oauth/token"

    def __str__(self) -> str:
        return "../../oauth/token"

    def __repr__(self) -> str:
        return "../../oauth/token"


async def test_an_int_subclass_cannot_steer_a_request_to_another_path(scripted):
    """One such id once sent a POST carrying the token to /oauth/token."""
    queries: list[str] = []

    async def tasks(request: web.Request) -> web.StreamResponse:
        queries.append(request.query.get("workflow_id", ""))
        return web.json_response(TASKS)

    scripted.answers["tasks"] = tasks
    async with hostile_client(scripted.base_url) as zuora:
        await zuora.run_workflow(SteeringInt(396))
        await zuora.get_run(SteeringInt(400))
        await zuora.stop_run(SteeringInt(400))
        await _all_tasks_of(zuora, SteeringInt(400))
    assert [name for name, _ in scripted.hits] == ["run", "get", "stop", "tasks"]
    assert queries == ["400"]


async def _all_tasks_of(zuora: WorkflowClient, run_id: int) -> list[object]:
    return [task async for task in zuora.iter_tasks(workflow_run_id=run_id)]
