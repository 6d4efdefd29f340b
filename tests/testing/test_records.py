"""What the fake records: every request (rejected ones too), every run actually created."""

import asyncio
import gzip
import json

from zuora_wf_async.testing import Headers


async def test_requests_are_recorded_as_received(wire, fake, clock):
    clock.advance(3.0)
    data = gzip.compress(json.dumps({"a": 1}).encode())
    await wire.request(
        fake,
        "POST",
        "/workflows/42/run?x=1&y=2",
        data=data,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json", "X-Mine": "v"},
    )
    [request] = fake.requests
    assert (request.method, request.path, request.endpoint) == ("POST", "/workflows/42/run", "run")
    assert request.query == {"x": "1", "y": "2"}
    assert request.raw_body == data
    assert request.body == {"a": 1}
    assert request.content_encoding == "gzip"
    assert request.received_at == 3.0
    assert request.header("x-mine") == "v"
    assert request.headers["X-MINE"] == "v"
    assert "X-Mine" in list(request.headers)
    assert request.status == 200
    assert request.response_headers["Zuora-Request-Id"] == request.request_id
    assert request.fault is None
    assert len(request.request_id) == 36


async def test_rejected_and_form_requests_are_recorded(wire, fake):
    await wire.run(fake, 42, token="nope")
    await wire.token(fake, {"client_id": "x", "grant_type": "client_credentials"})
    await wire.run(fake, 42, data=b"{broken")
    rejected, token, broken = fake.requests
    assert (rejected.status, rejected.body) == (401, None)
    assert token.endpoint == "token"
    assert token.body == {"client_id": "x", "grant_type": "client_credentials"}
    assert token.status == 400
    assert (broken.status, broken.body, broken.raw_body) == (400, None, b"{broken")
    assert fake.requests_to("token") == [token]
    assert fake.token_requests == 1


async def test_executions_record_created_runs_only(wire, fake):
    fake.configure_workflow(5, callout_enabled=False)
    await wire.run(fake, 5, key="k0")
    await wire.run(fake, 42, {"p": 1}, key="k1", headers={"Zuora-Track-Id": "t1"})
    await wire.run(fake, 42, {"p": 1}, key="k1")
    [execution] = fake.executions
    assert execution.workflow_id == 42
    assert execution.params == {"p": 1}
    assert (execution.idempotency_key, execution.track_id) == ("k1", "t1")
    assert fake.execution_counts_by_key() == {"k1": 1}


async def test_reset_clears_records_but_keeps_state(wire, fake):
    first = await wire.run(fake, 42, key="k1")
    fake.reset()
    assert (fake.requests, fake.executions, fake.faults_injected) == ([], [], [])
    assert fake.in_flight_samples == []
    assert fake.peak_in_flight == 0
    assert (await wire.run(fake, 42, key="k1")).body == first.body
    assert fake.executions == []


async def test_in_flight_concurrency_is_tracked(wire, fake, clock):
    fake.pause_runs()
    tasks = [asyncio.create_task(wire.run(fake, 42)) for _ in range(3)]
    await fake.wait_for_in_flight(3)
    assert (fake.in_flight, fake.peak_in_flight) == (3, 3)
    clock.advance(1.0)
    fake.resume_runs()
    assert [result.status for result in await asyncio.gather(*tasks)] == [200, 200, 200]
    assert fake.in_flight == 0
    assert fake.peak_in_flight == 3
    assert [n for _, n in fake.in_flight_samples] == [1, 2, 3, 2, 1, 0]
    assert [t for t, _ in fake.in_flight_samples] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    fake.reset_peak()
    assert fake.peak_in_flight == 0


async def test_only_run_requests_count_as_in_flight(wire, fake):
    await wire.get_run(fake, 1)
    await wire.token(fake, {})
    assert fake.peak_in_flight == 0
    assert fake.in_flight_samples == []


def test_headers_mapping_is_case_insensitive_and_keeps_names():
    headers = Headers((("Content-Type", "a"), ("X-Dup", "1"), ("x-dup", "2")))
    assert headers["content-type"] == "a"
    assert headers["X-DUP"] == "1, 2"
    assert headers.getall("x-dup") == ["1", "2"]
    assert list(headers) == ["Content-Type", "X-Dup"]
    assert len(headers) == 2
    assert headers.get("missing") is None
    assert headers == {"content-type": "a", "x-dup": "1, 2"}
