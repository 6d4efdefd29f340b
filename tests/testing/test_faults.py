"""Each fault kind over real HTTP, and the rule that faults never duplicate a run."""

import asyncio
import random

import aiohttp
import pytest

from zuora_wf_async.testing import Fault, FaultPlan


def plan(*rules, seed=0):
    return FaultPlan(seed=seed, rules=rules)


async def test_error_before_record_does_no_work(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.error_before_record(503, on=[1])))
    failed = await wire.run(fake, 42, key="k1")
    assert failed.status == 503
    assert failed.headers["Content-Type"].startswith("text/html")
    assert "503 Service Unavailable" in failed.body
    assert fake.executions == []
    retried = await wire.run(fake, 42, key="k1")
    assert retried.status == 200
    assert fake.execution_counts_by_key() == {"k1": 1}
    assert fake.fault_counts() == {"error_before_record": 1}
    assert fake.requests[0].fault == "error_before_record"


async def test_error_bodies_can_be_json_or_text(wire, start_fake):
    fake = await start_fake(
        faults=plan(
            Fault.error_before_record(500, on=[1]),
            Fault.error_before_record(502, body={"opaque": True}, on=[2]),
            Fault.error_before_record(504, body="upstream timed out", on=[3]),
        )
    )
    assert (await wire.run(fake)).body == {"message": "An unexpected error occurred."}
    assert (await wire.run(fake)).body == {"opaque": True}
    assert (await wire.run(fake)).body == "upstream timed out"


async def test_error_after_record_creates_the_run_and_stores_the_key(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.error_after_record(500, on=[1])))
    failed = await wire.run(fake, 42, key="k1")
    assert failed.status == 500
    assert len(fake.executions) == 1
    retried = await wire.run(fake, 42, key="k1")
    assert retried.status == 200
    assert retried.body["id"] == fake.executions[0].run_id
    assert fake.execution_counts_by_key() == {"k1": 1}


async def test_drop_after_record_closes_the_connection(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.drop_after_record(on=[1])))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await wire.run(fake, 42, key="k1")
    assert len(fake.executions) == 1
    assert fake.requests[0].status is None
    assert fake.requests[0].response_headers is None
    assert fake.requests[0].fault == "drop_after_record"
    retried = await wire.run(fake, 42, key="k1")
    assert (retried.status, retried.body["id"]) == (200, fake.executions[0].run_id)
    assert len(fake.executions) == 1


async def test_rate_limit_burst_answers_429_for_consecutive_requests(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.rate_limit_burst(2, retry_after=7, on=[2])))
    statuses = []
    for _ in range(4):
        result = await wire.run(fake)
        statuses.append(result.status)
        if result.status == 429:
            assert result.headers["Retry-After"] == "7"
            assert result.headers["RateLimit-Remaining"] == "0"
            assert result.headers["RateLimit-Reset"] == "7"
    assert statuses == [200, 429, 429, 200]
    assert len(fake.executions) == 2
    assert fake.fault_counts() == {"rate_limit_burst": 2}


async def test_quota_limits_requests_per_window(wire, start_fake, clock):
    fake = await start_fake(faults=plan(Fault.quota(2, window=60.0)))
    clock.advance(15.0)
    first, second, third = [await wire.run(fake) for _ in range(3)]
    assert (first.status, second.status, third.status) == (200, 200, 429)
    assert first.headers["RateLimit-Limit"] == "2, 2;w=60"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert second.headers["RateLimit-Remaining"] == "0"
    assert third.headers["RateLimit-Remaining"] == "0"
    assert third.headers["RateLimit-Reset"] == "45"
    assert "Retry-After" not in third.headers
    # Other API endpoints share the tenant's quota; failed requests count too.
    assert (await wire.get_run(fake, 10000)).status == 429
    clock.advance(45.0)
    assert (await wire.run(fake)).status == 200
    assert fake.fault_counts() == {"quota": 2}


async def test_per_second_quota(wire, start_fake, clock):
    fake = await start_fake(faults=plan(Fault.quota(1, window=1.0)))
    assert (await wire.run(fake)).status == 200
    throttled = await wire.run(fake)
    assert (throttled.status, throttled.headers["RateLimit-Reset"]) == (429, "1")
    clock.advance(1.0)
    assert (await wire.run(fake)).status == 200


async def test_slow_before_record_keeps_the_key_in_progress(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.slow(30.0, on=[1])))
    with pytest.raises(TimeoutError):
        await wire.run(fake, 42, key="k1", timeout=aiohttp.ClientTimeout(total=0.05))
    assert fake.executions == []
    assert (await wire.run(fake, 42, key="k1")).status == 409


async def test_slow_after_record_lets_a_retry_replay(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.slow(30.0, record_first=True, on=[1])))
    with pytest.raises(TimeoutError):
        await wire.run(fake, 42, key="k1", timeout=aiohttp.ClientTimeout(total=0.05))
    assert len(fake.executions) == 1
    retried = await wire.run(fake, 42, key="k1")
    assert (retried.status, retried.body["id"]) == (200, fake.executions[0].run_id)
    assert len(fake.executions) == 1


async def test_expire_token_makes_the_request_401(wire, start_fake):
    fake = await start_fake(faults=plan(Fault.expire_token(on=[2])))
    token = fake.issue_token()
    assert (await wire.run(fake, token=token)).status == 200
    expired = await wire.run(fake, token=token)
    assert expired.status == 401
    assert "WWW-Authenticate" in expired.headers
    assert (await wire.run(fake, token=token)).status == 401
    assert (await wire.run(fake)).status == 200
    assert fake.fault_counts() == {"expire_token": 1}


async def test_token_requests_can_be_faulted(wire, start_fake):
    fake = await start_fake(
        faults=plan(Fault.error_before_record(503, on=[1], endpoints=["token"]))
    )
    assert (await wire.token(fake, wire.credentials(fake))).status == 503
    assert (await wire.token(fake, wire.credentials(fake))).status == 200
    assert (await wire.run(fake)).status == 200
    assert fake.tokens_issued == 2  # one over HTTP, one by wire.run's issue_token()


async def test_chaos_never_duplicates_a_run(wire, start_fake):
    """Many keyed requests under every fault kind, retried until answered: one run per key."""
    fake = await start_fake(
        faults=plan(
            Fault.error_before_record(503, probability=0.15),
            Fault.error_after_record(502, probability=0.15),
            Fault.drop_after_record(probability=0.1),
            Fault.rate_limit_burst(2, probability=0.05),
            Fault.expire_token(probability=0.05),
            seed=2024,
        ),
        latency=0.001,
    )
    rng = random.Random(1)

    async def run_until_answered(key: str) -> int:
        for _ in range(100):
            try:
                result = await wire.run(fake, rng.choice([1, 2, 3]), {"key": key}, key=key)
            except aiohttp.ClientConnectionError:
                continue
            if result.status == 200:
                return result.body["id"]
        raise AssertionError(f"{key} was never answered")

    run_ids = await asyncio.gather(*(run_until_answered(f"key-{i}") for i in range(40)))
    counts = fake.execution_counts_by_key()
    assert set(counts.values()) == {1}
    assert len(counts) == 40
    assert sorted(run_ids) == sorted(e.run_id for e in fake.executions)
    injected = fake.fault_counts()
    assert set(injected) == {
        "error_before_record",
        "error_after_record",
        "drop_after_record",
        "rate_limit_burst",
        "expire_token",
    }
