"""Every answer is read through one door: whatever a body makes fail is ResponseDecodeError.

Issue 22, item 5: a 200 to a run POST with ``"createdAt": "0001-01-01T00:00:00+01:00"``
raised ``OverflowError`` out of ``run_workflow`` (the run was created), and one such
answer in a ``run_many`` of 200 lost the whole batch. A scripted aiohttp server on
127.0.0.1 sends exactly the bytes each test wants; hypothesis draws the bodies.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zuora_wf_async import (
    BearerToken,
    OAuthCredentials,
    ResponseDecodeError,
    RetryPolicy,
    WorkflowClient,
    ZuoraError,
)
from zuora_wf_async._models import Task, TaskCounts, WorkflowRun, WorkflowRunDetail
from zuora_wf_async._workflow_models import TaskUsage, Workflow, WorkflowExport
from zuora_wf_async.testing import ManualClock

TOKEN = "tok-9f8e7d6c5b4a"
CLIENT_ID = "0f6c3a1e-2b4d-4e5f-8a9b-1c2d3e4f5a6b"
RUN = {
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "createdAt": "2019-09-19 18:25:33 UTC",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}
# Valid for a naive datetime, out of range once its +01:00 offset is taken off.
OVERFLOWING = "0001-01-01T00:00:00+01:00"


Answer = Callable[[web.Request, bytes], web.StreamResponse]


class ScriptedServer:
    """Answers every request with ``answer(request, body)``; counts the run POSTs."""

    def __init__(self) -> None:
        self.answer: Answer = lambda _request, _body: web.json_response(RUN)
        self.runs = 0
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path.endswith("/run"):
            self.runs += 1
        return self.answer(request, body)


async def _serve(scripted: ScriptedServer) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    scripted.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return runner


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    runner = await _serve(scripted)
    yield scripted
    await runner.cleanup()


def _client(base_url: str, **options: Any) -> WorkflowClient:
    clock = ManualClock()
    options.setdefault("auth", BearerToken(TOKEN))
    options.setdefault("retry", RetryPolicy(max_attempts=1, deadline=None))
    return WorkflowClient(base_url, clock=clock, sleep=clock.sleep, rng=random.Random(0), **options)


def _run_with(**fields: Any) -> web.Response:
    return web.json_response({**RUN, **fields})


# -- the instance the issue saw -----------------------------------------------------------


async def test_a_run_answer_that_overflows_is_a_decode_error_that_may_have_run(server):
    server.answer = lambda _request, _body: _run_with(createdAt=OVERFLOWING)
    async with _client(server.base_url) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.run_workflow(396, {"accountId": "A-1"}, idempotency_key="key-1")
    error = caught.value
    assert error.may_have_run is True  # Zuora answered 2xx: the run exists
    assert error.status == 200
    assert error.field.endswith("created_at")  # names the field the date is in
    assert server.runs == 1  # not retried under the same key for the same unreadable answer


async def test_a_poll_answer_that_overflows_is_a_decode_error_that_did_not_run(server):
    server.answer = lambda _request, _body: _run_with(updatedAt=OVERFLOWING, tasks={})
    async with _client(server.base_url) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.get_run(400)
    assert caught.value.may_have_run is False  # a GET starts nothing


async def test_one_overflowing_answer_in_a_batch_of_200_loses_nothing(server):
    """Each of the 200 items gets its outcome; the one unreadable answer is its error."""
    bad_key = "item-137"

    def answer(request: web.Request, _body: bytes) -> web.Response:
        key = request.headers["Idempotency-Key"]
        number = int(key.rsplit("-", 1)[1])
        fields = {"id": 1000 + number}
        if key == bad_key:
            fields["createdAt"] = OVERFLOWING
        return _run_with(**fields)

    server.answer = answer
    items = [{"n": n} for n in range(200)]
    async with _client(server.base_url) as client:
        outcomes = await client.run_many(
            396,
            items,
            key_fn=lambda params: f"item-{params['n']}",
            preflight=False,
        )
    assert [outcome.index for outcome in outcomes] == list(range(200))
    failed = [outcome for outcome in outcomes if not outcome.ok]
    assert [outcome.idempotency_key for outcome in failed] == [bad_key]
    assert isinstance(failed[0].error, ResponseDecodeError)
    assert failed[0].error.may_have_run is True
    assert all(o.run is not None and o.run.id == 1000 + o.index for o in outcomes if o.ok)
    assert server.runs == 200


# -- every reader of every operation, arbitrary bodies ----------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_RECORDS = (WorkflowRun, WorkflowRunDetail, TaskCounts, Task, Workflow, WorkflowExport, TaskUsage)
FIELD_NAMES = sorted(
    {field.name for cls in _RECORDS for field in attrs.fields(cls)}
    | {_camel(field.name) for cls in _RECORDS for field in attrs.fields(cls)}
    | {"data", "pagination", "next_page", "success", "metrics", "errors", "reasons"}
    | {"access_token", "expires_in", "message", "workflow", "tasks", "linkages"}
)
# JSON texts that have broken readers, or could: out-of-range dates, numbers no float or
# int conversion takes, NaN, lone surrogates, huge digit strings.
HOSTILE_LEAVES = [
    json.dumps(OVERFLOWING),
    '"9999-12-31T23:59:59-01:00"',
    '"0001-01-01 00:00:00 UTC"',
    '"2019-09-19 18:25:33 UTC"',
    '"2026-11-01T12:35:43.942Z"',
    '"2026-02-30"',
    '"2026-11-01"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    '"NaN"',
    '"-Infinity"',
    '"1e400"',
    "-1",
    "0",
    "-0.0",
    "9" * 400,
    '"' + "1" * 5000 + '"',
    '"-' + "9" * 5000 + '"',
    "12345678901234567890123",
    '"\\ud800"',
    '"\\u0000"',
    "true",
    "false",
    "null",
    '""',
    '"Queued"',
    '"Finished"',
    '"Error"',
    '"Active"',
    '"latest"',
    '"https://rest.zuora.com/workflows?page=2"',
    "[]",
    "{}",
    "[[[[[[]]]]]]",
]

_leaf = st.one_of(
    st.sampled_from(HOSTILE_LEAVES),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),
    st.text(max_size=20).map(json.dumps),
)
_key = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)).map(json.dumps)


def _object_text(members: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{name}:{value}" for name, value in members) + "}"


_json = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(_key, children), max_size=6).map(_object_text),
    ),
    max_leaves=25,
)

_BASES: list[dict[str, Any]] = [
    RUN,
    {
        **RUN,
        "status": "Finished",
        "finishedAt": RUN["createdAt"],
        "runTime": 1.5,
        "cpuTime": "00:00:01",
        "tasks": {"total": 1, "success": 1},
    },
    {
        "id": 396,
        "name": "wf",
        "status": "Active",
        "callout_trigger": True,
        "version": "0.0.1",
        "created_at": "2026-11-01T12:35:43.942Z",
        "active_version": {"id": 1},
    },
    {
        "id": 2771,
        "name": "task",
        "status": "Error",
        "instance": True,
        "workflow_id": 400,
        "tags": ["a"],
        "start_time": "2026-11-01T12:35:43.942Z",
    },
    {"date": "2026-11-01", "taskCount": 3},
    {"workflow": {"name": "wf"}, "tasks": [], "linkages": []},
    {"id": 396, "success": True},
]


@st.composite
def _record_like(draw: st.DrawFn) -> str:
    """A documented record with some fields replaced by hostile JSON."""
    base = draw(st.sampled_from(_BASES))
    members = {json.dumps(name): json.dumps(value) for name, value in base.items()}
    own_names = st.sampled_from(sorted(members))
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.one_of(own_names, own_names, _key))
        members[name] = draw(st.one_of(st.sampled_from(HOSTILE_LEAVES), _leaf, _json))
    return _object_text(list(members.items()))


def _listing(items: list[str], link: str) -> str:
    return f'{{"data":[{",".join(items)}],"metrics":[{",".join(items)}],"pagination":{link}}}'


_bodies = st.one_of(
    _record_like(),
    _json,
    st.builds(
        _listing,
        st.lists(st.one_of(_record_like(), _json), max_size=3),
        st.one_of(_json, st.just('{"next_page":"https://rest.zuora.com/workflows?page=2"}')),
    ),
    st.binary(max_size=40).map(lambda data: data.decode("latin-1")),
)

Operation = Callable[[WorkflowClient], Awaitable[object]]


async def _first(iterator: Any, limit: int = 5) -> list[object]:
    items = []
    async for item in iterator:
        items.append(item)
        if len(items) >= limit:
            break
    return items


async def _outcome_errors(client: WorkflowClient) -> object:
    outcomes = await client.run_many(396, [{"a": 1}], preflight=False)
    for outcome in outcomes:
        assert outcome.error is None or isinstance(outcome.error, ZuoraError)
    return outcomes


OPERATIONS: dict[str, Operation] = {
    "run_workflow": lambda c: c.run_workflow(396, {"a": 1}),
    "run_many": _outcome_errors,
    "get_run": lambda c: c.get_run(400),
    "stop_run": lambda c: c.stop_run(400),
    "wait_for_run": lambda c: c.wait_for_run(400, timeout=1),
    "wait_for_runs": lambda c: c.wait_for_runs([400, 401], timeout=1, return_exceptions=True),
    "run_and_wait": lambda c: c.run_and_wait(396, {"a": 1}, timeout=1),
    "iter_tasks": lambda c: _first(c.iter_tasks(workflow_run_id=400)),
    "iter_workflows": lambda c: _first(c.iter_workflows()),
    "get_workflow": lambda c: c.get_workflow(396),
    "update_workflow": lambda c: c.update_workflow(396, name="n"),
    "delete_workflow": lambda c: c.delete_workflow(396),
    "get_task": lambda c: c.get_task(2771),
    "rerun_task": lambda c: c.rerun_task(2771),
    "rerun_failed_tasks": lambda c: c.rerun_failed_tasks(400),
    "update_tasks": lambda c: c.update_tasks([{"id": 2771, "status": "Error"}]),
    "get_task_usage": lambda c: c.get_task_usage(date(2026, 11, 1), date(2026, 11, 2)),
    "export_workflow": lambda c: c.export_workflow(396),
    "import_workflow": lambda c: c.import_workflow({"workflow": {"name": "wf"}}),
    "list_workflow_versions": lambda c: c.list_workflow_versions(396),
    "import_workflow_version": lambda c: c.import_workflow_version(
        396, {"workflow": {"name": "wf"}}, version="0.0.2"
    ),
    "delete_workflow_version": lambda c: c.delete_workflow_version(113),
}


async def _every_operation_reads(body: str, status: int) -> dict[str, str]:
    """Each operation against a server answering ``body`` with ``status``: what came out."""
    data = body.encode("utf-8", errors="surrogatepass")
    scripted = ScriptedServer()
    scripted.answer = lambda _request, _body: web.Response(
        status=status, body=data, content_type="application/json"
    )
    runner = await _serve(scripted)
    escaped: dict[str, str] = {}
    try:
        async with _client(scripted.base_url) as client:
            for name, operation in OPERATIONS.items():
                try:
                    await operation(client)
                except ZuoraError:
                    pass
                except Exception as exc:  # noqa: BLE001 -- what the test looks for
                    escaped[name] = f"{type(exc).__name__}: {exc}"[:300]
        # The token answer is read by the same door: an OAuth client's first call reads it.
        oauth = OAuthCredentials(client_id=CLIENT_ID, client_secret="s3cret-value-42")
        async with _client(scripted.base_url, auth=oauth) as client:
            try:
                await client.get_run(400)
            except ZuoraError:
                pass
            except Exception as exc:  # noqa: BLE001
                escaped["token"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        await runner.cleanup()
    return escaped


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=_bodies, status=st.sampled_from([200, 201, 409]))
def test_no_body_makes_any_reader_raise_anything_but_a_zuora_error(body, status):
    assert asyncio.run(_every_operation_reads(body, status)) == {}


def test_the_overflowing_timestamp_reaches_every_reader():
    """The issue's own body, in every record shape, through every operation."""
    for base in _BASES:
        for field in ("createdAt", "updatedAt", "finishedAt", "created_at", "start_time"):
            body = json.dumps({**base, field: OVERFLOWING})
            assert asyncio.run(_every_operation_reads(body, 200)) == {}, (base, field)
        listing = _listing([json.dumps({**base, "created_at": OVERFLOWING})], "null")
        assert asyncio.run(_every_operation_reads(listing, 200)) == {}, base
