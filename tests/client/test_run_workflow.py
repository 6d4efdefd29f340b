"""run_workflow end to end over HTTP against FakeZuora on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from datetime import UTC, datetime

import pytest

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    RunStatus,
    WorkflowClient,
    WorkflowRun,
)
from zuora_wf_async.testing import FakeZuora


def run_requests(fake: FakeZuora) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/run")]


async def test_run_workflow_returns_the_decoded_run(fake, zuora):
    run = await zuora.run_workflow(396, {"accountId": "A-1"})

    assert isinstance(run, WorkflowRun)
    assert run.original_workflow_id == 396
    assert run.status is RunStatus.QUEUED
    assert run.name.startswith("WF-396-")
    assert run.type == "Workflow::Instance"
    assert run.created_at.tzinfo is not None
    assert isinstance(run.updated_at, datetime)
    assert run.created_at.utcoffset() == UTC.utcoffset(None)
    [execution] = fake.executions
    assert execution.run_id == run.id
    assert execution.params == {"accountId": "A-1"}


async def test_every_run_request_carries_the_documented_headers(fake, make_client):
    async with make_client(entity_ids=["e-1"], org_ids=["o-1"]) as zuora:
        await zuora.run_workflow(396, {"accountId": "A-1"}, track_id="trace-1")

    [request] = run_requests(fake)
    assert request.header("Authorization").startswith("Bearer ")
    assert request.header("Accept-Encoding") == "gzip"
    assert request.header("Content-Type") == "application/json"
    assert str(uuid.UUID(request.header("Idempotency-Key"), version=4)) == request.header(
        "Idempotency-Key"
    )
    assert request.header("Zuora-Entity-Ids") == "e-1"
    assert request.header("Zuora-Org-Ids") == "o-1"
    assert request.header("Zuora-Track-Id") == "trace-1"


def test_more_than_one_entity_id_is_refused_at_construction(fake, make_client):
    # The official document gives Workflow operations a single Zuora-Entity-Ids value.
    with pytest.raises(InvalidRequestError, match="one entity id") as caught:
        make_client(entity_ids=["e-1", "e-2"])
    assert caught.value.field == "entity_ids"
    assert fake.requests == []


async def test_optional_headers_are_absent_when_unset(fake, zuora):
    await zuora.run_workflow(396)

    [request] = run_requests(fake)
    for name in ("Zuora-Entity-Ids", "Zuora-Org-Ids", "Zuora-Track-Id", "Content-Encoding"):
        assert request.header(name) is None
    assert request.body == {}


async def test_each_call_gets_a_fresh_key_unless_one_is_given(fake, zuora):
    await zuora.run_workflow(396, {"n": 1})
    await zuora.run_workflow(396, {"n": 2})
    await zuora.run_workflow(396, {"n": 3}, idempotency_key="order-42")

    keys = [r.header("Idempotency-Key") for r in run_requests(fake)]
    assert keys[0] != keys[1]
    assert keys[2] == "order-42"


async def test_small_bodies_are_sent_plain(fake, make_client):
    async with make_client(gzip_threshold=1024) as zuora:
        await zuora.run_workflow(396, {"note": "x" * 900})

    [request] = run_requests(fake)
    assert request.content_encoding is None
    assert json.loads(request.raw_body) == {"note": "x" * 900}


async def test_bodies_over_the_threshold_are_gzipped_once(fake, make_client):
    params = {"note": "x" * 5000}
    async with make_client(gzip_threshold=1024) as zuora:
        await zuora.run_workflow(396, params)

    [request] = run_requests(fake)
    assert request.content_encoding == "gzip"
    assert len(request.raw_body) < 1024
    assert json.loads(gzip.decompress(request.raw_body)) == params
    assert request.body == params


async def test_gzip_threshold_none_never_compresses(fake, make_client):
    async with make_client(gzip_threshold=None) as zuora:
        await zuora.run_workflow(396, {"note": "x" * 5000})

    [request] = run_requests(fake)
    assert request.content_encoding is None


async def test_a_fixed_bearer_token_is_sent_as_is(fake, make_client):
    token = fake.issue_token()
    async with make_client(auth=BearerToken(token)) as zuora:
        await zuora.run_workflow(396)

    assert [r.path for r in fake.requests] == ["/workflows/396/run"]
    assert fake.requests[0].header("Authorization") == f"Bearer {token}"


async def test_the_session_opens_on_first_use_and_closes_on_aclose(fake, make_client):
    zuora = make_client()
    assert "state=new" in repr(zuora)

    await zuora.run_workflow(396)
    assert "state=open" in repr(zuora)

    await zuora.aclose()
    await zuora.aclose()  # closing twice is harmless
    assert "state=closed" in repr(zuora)
    assert len(fake.executions) == 1


async def test_many_concurrent_runs_share_one_client(fake, zuora):
    runs = await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(100)))

    assert len({run.id for run in runs}) == 100
    assert len(fake.executions) == 100


async def test_in_flight_requests_never_exceed_max_concurrency(make_client):
    async with FakeZuora(latency=0.01) as slow:
        token = slow.issue_token()
        async with WorkflowClient(slow.base_url, auth=BearerToken(token), max_concurrency=4) as z:
            await asyncio.gather(*(z.run_workflow(396, {"n": n}) for n in range(40)))
        assert slow.peak_in_flight == 4
        assert len(slow.executions) == 40


@pytest.mark.parametrize(
    ("workflow_id", "params", "options", "field"),
    [
        pytest.param(0, {}, {}, "workflow_id", id="workflow-id-zero"),
        pytest.param("396", {}, {}, "workflow_id", id="workflow-id-string"),
        pytest.param(True, {}, {}, "workflow_id", id="workflow-id-bool"),
        pytest.param(396, ["a"], {}, "params", id="params-not-a-mapping"),
        pytest.param(396, {1: "a"}, {}, "params", id="params-non-string-key"),
        pytest.param(396, {"id": "A-1"}, {}, "params['id']", id="reserved-id"),
        pytest.param(396, {"format": "json"}, {}, "params['format']", id="reserved-format"),
        pytest.param(396, {"a": {1, 2}}, {}, "params['a']", id="set-value"),
        pytest.param(396, {"a": [float("nan")]}, {}, "params['a'][0]", id="nan"),
        pytest.param(396, {"a": float("inf")}, {}, "params['a']", id="infinity"),
        pytest.param(396, {"a": "x" * 5_000_001}, {}, "params", id="over-5-mb"),
        pytest.param(396, {}, {"idempotency_key": ""}, "idempotency_key", id="key-empty"),
        pytest.param(396, {}, {"idempotency_key": "k" * 256}, "idempotency_key", id="key-long"),
        pytest.param(396, {}, {"idempotency_key": "clé"}, "idempotency_key", id="key-non-ascii"),
        pytest.param(396, {}, {"track_id": "t" * 65}, "track_id", id="track-long"),
        pytest.param(396, {}, {"track_id": "tràck"}, "track_id", id="track-non-ascii"),
        pytest.param(396, {}, {"track_id": "a:b"}, "track_id", id="track-colon"),
        pytest.param(396, {}, {"track_id": "a;b"}, "track_id", id="track-semicolon"),
        pytest.param(396, {}, {"track_id": 'a"b'}, "track_id", id="track-double-quote"),
        pytest.param(396, {}, {"track_id": "a'b"}, "track_id", id="track-single-quote"),
    ],
)
async def test_invalid_input_is_rejected_before_anything_is_sent(
    fake, zuora, workflow_id, params, options, field
):
    with pytest.raises(InvalidRequestError) as caught:
        await zuora.run_workflow(workflow_id, params, **options)

    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert field in str(caught.value)
    assert fake.requests == []  # not even a token request


@pytest.mark.parametrize(
    ("options", "field"),
    [
        pytest.param({"max_concurrency": 0}, "max_concurrency", id="concurrency-zero"),
        pytest.param({"timeout": -1}, "timeout", id="timeout-negative"),
        pytest.param({"gzip_threshold": -1}, "gzip_threshold", id="gzip-negative"),
        pytest.param({"entity_ids": "e-1"}, "entity_ids", id="entity-ids-string"),
        pytest.param({"org_ids": ["a,b"]}, "org_ids[0]", id="org-id-with-comma"),
        pytest.param({"auth": "token"}, "auth", id="auth-string"),
    ],
)
def test_bad_client_options_name_the_field(fake, make_client, options, field):
    with pytest.raises(InvalidRequestError) as caught:
        make_client(**options)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "base_url",
    ["http://rest.test.zuora.com", "ftp://127.0.0.1", "https://user:pw@rest.zuora.com", ""],
)
def test_base_url_must_be_https_unless_loopback(base_url):
    with pytest.raises(InvalidRequestError) as caught:
        WorkflowClient(base_url, auth=BearerToken("t"))
    assert caught.value.field == "base_url"
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://x.io/"]
)
def test_loopback_http_and_any_https_are_accepted(base_url):
    client = WorkflowClient(base_url, auth=BearerToken("t"))
    assert not client.base_url.endswith("/")


async def test_large_params_are_encoded_in_slices_with_the_same_bytes(fake, make_client):
    # Large bodies are encoded on the loop in slices (see _encoding): the bytes sent are
    # exactly the one-shot encoding, and no thread is started for it.
    import threading

    rows = [{"id": n, "memo": "line item", "amount": n * 1.5} for n in range(5_000)]
    threads_before = threading.active_count()
    async with make_client(gzip_threshold=None) as zuora:
        await zuora.run_workflow(396, {"rows": rows}, idempotency_key="big")
        assert threading.active_count() <= threads_before
    [request] = run_requests(fake)
    assert request.raw_body == json.dumps({"rows": rows}, separators=(",", ":")).encode()
