"""WorkflowClient with shared_limits over a real valkey-server and FakeZuora on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from zuora_wf_async import BearerToken, InvalidRequestError, WorkflowClient
from zuora_wf_async._env import options_from_env
from zuora_wf_async._shared import SharedLimits, SharedLimitsError
from zuora_wf_async.testing import FakeZuora


def client(fake, shared, **options):
    return WorkflowClient(
        fake.base_url, auth=BearerToken(fake.issue_token()), shared_limits=shared, **options
    )


async def test_clients_sharing_limits_never_exceed_the_tenant_limit_together(valkey):
    async with FakeZuora() as fake:
        a = client(fake, valkey.url, tenant_concurrency=3, max_concurrency=8)
        b = client(fake, valkey.url, tenant_concurrency=3, max_concurrency=8)
        async with a, b:
            fake.pause_runs()
            runs = [
                asyncio.ensure_future(c.run_workflow(396, {"n": n}))
                for n in range(20)
                for c in (a, b)
            ]
            await fake.wait_for_in_flight(3)  # the tenant's three slots are taken...
            # ... and the 37 other calls wait for one; each client alone would send 8.
            assert fake.in_flight == 3
            fake.resume_runs()
            await asyncio.gather(*runs)
    assert fake.peak_in_flight == 3
    assert len(fake.executions) == 40


async def test_without_shared_limits_nothing_changes():
    async with FakeZuora() as fake, client(fake, None, max_concurrency=8) as alone:
        assert alone.shared_limits is None
        fake.pause_runs()
        runs = [asyncio.ensure_future(alone.run_workflow(396, {"n": n})) for n in range(12)]
        await fake.wait_for_in_flight(8)  # the per-process cap, nothing tenant-wide
        fake.resume_runs()
        await asyncio.gather(*runs)


async def test_redis_down_at_start_runs_on_local_limits_with_one_warning(caplog):
    dead = SharedLimits("redis://127.0.0.1:1/0", timeout=0.5, retry_after=60)
    async with FakeZuora() as fake, client(fake, dead) as zuora:
        with caplog.at_level(logging.WARNING, logger="zuora_wf_async"):
            outcomes = await zuora.run_many(396, [{"n": n} for n in range(30)])
    assert all(outcome.ok for outcome in outcomes)
    assert len(fake.executions) == 30
    assert [r.levelname for r in caplog.records].count("WARNING") == 1


async def test_redis_down_fails_calls_when_told_to():
    dead = SharedLimits("redis://127.0.0.1:1/0", timeout=0.5, on_unavailable="fail")
    async with FakeZuora() as fake, client(fake, dead) as zuora:
        with pytest.raises(SharedLimitsError, match="unreachable"):
            await zuora.run_workflow(396, {})
    assert fake.executions == []  # nothing was sent


async def test_redis_restarted_mid_batch_loses_and_duplicates_nothing(valkey, caplog):
    shared = SharedLimits(valkey.url, retry_after=0.05, timeout=0.5)
    total = 300
    async with FakeZuora(latency=0.002) as fake, client(fake, shared, max_concurrency=8) as zuora:

        async def restart_redis_mid_batch():
            await fake.wait_until(lambda: len(fake.executions) >= 60, timeout=30)
            valkey.stop()
            await fake.wait_until(lambda: len(fake.executions) >= 150, timeout=30)
            valkey.start()  # empty: the limits rebuild from the clients
            gate = zuora._pipeline._tenant
            await fake.wait_until(lambda: gate.available, timeout=30)

        with caplog.at_level(logging.INFO, logger="zuora_wf_async"):
            outcomes, _ = await asyncio.gather(
                zuora.run_many(396, [{"n": n} for n in range(total)]),
                restart_redis_mid_batch(),
            )
        gate = zuora._pipeline._tenant
        assert gate is not None
        fallbacks, reconnects = gate.store.fallbacks, gate.store.reconnects

    assert all(outcome.ok for outcome in outcomes)
    keys = Counter(execution.idempotency_key for execution in fake.executions)
    assert len(keys) == total  # nothing lost
    assert set(keys.values()) == {1}  # nothing run twice
    assert sorted(outcome.idempotency_key for outcome in outcomes) == sorted(keys)
    assert (fallbacks, reconnects) == (1, 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1


def test_from_env_reads_the_redis_url_and_tenant_concurrency():
    options = options_from_env(
        {"ZUORA_REDIS_URL": "redis://cache:6379/2", "ZUORA_TENANT_CONCURRENCY": "200"}
    )
    assert options == {"shared_limits": "redis://cache:6379/2", "tenant_concurrency": 200}
    zuora = WorkflowClient("https://rest.test.zuora.com", auth=BearerToken("t"), **options)
    assert isinstance(zuora.shared_limits, SharedLimits)
    assert zuora.tenant_concurrency == 200


@pytest.mark.parametrize("value", ["0", "forty", "-3", "1.5"])
def test_a_bad_tenant_concurrency_in_the_environment_names_the_variable(value):
    with pytest.raises(InvalidRequestError) as caught:
        options_from_env({"ZUORA_TENANT_CONCURRENCY": value})
    assert caught.value.field == "ZUORA_TENANT_CONCURRENCY"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"tenant_concurrency": 0}, "tenant_concurrency"),
        ({"tenant_concurrency": True}, "tenant_concurrency"),
        ({"shared_limits": 6379}, "shared_limits"),
        ({"shared_limits": "localhost:6379"}, "shared_limits"),
    ],
)
def test_bad_many_process_options_are_refused_before_anything_is_sent(options, field):
    with pytest.raises(InvalidRequestError) as caught:
        WorkflowClient("https://rest.test.zuora.com", auth=BearerToken("t"), **options)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--redis-url", "redis://cache:6379/0"], {}),
        ([], {"ZUORA_REDIS_URL": "redis://cache:6379/0"}),
    ],
)
def test_the_cli_takes_redis_url_by_flag_or_environment(argv, environ):
    import argparse

    from zuora_wf_async.cli._config import add_connection_options, make_client

    parser = argparse.ArgumentParser()
    add_connection_options(parser)
    args = parser.parse_args(["--base-url", "https://rest.test.zuora.com", *argv])
    zuora = make_client(args, {"ZUORA_BEARER_TOKEN": "t", **environ})
    assert isinstance(zuora.shared_limits, SharedLimits)
    assert zuora.shared_limits.url == "redis://cache:6379/0"


async def test_unshared_clients_over_the_tenant_limit_cut_concurrency_and_never_pause():
    """The fake's concurrency 429 leaves quota in RateLimit-Remaining: too many in flight,
    so each client sends fewer at once; nobody waits a pause."""
    from zuora_wf_async.testing import ManualClock, TenantLimits

    clock = ManualClock()
    async with FakeZuora(limits=TenantLimits(concurrency=4), latency=0.005) as fake:
        token = fake.issue_token()
        pair = [
            WorkflowClient(
                fake.base_url,
                auth=BearerToken(token),
                max_concurrency=8,
                clock=clock,
                sleep=clock.sleep,  # Retry-After waits cost no real time
            )
            for _ in range(2)
        ]
        async with pair[0], pair[1]:
            await asyncio.gather(*(c.run_workflow(396, {"n": n}) for n in range(40) for c in pair))
            stats = [c.stats for c in pair]
        throttled = [r for r in fake.requests_to("run") if r.status == 429]
    assert throttled  # 16 in flight against a limit of 4
    assert all(r.response_headers.get("RateLimit-Remaining") != "0" for r in throttled)
    assert [s.pauses for s in stats] == [0, 0]
    assert sum(s.concurrency_cuts for s in stats) >= 1
    assert len(fake.executions) == 80
