"""Idempotency-Key: the first answer is stored and replayed; conflicts are 409 and 422."""

import asyncio
import gzip
import json

import pytest


async def test_a_repeat_replays_the_stored_success(wire, fake):
    first = await wire.run(fake, 42, {"a": 1}, key="k1")
    again = await wire.run(fake, 42, {"a": 1}, key="k1")
    assert (first.status, again.status) == (200, 200)
    assert again.body == first.body
    assert again.headers["Zuora-Request-Id"] != first.headers["Zuora-Request-Id"]
    assert fake.execution_counts_by_key() == {"k1": 1}


async def test_replay_status_409_answers_a_stored_success_with_409(wire, start_fake):
    fake = await start_fake(replay_status=409)
    first = await wire.run(fake, 42, {"a": 1}, key="k1")
    again = await wire.run(fake, 42, {"a": 1}, key="k1")
    assert (first.status, again.status) == (200, 409)
    assert again.body == first.body
    assert "errors" not in again.body
    assert len(fake.executions) == 1


@pytest.mark.parametrize("replay_status", [200, 409])
async def test_a_stored_failure_is_replayed_as_it_was(wire, start_fake, replay_status):
    fake = await start_fake(replay_status=replay_status)
    fake.configure_workflow(42, callout_enabled=False)
    first = await wire.run(fake, 42, key="k1")
    fake.configure_workflow(42, callout_enabled=True)
    again = await wire.run(fake, 42, key="k1")
    assert (first.status, again.status) == (400, 400)
    assert again.body == first.body
    assert fake.executions == []
    assert (await wire.run(fake, 42, key="k2")).status == 200


async def test_gzip_and_plain_bodies_with_the_same_json_are_the_same_request(wire, fake):
    first = await wire.run(fake, 42, {"a": 1}, key="k1")
    data = gzip.compress(json.dumps({"a": 1}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    again = await wire.run(fake, 42, key="k1", data=data, headers=headers)
    assert (again.status, again.body) == (200, first.body)


@pytest.mark.parametrize(
    ("workflow_id", "params"), [(42, {"a": 2}), (43, {"a": 1})], ids=["body", "path"]
)
async def test_reuse_for_a_different_request_is_422(wire, fake, workflow_id, params):
    await wire.run(fake, 42, {"a": 1}, key="k1")
    result = await wire.run(fake, workflow_id, params, key="k1")
    assert result.status == 422
    assert result.body == {
        "errors": [
            {
                "code": "invalid",
                "status": 422,
                "title": "Idempotency-Key reused with a different request.",
            }
        ]
    }
    assert len(fake.executions) == 1


async def test_a_repeat_while_the_first_is_in_flight_is_409(wire, fake):
    fake.pause_runs()
    first = asyncio.create_task(wire.run(fake, 42, key="k1"))
    await fake.wait_for_in_flight(1)
    second = await wire.run(fake, 42, key="k1")
    assert second.status == 409
    assert second.body == {
        "errors": [
            {
                "code": "conflict",
                "status": 409,
                "title": "A request with this Idempotency-Key is already in progress.",
            }
        ]
    }
    fake.resume_runs()
    assert (await first).status == 200
    assert len(fake.executions) == 1


async def test_real_latency_makes_requests_overlap(wire, start_fake):
    fake = await start_fake(latency=0.05)
    first = asyncio.create_task(wire.run(fake, 42, key="k1"))
    await fake.wait_for_in_flight(1)
    assert (await wire.run(fake, 42, key="k1")).status == 409
    assert (await first).status == 200


async def test_keys_expire_after_the_ttl(wire, start_fake, clock):
    fake = await start_fake(idempotency_ttl=60.0)
    first = await wire.run(fake, 42, key="k1")
    clock.advance(59.0)
    assert (await wire.run(fake, 42, key="k1")).body == first.body
    clock.advance(1.0)
    later = await wire.run(fake, 42, key="k1")
    assert later.body["id"] != first.body["id"]
    assert fake.execution_counts_by_key() == {"k1": 2}


async def test_requests_without_a_key_always_run(wire, fake):
    await wire.run(fake, 42, {"a": 1})
    await wire.run(fake, 42, {"a": 1})
    assert fake.execution_counts_by_key() == {None: 2}


async def test_an_unauthenticated_request_does_not_claim_the_key(wire, fake):
    assert (await wire.run(fake, 42, key="k1", token="bad")).status == 401
    assert (await wire.run(fake, 42, key="k1")).status == 200
