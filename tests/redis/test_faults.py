"""Issue 23's fault suite: real faults of a real Redis (valkey) under clients in a batch.

After each fault, once the clients hold steady (the fake holds their runs), Redis counts
for each client exactly what it has in flight, within one heartbeat; no run is lost or
started twice. Timing uses real time only where a fault needs it (a stalled server, a
lease that must run out), with short, bounded durations; nothing asserts how long
anything took.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio

from zuora_wf_async import BearerToken, WorkflowClient
from zuora_wf_async._limiter import Learned
from zuora_wf_async._shared import Lease, SharedLimits
from zuora_wf_async.testing import FakeZuora

TENANT = 6
CLIENTS = 3
RUNS = 300  # per client
LEASE = 1.5  # seconds: a heartbeat every 0.5 s


def shared(url, **options):
    settings = {"namespace": "faults", "lease_seconds": LEASE, "timeout": 0.25, "retry_after": 0.1}
    return SharedLimits(url, **{**settings, **options})


async def store_counts(url):
    store = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        return {k: int(v) for k, v in (await store.hgetall("zwa:{faults}:held")).items()}
    finally:
        await store.aclose()


async def until(condition, *, within, what):
    """Poll ``condition`` (async or not), bounded: a condition, not a duration, is tested."""
    give_up = time.monotonic() + within
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def gates_of(clients):
    return [c._pipeline._tenant for c in clients]


async def counts_agree(url, fake, clients):
    """Redis counts, per client, what that client holds, and they hold what the fake has."""
    gates = gates_of(clients)
    if not all(g.available for g in gates):
        return False
    counts = await store_counts(url)
    mine = {g.holder: g.held for g in gates}
    held = {holder: counts.get(holder, 0) for holder in mine}
    return (
        held == mine
        and sum(mine.values()) == fake.in_flight
        and sum(counts.values()) == sum(mine.values())
    )


async def batch_through(valkey, fault, *, settle_within=LEASE / 3 + 2.0):
    """Three clients run a batch; ``fault(fake, clients)`` strikes once a third is done.
    Then the fake holds every run, and Redis's counts must match the clients' within one
    heartbeat (plus room for a busy machine); then the batch ends."""
    total = CLIENTS * RUNS
    # 20 ms a run, 6 at a time: ~3 s of batch, so that the fault strikes mid-batch.
    async with FakeZuora(latency=0.02) as fake:
        token = fake.issue_token()
        clients = [
            WorkflowClient(
                fake.base_url,
                auth=BearerToken(token),
                shared_limits=shared(valkey.url),
                tenant_concurrency=TENANT,
                max_concurrency=8,
            )
            for _ in range(CLIENTS)
        ]
        for c in clients:
            await c.__aenter__()
        try:

            async def strike_then_hold():
                await fake.wait_until(lambda: len(fake.executions) >= total // 3, timeout=60)
                await fault(fake, clients)
                await until(
                    lambda: all(g.available for g in gates_of(clients)),
                    within=30,
                    what="every client back on Redis",
                )
                fake.pause_runs()
                await fake.wait_until(lambda: fake.in_flight >= TENANT // 2, timeout=30)
                await until(
                    lambda: counts_agree(valkey.url, fake, clients),
                    within=settle_within,
                    what="Redis's counts to match what the clients hold",
                )
                fake.resume_runs()

            batches = await asyncio.gather(
                *(
                    c.run_many(396, [{"n": n, "c": i} for n in range(RUNS)])
                    for i, c in enumerate(clients)
                ),
                strike_then_hold(),
            )
        finally:
            fake.resume_runs()
            for c in clients:
                await c.aclose()
        outcomes = [o for batch in batches[:-1] for o in batch]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    keys = Counter(e.idempotency_key for e in fake.executions)
    assert len(keys) == total  # nothing lost
    assert set(keys.values()) == {1}  # nothing started twice
    assert await store_counts(valkey.url) == {}  # closing gave everything back
    return fake, gates_of(clients)


async def progress(fake, runs):
    """Wait (bounded) until ``runs`` more runs were started: requests go on."""
    start = len(fake.executions)
    await fake.wait_until(lambda: len(fake.executions) >= start + runs, timeout=30)


async def test_redis_stopped_with_sigstop_then_continued(valkey):
    async def fault(fake, clients):
        valkey.pause()
        try:
            await until(
                lambda: not any(g.available for g in gates_of(clients)),
                within=30,
                what="every client to see the outage",
            )
            await progress(fake, 30)  # under local limits, while Redis hangs
        finally:
            valkey.resume()

    _, gates = await batch_through(valkey, fault)
    assert all(g.store.fallbacks >= 1 and g.store.reconnects >= 1 for g in gates)


async def test_redis_killed_and_restarted_empty_on_the_same_port(valkey):
    async def fault(fake, clients):
        valkey.stop()
        await progress(fake, 30)
        valkey.start()

    _, gates = await batch_through(valkey, fault)
    assert all(g.store.reconnects >= 1 for g in gates)


async def test_redis_asleep_longer_than_the_call_timeout(valkey):
    async def fault(fake, clients):
        admin = redis.asyncio.Redis.from_url(valkey.url)
        try:
            # 1 s against a call timeout of 0.25 s: calls time out, and the server runs
            # the ones queued meanwhile late, after newer ones (the sequence numbers).
            await admin.execute_command("DEBUG", "SLEEP", "1")
        finally:
            await admin.aclose()

    await batch_through(valkey, fault)


async def test_flushall_mid_batch(valkey):
    async def fault(fake, clients):
        admin = redis.asyncio.Redis.from_url(valkey.url)
        try:
            await admin.flushall()
        finally:
            await admin.aclose()

    await batch_through(valkey, fault)


async def test_the_request_path_never_waits_for_a_hung_redis(valkey):
    """While Redis is down, a tenant slot is handed out without awaiting anything, even
    while the heartbeat's try at Redis hangs."""
    g = shared(valkey.url, retry_after=0.05).gate(
        base_url="https://x", entity_ids=None, tenant_concurrency=TENANT
    )
    try:
        lease = await g.acquire()
        assert lease.shared
        valkey.pause()
        g.release(lease, Learned(200))  # Redis must hear it: the call hangs
        await until(lambda: not g.available, within=30, what="the outage seen")
        await until(lambda: g.calls >= 3, within=30, what="tries at Redis, beside requests")
        for _ in range(20):
            step = g.acquire()
            with pytest.raises(StopIteration) as done:  # finished without suspending
                step.send(None)
            lease = done.value.value
            assert isinstance(lease, Lease)
            assert not lease.shared
            g.release(lease, Learned(200))
    finally:
        valkey.resume()
        await g.aclose()


HOLDER = Path(__file__).with_name("_holder.py")


async def test_a_process_stalled_past_its_lease_asks_again_before_sending(valkey):
    """A process frozen longer than its lease (SIGSTOP, a frozen VM: here its event loop
    blocked) lost its slots to another process. Woken, it must not pass its old slots
    from request to request: that sent 49 where the tenant allows 40."""
    lease_seconds, tenant = 0.6, 2
    me = shared(valkey.url, lease_seconds=lease_seconds).gate(
        base_url="https://x", entity_ids=None, tenant_concurrency=tenant
    )
    other = None
    try:
        held = [await me.acquire(), await me.acquire()]
        assert all(isinstance(lease, Lease) and lease.shared for lease in held)
        waiting = asyncio.ensure_future(me.acquire())  # a third request of ours waits
        await until(lambda: me.waiters, within=10, what="our request queued")
        # Another process wants the tenant's two slots; it gets them when our lease ends.
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HOLDER),
            valkey.url,
            "faults",
            str(tenant),
            str(lease_seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        await until(
            lambda: _others_wait(valkey.url, me.holder),
            within=30,
            what="the other process waiting",
        )
        time.sleep(lease_seconds * 3)  # noqa: ASYNC251 -- the stall under test
        # Woken: one of our requests ends, with one of ours waiting. Before, the slot went
        # straight to it, while the other process held both.
        me.release(held[0], Learned(200))
        assert not waiting.done()
        line = await asyncio.wait_for(other.stdout.readline(), timeout=30)
        assert line.startswith(b"HOLDER")  # it holds the tenant's two slots
        calls = me.calls
        await until(lambda: me.calls >= calls + 2, within=30, what="us asking Redis again")
        assert not waiting.done()  # refused: the tenant is full
        counts = await store_counts(valkey.url)
        assert counts[me.holder] == me.held == 1  # what we still have in flight
        other.kill()
        await other.wait()
        assert isinstance(await asyncio.wait_for(waiting, timeout=30), Lease)
    finally:
        if other is not None and other.returncode is None:
            other.kill()
            await other.wait()
        await me.aclose()


async def _others_wait(url, me):
    store = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        return set(await store.zrange("zwa:{faults}:waiting", 0, -1)) - {me}
    finally:
        await store.aclose()


async def test_closing_after_redis_went_away_raises_nothing(valkey):
    g = shared(valkey.url).gate(base_url="https://x", entity_ids=None, tenant_concurrency=TENANT)
    lease = await g.acquire()
    assert lease.shared
    valkey.stop()  # the gate has not noticed: its next word to Redis is the goodbye
    await g.aclose()  # the lease ends by itself; nothing to raise
