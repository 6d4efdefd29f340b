"""A known client secret and the tokens it earns never show up anywhere a person can read.

Every error path of the library and the command line is driven with a real secret (the
fake's own, so requests succeed and fail for real) while log records, exception messages,
reprs and CLI output are collected; then each collected text is searched for the secret
and for every token the fake ever issued.

Then servers that echo what they were sent (a debugging proxy repeating the form with the
client secret, the Authorization header, a token in a field) and ones that garble their
answers run each failure with DEBUG on every logger and every hook set, through the
library and through ``zuora-wf run``, ``get`` and ``batch``; every message, ``repr``,
attribute, ``__cause__``/``__context__`` chain, formatted traceback, log record, journal
file and captured output is searched for the unique markers: zero hits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    OAuthCredentials,
    RetryPolicy,
    TransportError,
    WorkflowClient,
    ZuoraError,
)
from zuora_wf_async._core.redact import excerpt, register, sanitized_cause, scrub, scrub_json
from zuora_wf_async.cli import run_command
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

SECRET = "Kn0wn-Secret-4f3c2b1a0e9d8c7b6a5f4e3d2"
CLIENT_ID = "c0ffee00-1111-2222-3333-444455556666"


def texts_of(error: BaseException) -> list[str]:
    found = [str(error), repr(error), *(str(arg) for arg in error.args)]
    found.extend(repr(value) for value in vars(error).values())
    return found


def tokens_issued(fake: FakeZuora) -> set[str]:
    return {
        header.split()[-1]
        for request in fake.requests
        if (header := request.header("Authorization"))
    } | {
        str(request.body.get("access_token"))
        for request in fake.requests
        if isinstance(request.body, dict) and "access_token" in request.body
    }


async def library_error_paths(fake: FakeZuora, clock: ManualClock) -> list[str]:
    """Run every kind of failure through a client holding the secret; collect the texts."""
    collected: list[str] = []
    auth = OAuthCredentials(client_id=CLIENT_ID, client_secret=SECRET)
    fake.configure_workflow(400, callout_enabled=False)
    fake.configure_workflow(403, force_status=403)
    fake.configure_workflow(404, force_status=404)
    fake.configure_workflow(406, required_params=("accountId",))
    fake.configure_workflow(500, force_status=500)
    attempts: list[Any] = [
        (396, {"id": "reserved"}, {}),  # local validation
        (396, {}, {"idempotency_key": ""}),
        (400, {}, {}),
        (403, {}, {}),
        (404, {}, {}),
        (406, {"card": "4111"}, {}),
        (500, {}, {}),
        (396, {"n": 1}, {"idempotency_key": "same"}),
        (396, {"n": 2}, {"idempotency_key": "same"}),  # 422
    ]
    events: list[Any] = []
    async with WorkflowClient(
        fake.base_url,
        auth=auth,
        retry=RetryPolicy(max_attempts=2),
        clock=clock,
        sleep=clock.sleep,
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
    ) as zuora:
        collected.append(repr(zuora))
        collected.append(repr(zuora.stats))
        for workflow_id, params, options in attempts:
            try:
                await zuora.run_workflow(workflow_id, params, **options)
            except ZuoraError as error:
                collected.extend(texts_of(error))
        run = await zuora.run_workflow(396, {"ok": True})
        with pytest.raises(ZuoraError) as caught:
            await zuora.run_workflow(run.id)  # 409: a run id as workflow id
        collected.extend(texts_of(caught.value))
        fake.expire_tokens()
        await zuora.run_workflow(396, {"after": "expiry"})
        with pytest.raises(ZuoraError) as caught:
            await zuora.get_run(999_999)
        collected.extend(texts_of(caught.value))
    collected.extend(repr(event) for event in events)
    collected.append(repr(auth))
    # Wrong secrets and bad tokens fail in their own ways.
    for bad_auth in (
        OAuthCredentials(client_id=CLIENT_ID, client_secret=SECRET + "-wrong"),
        BearerToken(SECRET),
    ):
        async with WorkflowClient(fake.base_url, auth=bad_auth) as zuora:
            with pytest.raises(ZuoraError) as caught:
                await zuora.run_workflow(396)
            collected.extend(texts_of(caught.value))
            collected.append(repr(zuora))
    return collected


async def test_no_secret_or_token_in_errors_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    plan = FaultPlan(rules=[Fault.drop_after_record(on=[12]), Fault.rate_limit_burst(1, on=[14])])
    async with FakeZuora(client_id=CLIENT_ID, client_secret=SECRET, faults=plan) as fake:
        collected = await library_error_paths(fake, clock)
        tokens = tokens_issued(fake)

    collected.append(caplog.text)
    collected.extend(str(vars(record)) for record in caplog.records)
    assert len(tokens) >= 2  # the client really did authenticate, twice (after expiry)
    for text in collected:
        assert SECRET not in text
        for token in tokens:
            assert token not in text


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["run", "396", "--param", "accountId=A-1"], id="run-ok"),
        pytest.param(["run", "396", "--param", "id=reserved"], id="run-invalid"),
        pytest.param(["run", "403"], id="run-forbidden"),
        pytest.param(["get", "999999"], id="get-not-found"),
        pytest.param(["stop", "999999"], id="stop-not-found"),
        pytest.param(["tasks", "999999"], id="tasks-unknown"),
        pytest.param(["wait", "999999", "--timeout", "1"], id="wait-not-found"),
        pytest.param(["run", "396", "--bogus-flag"], id="usage-error"),
    ],
)
async def test_no_secret_or_token_in_cli_output(argv, capsys):
    async with FakeZuora(client_id=CLIENT_ID, client_secret=SECRET) as fake:
        fake.configure_workflow(403, force_status=403)
        environ = {
            "ZUORA_BASE_URL": fake.base_url,
            "ZUORA_CLIENT_ID": CLIENT_ID,
            "ZUORA_CLIENT_SECRET": SECRET,
        }
        try:
            code = await asyncio.wait_for(run_command(argv, environ=environ), timeout=30)
        except SystemExit as exit_:  # argparse usage errors
            code = exit_.code
        tokens = tokens_issued(fake)

    output = capsys.readouterr()
    assert code is not None
    for text in (output.out, output.err):
        assert SECRET not in text
        for token in tokens:
            assert token not in text


# --- the scrubber and the credentials, on their own --------------------------------------


def test_scrub_replaces_registered_values_and_token_shapes():
    register("registered-value-3e1f0a9b")
    text = (
        "echo registered-value-3e1f0a9b; Authorization: Bearer abcdefgh12345678; "
        '{"access_token": "zyxwvuts98765432"}; client_secret=q1w2e3r4t5y6&x=1'
    )
    scrubbed = scrub(text)
    for leaked in ("registered-value", "abcdefgh1234", "zyxwvuts", "q1w2e3r4"):
        assert leaked not in scrubbed
    assert scrubbed.count("***") == 4


def test_scrub_leaves_ordinary_words_alone():
    register("t")  # too short to be a secret: registering it must not blank every "t"
    text = "the bearer token expired; retry with a new token (timeout 60 s)"
    assert scrub(text) == text


def test_excerpt_is_short_single_line_and_scrubbed_before_cutting():
    register("cut-in-half-secret-5d8c2b7a")
    text = "x" * 190 + "cut-in-half-secret-5d8c2b7a" + "\n\n  tail"
    short = excerpt(text)
    assert len(short) <= 200
    assert "cut-in" not in short
    assert "\n" not in short


def test_scrub_json_hides_secret_values_and_names_without_recursion():
    register("json-secret-4c7e1b9d2a")
    deep: list[object] = ["json-secret-4c7e1b9d2a"]
    for _ in range(5_000):
        deep = [deep]
    value = {"access_token": "anything", "k": ["json-secret-4c7e1b9d2a"], "deep": deep}
    scrubbed = scrub_json(value)
    assert scrubbed["access_token"] == "***"
    assert scrubbed["k"] == ["***"]
    innermost = scrubbed["deep"]
    for _ in range(5_000):
        innermost = innermost[0]
    assert innermost == ["***"]


def test_a_sanitized_cause_keeps_only_the_type_and_scrubbed_text():
    class LeakyError(Exception):
        def __init__(self) -> None:
            super().__init__("failed with Authorization: Bearer leaky-token-0a1b2c3d")
            self.request_info = {"Authorization": "Bearer leaky-token-0a1b2c3d"}

    cause = sanitized_cause(LeakyError())
    assert "leaky-token" not in repr(cause)
    assert vars(cause) == {"type_name": "LeakyError"}
    assert cause.__cause__ is None
    assert cause.__context__ is None


@pytest.mark.parametrize(
    ("make", "field"),
    [
        pytest.param(BearerToken, "token", id="bearer"),
        pytest.param(
            lambda value: OAuthCredentials(client_id="client-1", client_secret=value),
            "client_secret",
            id="client-secret",
        ),
        pytest.param(
            lambda value: OAuthCredentials(client_id=value, client_secret="s" * 20),
            "client_id",
            id="client-id",
        ),
    ],
)
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("MARKERabc\r\nX-Injected: 1", id="crlf"),
        pytest.param("MARKERabc\n", id="trailing-lf"),
        pytest.param("MARKERabc\x00def", id="nul"),
        pytest.param("MARKERabc\x1bdef", id="escape"),
        pytest.param("MARKERabc\u2028def", id="line-separator"),
        pytest.param("MARKERabc\ud800def", id="lone-surrogate"),
        pytest.param(" MARKERabc", id="leading-space"),
    ],
)
def test_a_bad_credential_fails_at_construction_naming_the_field_never_the_value(make, field, bad):
    with pytest.raises(InvalidRequestError) as info:
        make(bad)
    assert info.value.field == field
    assert "MARKER" not in str(info.value)
    assert "MARKER" not in repr(info.value)


def test_a_bearer_token_with_inner_spaces_cannot_go_in_a_header():
    with pytest.raises(InvalidRequestError) as info:
        BearerToken("MARKER abc")
    assert "MARKER" not in str(info.value)


class _LyingStr(str):
    def isprintable(self) -> bool:
        return True

    def __format__(self, spec: str) -> str:
        return "looks-fine-1234"


def test_a_str_subclass_credential_is_checked_and_kept_as_its_characters():
    """Checks call methods and sending formats the value; a subclass could fake both."""
    with pytest.raises(InvalidRequestError):
        BearerToken(_LyingStr("MARKERabc\r\nX-Injected: 1"))
    token = BearerToken(_LyingStr("plain-token-12345678"))
    assert type(token.token) is str
    assert f"Bearer {token.token}" == "Bearer plain-token-12345678"


def test_constructed_credentials_are_registered_with_the_scrubber():
    OAuthCredentials(client_id="client-1", client_secret="constructed-secret-6f2a9c")
    BearerToken("constructed-token-8b3d1e")
    assert scrub("constructed-secret-6f2a9c constructed-token-8b3d1e") == "*** ***"


# --- hostile servers that echo what they were sent ---------------------------------------

MARK_SECRET = "MARKsecret-7a1f3c9e5b2d4f60"
MARK_TOKEN = "MARKtoken-2c4e6a8b0d1f3e5a"
MARK_BEARER = "MARKbearer-9e8d7c6b5a4f3e2d"
MARKERS = (MARK_SECRET, MARK_TOKEN, MARK_BEARER)
# Tokens the server sends in bodies the client cannot read as a grant. Each answer makes
# a new one, so none was registered by an earlier case: only "quote nothing" keeps it out.
MARK_UNREAD = "MARKunread"


def unread_token() -> str:
    return f"{MARK_UNREAD}-{uuid.uuid4().hex}"


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _echo_text(request: web.Request) -> str:
    """Everything the request carried, the way a debugging proxy repeats it."""
    body = await request.text()
    return f"{request.method} {request.path_qs} headers={dict(request.headers)!r} body={body}"


def echo(status: int, *, as_json: bool = False, in_header: bool = False) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        text = await _echo_text(request)
        headers = {"X-Echo": request.headers.get("Authorization", "none")} if in_header else {}
        if as_json:
            body = {"message": text, "echo": dict(request.headers), "form": await request.text()}
            return web.json_response(body, status=status, headers=headers)
        return web.Response(status=status, text=text, headers=headers)

    return answer


def reply(status: int, body: bytes | Callable[[], bytes]) -> Answer:
    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body() if callable(body) else body)

    return answer


GOOD_GRANT = json.dumps({"access_token": MARK_TOKEN, "expires_in": 3599}).encode()
RUN_BODY = {
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "createdAt": "2019-09-19 18:25:33 UTC",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}


WORKFLOW_BODY = {"id": 396, "name": "Echo", "status": "Active"}


class EchoZuora:
    """The client's five routes on 127.0.0.1; a good token, and whatever a case scripts."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {
            "token": reply(200, GOOD_GRANT),
            # run_many's pre-flight reads the workflow: an active one, so the runs are sent.
            "workflow": reply(200, json.dumps(WORKFLOW_BODY).encode()),
        }
        self.hits: list[str] = []
        self.base_url = ""

    def route(self, name: str) -> Answer:
        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            self.hits.append(name)
            answer = self.answers.get(name) or echo(400)
            return await answer(request)

        return handle


@pytest.fixture
async def echo_zuora() -> AsyncIterator[EchoZuora]:
    server = EchoZuora()
    app = web.Application()
    app.router.add_post("/workflows/{workflow_id}/run", server.route("run"))
    app.router.add_get("/workflows/workflow_runs/{run_id}", server.route("get"))
    app.router.add_put("/workflows/workflow_runs/{run_id}/stop", server.route("stop"))
    app.router.add_get("/workflows/tasks", server.route("tasks"))
    app.router.add_post("/oauth/token", server.route("token"))
    app.router.add_get("/workflows/{workflow_id}", server.route("workflow"))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


@pytest.fixture(params=["short-body", "bad-status-line", "silence"])
async def broken_http(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A server whose answer is not HTTP, or never comes: aiohttp raises with
    request_info (the request's headers) kept, or the attempt times out mid-read."""
    replies = {
        "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
        "bad-status-line": b"HTTP/1.1 OK\r\n\r\n",
        "silence": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    }
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(replies[request.param])
            await writer.drain()
            if request.param == "silence":
                await release.wait()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    release.set()
    listener.close()
    await listener.wait_closed()


def every_text_of(error: BaseException) -> list[str]:
    """Message, repr, attributes and the formatted traceback of an error and its causes."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.extend([str(current), repr(current), *(str(arg) for arg in current.args)])
        texts.extend(repr(value) for value in vars(current).values())
        current = current.__cause__ or current.__context__
    return texts


def every_text_of_records(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(vars(record)))
        if record.exc_info and record.exc_info[1] is not None:
            texts.extend(every_text_of(record.exc_info[1]))
    return texts


@pytest.fixture
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG on the root logger and on every logger that exists (aiohttp's, asyncio's, ours)."""
    caplog.set_level(logging.DEBUG)
    levels = {}
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.DEBUG)
    yield caplog
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def leaks(texts: list[str]) -> list[str]:
    return [
        f"{marker} in {text[:300]!r}"
        for text in texts
        for marker in (*MARKERS, MARK_UNREAD)
        if marker in text
    ]


ECHO_CASES = [
    pytest.param("run", "run", echo(400), id="run-400-echoes-request"),
    pytest.param("run", "run", echo(400, as_json=True), id="run-400-json-echo"),
    pytest.param("run", "run", echo(500, in_header=True), id="run-500-echo-in-header"),
    pytest.param("run", "run", echo(503, as_json=True), id="run-503-json-echo"),
    pytest.param(
        "run",
        "run",
        reply(200, json.dumps({**RUN_BODY, "id": f"Bearer {MARK_TOKEN}"}).encode()),
        id="run-200-token-in-a-field",
    ),
    pytest.param("get", "get", echo(404), id="get-404-echo"),
    pytest.param("get", "get", echo(200), id="get-200-not-json-echo"),
    pytest.param("stop", "stop", echo(400, as_json=True), id="stop-400-json-echo"),
    pytest.param("tasks", "tasks", echo(422), id="tasks-422-echo"),
    pytest.param("run", "token", echo(401), id="token-401-echoes-form"),
    pytest.param("run", "token", echo(400, as_json=True), id="token-400-json-echo"),
    pytest.param("run", "token", echo(500, in_header=True), id="token-500-echo"),
    pytest.param(
        "run",
        "token",
        reply(200, lambda: f"access_token={unread_token()}&expires_in=3599".encode()),  # noqa: PLW0108 -- a new token per answer
        id="token-200-form-encoded",
    ),
    pytest.param(
        "run",
        "token",
        reply(200, lambda: json.dumps({"access_token": unread_token()}).encode() + b" trailing"),
        id="token-200-trailing-bytes",
    ),
    pytest.param(
        "run",
        "token",
        reply(200, lambda: unread_token().encode()),
        id="token-200-bare-token",
    ),
    pytest.param(
        "run",
        "token",
        reply(200, lambda: json.dumps({"access_token": unread_token() + "\r\nX: 1"}).encode()),
        id="token-200-crlf-token",
    ),
    pytest.param(
        "run",
        "token",
        reply(200, lambda: json.dumps({"access_token": unread_token(), "expires_in": -1}).encode()),
        id="token-200-bad-lifetime",
    ),
]


async def _all_tasks(zuora: WorkflowClient) -> list[object]:
    return [task async for task in zuora.iter_tasks(workflow_run_id=400)]


CALLS: dict[str, Callable[[WorkflowClient], Awaitable[object]]] = {
    "run": lambda zuora: zuora.run_workflow(396, {"accountId": "A-1"}),
    "get": lambda zuora: zuora.get_run(400),
    "stop": lambda zuora: zuora.stop_run(400),
    "tasks": _all_tasks,
}


@pytest.mark.parametrize(("call", "route", "answer"), ECHO_CASES)
async def test_no_marker_anywhere_when_a_server_echoes_or_garbles(
    echo_zuora, debug_everywhere, call, route, answer
):
    echo_zuora.answers[route] = answer
    events: list[object] = []
    clock = ManualClock()
    async with WorkflowClient(
        echo_zuora.base_url,
        auth=OAuthCredentials(client_id=CLIENT_ID, client_secret=MARK_SECRET),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, deadline=30),
        clock=clock,
        sleep=clock.sleep,
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
    ) as zuora:
        with pytest.raises(ZuoraError) as caught:
            await CALLS[call](zuora)
        texts = [*every_text_of(caught.value), repr(zuora), repr(zuora.stats)]
    texts.extend(repr(event) for event in events)
    texts.extend(every_text_of_records(debug_everywhere.records))
    texts.append(debug_everywhere.text)
    if route != "token":
        assert events, "the hooks saw the call"
    assert route in echo_zuora.hits, "the scripted answer was really given"
    assert leaks(texts) == []


async def test_no_bearer_token_in_a_transport_error_or_its_causes(broken_http, debug_everywhere):
    """aiohttp's exception holds request_info with the Authorization header; it must not be
    the cause, nor the context, of the TransportError."""
    events: list[object] = []
    async with WorkflowClient(
        broken_http,
        auth=BearerToken(MARK_BEARER),
        retry=RetryPolicy(max_attempts=1),
        timeout=0.3,
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
    ) as zuora:
        with pytest.raises(TransportError) as caught:
            await zuora.get_run(400)
    texts = every_text_of(caught.value)
    texts.extend(repr(event) for event in events)
    texts.extend(every_text_of_records(debug_everywhere.records))
    assert leaks(texts) == []


# --- the command line over echoing servers: output, logs and journal --------------------


@pytest.fixture
def cli_environ(echo_zuora) -> dict[str, str]:
    return {
        "ZUORA_BASE_URL": echo_zuora.base_url,
        "ZUORA_CLIENT_ID": CLIENT_ID,
        "ZUORA_CLIENT_SECRET": MARK_SECRET,
        "ZUORA_MAX_ATTEMPTS": "1",
        "ZUORA_TIMEOUT": "5",
    }


CLI_CASES = [
    pytest.param(["run", "396", "--param", "accountId=A-1"], "run", echo(400), id="run-400-echo"),
    pytest.param(["run", "396"], "token", echo(401), id="run-token-401-echo"),
    pytest.param(
        ["run", "396"],
        "token",
        reply(200, lambda: f"access_token={unread_token()}&x=1".encode()),  # noqa: PLW0108 -- a new token per answer
        id="run-token-form-200",
    ),
    pytest.param(
        ["run", "396"],
        "token",
        reply(200, lambda: unread_token().encode()),
        id="run-token-bare-200",
    ),
    pytest.param(["get", "400"], "get", echo(404, as_json=True), id="get-404-echo"),
    pytest.param(["get", "400"], "get", echo(200), id="get-200-garbled-echo"),
    pytest.param(["batch"], "run", echo(400, as_json=True), id="batch-400-echo"),
    pytest.param(["batch"], "run", echo(500, in_header=True), id="batch-500-echo"),
    pytest.param(
        ["batch"],
        "token",
        reply(200, lambda: json.dumps({"access_token": unread_token()}).encode() + b"<!-- -->"),
        id="batch-token-trailing-200",
    ),
]


@pytest.mark.parametrize(("argv", "route", "answer"), CLI_CASES)
async def test_no_marker_in_cli_output_logs_or_journal(
    echo_zuora, cli_environ, debug_everywhere, capsys, tmp_path, argv, route, answer
):
    echo_zuora.answers[route] = answer
    journal = tmp_path / "journal.jsonl"
    if argv == ["batch"]:
        rows = tmp_path / "rows.jsonl"
        rows.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(3)), encoding="utf-8")
        argv = ["batch", "396", "--input", str(rows), "--journal", str(journal)]
    records: list[dict[str, Any]] = []
    code = await asyncio.wait_for(
        run_command(argv, environ=cli_environ, on_journal_record=records.append), timeout=60
    )
    output = capsys.readouterr()
    assert code != 0, "every case here is a failure"
    assert route in echo_zuora.hits, "the scripted answer was really given"
    texts = [output.out, output.err, *(repr(record) for record in records)]
    texts.extend(path.read_text(encoding="utf-8") for path in tmp_path.rglob("*") if path.is_file())
    texts.extend(every_text_of_records(debug_everywhere.records))
    assert leaks(texts) == []
