"""SharedGate against a real valkey-server: the tenant semaphore, leases, the shared pause,
the shared cut and the shared quota window. Every step runs as a Lua script on the server."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio

from zuora_wf_async._core.pacing import HOLD, Verdict
from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._limiter import Learned
from zuora_wf_async._shared import (
    Lease,
    Paused,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
    _courier,
)

TENANT = "https://rest.test.zuora.com"


def gate(url, *, tenant=3, namespace="t", **options):
    return SharedLimits(url, namespace=namespace, **options).gate(
        base_url=TENANT, entity_ids=None, tenant_concurrency=tenant
    )


async def try_acquire(g):
    """One ask of Redis, without waiting: a Lease, a Paused, or None when the tenant is
    full (a local Lease while Redis is down)."""
    await g.start()
    if not g.available:
        return g._handed(g._local_slot())
    if g._courier.task is not None:  # one talker at a time: let the courier finish
        await asyncio.gather(g._courier.task, return_exceptions=True)
    await g._courier.flush()
    answer = await g._courier.ask(1)
    if answer is None:
        return g._local_slot() if not g.available else None
    granted, wait_ms = answer
    if granted:
        g.held += 1
        return g._handed(Lease(shared=True))
    return Paused(wait_ms / 1000.0) if wait_ms >= 0 else None


async def held_in_store(redis_client, g):
    return {k: int(v) for k, v in (await redis_client.hgetall(g._keys[0])).items()}


async def flush(g):
    """Wait until every queued call of ``g`` has run."""
    if g._courier.task is not None:
        await asyncio.gather(g._courier.task)


async def test_processes_share_one_tenant_semaphore(valkey, redis_client):
    a, b = gate(valkey.url), gate(valkey.url)
    try:
        leases = [await try_acquire(a), await try_acquire(b), await try_acquire(a)]
        assert all(isinstance(lease, Lease) and lease.shared for lease in leases)
        assert await try_acquire(b) is None  # three of three taken, by two "processes"
        assert await held_in_store(redis_client, a) == {a.holder: 2, b.holder: 1}

        waiting = asyncio.ensure_future(b.acquire())
        a.release(leases[0], Learned(200))
        assert isinstance(await waiting, Lease)  # the freed slot went to the waiter
        await flush(a)
        assert await held_in_store(redis_client, a) == {a.holder: 1, b.holder: 2}
    finally:
        await a.aclose()
        await b.aclose()
    assert await held_in_store(redis_client, a) == {}  # closing gives everything back


async def test_tenants_are_keyed_by_base_url_and_entity(valkey):
    limits = SharedLimits(valkey.url)
    one = limits.namespace_for(TENANT, ["e1"])
    assert one == limits.namespace_for(TENANT, "e1")
    assert one != limits.namespace_for(TENANT, ["e2"])
    assert one != limits.namespace_for("https://rest.zuora.com", ["e1"])
    assert SharedLimits(valkey.url, namespace="billing").namespace_for(TENANT, None) == "billing"

    x = limits.gate(base_url=TENANT, entity_ids=["e1"], tenant_concurrency=1)
    y = limits.gate(base_url=TENANT, entity_ids=["e2"], tenant_concurrency=1)
    try:
        assert isinstance(await try_acquire(x), Lease)
        assert isinstance(await try_acquire(y), Lease)  # another entity: its own limit
    finally:
        await x.aclose()
        await y.aclose()


async def test_a_process_waiting_gets_its_fair_share(valkey):
    # `late` asks rarely, so it counts as waiting for a good while (10 poll intervals).
    greedy, late = gate(valkey.url, tenant=4), gate(valkey.url, tenant=4, poll_interval=0.5)
    try:
        held = [await try_acquire(greedy) for _ in range(4)]
        assert await try_acquire(late) is None  # full; `late` is now known to wait
        for lease in held[:2]:
            greedy.release(lease, Learned(200))
        await flush(greedy)
        # Two slots free, and `late` waits: `greedy` may hold no more than half.
        assert await try_acquire(greedy) is None
        assert isinstance(await try_acquire(late), Lease)
        assert isinstance(await try_acquire(late), Lease)
    finally:
        await greedy.aclose()
        await late.aclose()


async def test_a_spent_window_seen_by_one_process_pauses_the_others(valkey):
    a, b = gate(valkey.url), gate(valkey.url)
    try:
        lease = await try_acquire(a)
        spent = RateLimitInfo(remaining=0, reset=30.0)
        a.release(lease, Learned(429, spent, Verdict(pause_until=a._clock() + 30.0)))
        await flush(a)
        paused = await try_acquire(b)
        assert isinstance(paused, Paused)
        assert 25.0 < paused.seconds <= 30.0
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_too_many_429_cuts_the_tenant_limit_to_what_the_tenant_took(valkey, redis_client):
    """``_core.pacing``'s rule, applied for every process: the tenant took the requests in
    flight besides the refused one (a's and b's), the limit holds there, then climbs back
    by the server's clock (moved here by rewriting when the cut was)."""
    a, b = gate(valkey.url, tenant=8), gate(valkey.url, tenant=8)
    state = a._keys[3]
    try:
        mine = [await try_acquire(a) for _ in range(4)]
        theirs = [await try_acquire(b) for _ in range(2)]
        a.release(mine[0], Learned(429))  # Zuora's concurrency 429: no rate headers
        a.release(mine[1], Learned(429))  # one fewer of a's in flight: the tenant took 4
        await flush(a)
        assert float(await redis_client.hget(state, "limit")) == 4.0
        assert int(await redis_client.hget(state, "hold")) == HOLD * 1000

        await redis_client.hincrby(state, "cut_at", 3_600_000)  # the cut: just now
        b.release(theirs[0], Learned(200))
        await flush(b)
        assert float(await redis_client.hget(state, "limit")) == 4.0  # held there

        await redis_client.hincrby(state, "cut_at", -7_200_000)  # the cut: an hour ago
        b.release(theirs[1], Learned(200))
        await flush(b)
        assert await redis_client.hget(state, "limit") is None  # back at the tenant's 8
    finally:
        await a.aclose()
        await b.aclose()


async def test_the_quota_window_is_counted_down_by_every_process(valkey):
    a, b = gate(valkey.url, tenant=10), gate(valkey.url, tenant=10)
    try:
        lease = await try_acquire(a)
        a.release(lease, Learned(200, RateLimitInfo(remaining=3, reset=20.0)))
        await flush(a)
        sends = [await try_acquire(g) for g in (b, a, b, a)]
        assert [type(s) for s in sends] == [Lease, Lease, Lease, Paused]
        assert 15.0 < sends[3].seconds <= 20.0
        # "Plenty" from any process lifts the count-down.
        b.release(sends[0], Learned(200, plenty=True))
        await flush(b)
        assert isinstance(await try_acquire(a), Lease)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_lone_spent_429_shares_nothing(valkey):
    """A fluke (the local pacing said isolated): nobody else pauses."""
    a, b = gate(valkey.url), gate(valkey.url)
    try:
        lease = await try_acquire(a)
        spent = RateLimitInfo(remaining=0, reset=1.0)
        a.release(lease, Learned(429, spent, Verdict(isolated=True)))
        await flush(a)
        assert isinstance(await try_acquire(b), Lease)
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_unreachable_at_start_falls_back_to_local_limits_with_one_warning(caplog):
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    g = gate(dead, retry_after=60.0, timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="zuora_wf_async"):
        leases = [await g.acquire() for _ in range(5)]
    try:
        assert all(isinstance(lease, Lease) and not lease.shared for lease in leases)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "unreachable" in warnings[0].getMessage()
        assert g.store.fallbacks == 1
        assert not g.available
    finally:
        await g.aclose()


async def test_redis_unreachable_can_fail_instead():
    g = gate(f"redis://127.0.0.1:{_closed_port()}/0", on_unavailable="fail", timeout=0.5)
    try:
        with pytest.raises(SharedLimitsError, match="on_unavailable='fail'"):
            await g.acquire()
        with pytest.raises(SharedLimitsError):  # and keeps failing, without a new connect
            await g.acquire()
    finally:
        await g.aclose()


async def test_the_redis_password_never_reaches_logs_or_reprs(caplog):
    url = f"redis://user:s3cr3t-pw@127.0.0.1:{_closed_port()}/0"
    limits = SharedLimits(url, timeout=0.5)
    g = limits.gate(base_url=TENANT, entity_ids=None, tenant_concurrency=2)
    with caplog.at_level(logging.DEBUG, logger="zuora_wf_async"):
        await g.acquire()
    await g.aclose()
    assert "s3cr3t" not in repr(limits)
    assert "s3cr3t" not in caplog.text
    assert "127.0.0.1" in caplog.text


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "shared_limits"),
        ({"url": "http://localhost"}, "shared_limits"),
        ({"url": "redis://x", "lease_seconds": 0}, "lease_seconds"),
        ({"url": "redis://x", "on_unavailable": "ignore"}, "on_unavailable"),
        ({"url": "redis://x", "namespace": ""}, "namespace"),
    ],
)
def test_bad_settings_name_the_field(options, field):
    from zuora_wf_async import InvalidRequestError

    url = options.pop("url", None)
    with pytest.raises(InvalidRequestError) as caught:
        SharedLimits(url, **options)
    assert caught.value.field == field


def _closed_port():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- faults of the shared store ---------------------------------------------------------------

HOLDER_SCRIPT = Path(__file__).with_name("_holder.py")


def poll_until(condition, *, timeout=10.0, what="condition"):
    """Wait for a real process, bounded; returns the truthy value."""
    give_up = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def apoll_until(condition, *, timeout=10.0, what="condition"):
    give_up = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_the_slots_of_a_killed_process_come_back_within_the_lease(valkey, redis_client):
    lease_seconds = 0.6
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HOLDER_SCRIPT),
        valkey.url,
        "t",
        "3",
        str(lease_seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    me = gate(valkey.url, tenant=3, lease_seconds=lease_seconds)
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        holder = line.decode().split()[1]
        first_end = await redis_client.zscore(me._keys[1], holder)
        # Alive, it renews its lease (every lease/3) and keeps its three slots.
        await apoll_until(
            lambda: _renewed(redis_client, me, holder, first_end), what="a lease renewal"
        )
        assert await try_acquire(me) is None

        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), timeout=10)
        killed_at = time.monotonic()
        lease = await apoll_until(lambda: try_acquire(me), what="the dead process's slots")
        assert isinstance(lease, Lease)
        # Within the lease (plus the time our own polling takes on a busy machine).
        assert time.monotonic() - killed_at < lease_seconds + 5.0
        assert holder not in await held_in_store(redis_client, me)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await me.aclose()


async def _renewed(redis_client, g, holder, first_end):
    return (await redis_client.zscore(g._keys[1], holder) or 0) > first_end


async def test_redis_dropping_mid_use_falls_back_then_rebuilds_the_count(valkey, caplog):
    g = gate(valkey.url, tenant=5, retry_after=0.05, timeout=0.5)
    try:
        shared = [await try_acquire(g) for _ in range(2)]
        assert all(lease.shared for lease in shared)

        valkey.stop()
        with caplog.at_level(logging.WARNING, logger="zuora_wf_async"):
            g.release(shared[0], Learned(200))  # lost with Redis: counted locally
            await flush(g)
            local = await g.acquire()
            also_local = await g.acquire()
        assert not local.shared
        assert not also_local.shared
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        assert g.held == 3

        valkey.start()  # back, and empty, as after a restart
        back = await apoll_until(lambda: _shared_lease(g), what="Redis to come back")
        assert g.store.reconnects == 1
        assert g.held == 4
        client = redis.asyncio.Redis.from_url(valkey.url, decode_responses=True)
        try:
            # The store learned our count afresh: nothing lost, nothing counted twice.
            assert int(await client.hget(g._keys[0], g.holder)) == 4
            for lease in (shared[1], local, also_local, back):
                g.release(lease, Learned(200))
            await flush(g)
            assert int(await client.hget(g._keys[0], g.holder)) == 0
        finally:
            await client.aclose()
    finally:
        await g.aclose()


async def _shared_lease(g):
    lease = await g.acquire()
    if lease.shared:
        return lease
    g.release(lease)
    return None


async def test_a_caller_that_gives_up_waiting_leaks_no_slot(valkey, redis_client):
    a, b = gate(valkey.url, tenant=1), gate(valkey.url, tenant=1)
    try:
        lease = await try_acquire(a)
        with pytest.raises(SlotWaitExpired):
            await b.acquire(deadline_at=b._clock() + 0.1)
        a.release(lease, Learned(200))
        await flush(a)
        await flush(b)
        assert b.held == 0
        assert sum((await held_in_store(redis_client, a)).values()) == 0
        assert isinstance(await try_acquire(b), Lease)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_process_holding_slots_and_waiting_for_more_counts_once(valkey):
    # Two processes share 8 slots; each holds 4 and asks for one more, so each is both a
    # holder and a waiter. The fair share is 8 / 2 processes = 4, not 8 / 3 rounded up: a
    # process counted twice made every share smaller, and slots then went back to Redis
    # and sat free until someone polled.
    a, b = gate(valkey.url, tenant=8), gate(valkey.url, tenant=8)
    try:
        held = [await try_acquire(g) for g in (a, b) for _ in range(4)]
        assert all(isinstance(lease, Lease) for lease in held)
        assert await try_acquire(a) is None  # full: a now waits
        assert await try_acquire(b) is None  # and b too
        assert (a.keep, b.keep) == (4, 4)
        # Above its share, a process gives a freed slot back; at its share, it keeps it.
        a.release(held[0], Learned(200))
        assert a.held == 4  # parked for a's next request, not handed back to Redis
    finally:
        await a.aclose()
        await b.aclose()


async def test_one_watchdog_expires_each_waiter_at_its_own_deadline(valkey):
    a, b = gate(valkey.url, tenant=1), gate(valkey.url, tenant=1)
    try:
        lease = await try_acquire(a)
        patient = asyncio.ensure_future(b.acquire(deadline_at=b._clock() + 3600))
        cancelled = asyncio.ensure_future(b.acquire(deadline_at=b._clock() + 1800))
        await apoll_until(_queued(b, 2), what="both queued, each with its deadline")
        cancelled.cancel()
        with pytest.raises(SlotWaitExpired):  # the soonest deadline ends its wait alone
            await b.acquire(deadline_at=b._clock() + 0.05)
        assert not patient.done()
        a.release(lease, Learned(200))  # the freed slot goes to the one left
        assert isinstance(await patient, Lease)
        assert cancelled.cancelled()
        assert len(b._deadlines) == 0  # nothing left to watch
    finally:
        await a.aclose()
        await b.aclose()


def _queued(g, count):
    async def enough():
        return len(g._deadlines) >= count

    return enough


async def test_slots_handed_from_request_to_request_seldom_wake_the_courier(valkey):
    # Four requests at a time share two slots, as a batch shares its process's fair share:
    # each slot freed goes to the next request waiting, with no call to Redis and no
    # wake-up of the task that talks to it either, beyond its lazy flush and its periodic
    # ask (each at most every 0.1 s). The courier's wake-up time was kept a few
    # microseconds past the deadline it was computed from, and nearly every hand-off
    # woke it for nothing.
    rounds, workers = 100, 4
    g = gate(valkey.url, tenant=2)

    async def requests_one_after_another():
        for _ in range(rounds):
            lease = await g.acquire()
            assert isinstance(lease, Lease)
            await asyncio.sleep(0)  # the request's own work
            g.release(lease, Learned(200))

    try:
        await asyncio.gather(*(requests_one_after_another() for _ in range(workers)))
        sent = rounds * workers
        assert g.handoffs > sent / 2  # most slots went from request to request
        assert g.calls < sent / 10
        assert g.courier_wakes < sent / 10
    finally:
        await g.aclose()


async def test_a_process_alone_parks_its_slots_without_waking_the_courier(valkey):
    # Alone on its tenant, a process's freed slot waits (parked) for its next request,
    # which comes microseconds later; the courier only has to look by the parking
    # deadline. It was woken for every slot parked: once per request.
    requests = 300
    g = gate(valkey.url, tenant=2)
    try:
        for _ in range(requests):
            lease = await g.acquire()
            assert isinstance(lease, Lease)
            await asyncio.sleep(0)  # the request's own work
            g.release(lease, Learned(200))
        assert g.handoffs >= requests - 10  # taken from the parked slot, not from Redis
        assert g.courier_wakes < requests / 10
        assert g.held == 1  # one slot parked, given back to Redis after its deadline
        await apoll_until(_gave_back(g), what="the parked slot given back")
    finally:
        await g.aclose()


async def test_a_hand_off_does_not_wake_a_courier_asleep_until_the_flush(valkey, monkeypatch):
    # Nothing timed here: the lazy flush (and the ask after a refusal) are 30 s away.
    monkeypatch.setattr(_courier, "_LAZY_FLUSH_SECONDS", 30.0)
    g = gate(valkey.url, tenant=1)
    try:
        lease = await try_acquire(g)
        calls = g.calls
        first = asyncio.ensure_future(g.acquire())  # refused by Redis: waits in the process
        await _yield_until(lambda: g.calls == calls + 1 and _asleep(g))
        g.release(lease, Learned(200))  # handed over; the success is yet to tell
        lease = await first
        await _yield_until(lambda: _asleep(g))
        assert g._courier.sleeps_until == g._courier.flush_at  # the deadline itself, not past it
        second = asyncio.ensure_future(g.acquire())
        await _yield_until(lambda: any(not waiter.done() for waiter in g.waiters))
        wakes = g.courier_wakes
        g.release(lease, Learned(200))
        assert isinstance(await second, Lease)
        assert g.courier_wakes == wakes  # it flushes at its deadline anyway
        assert (g.handoffs, g.calls) == (2, calls + 1)  # no call to Redis for either
        g.release(second.result(), Learned(200))
    finally:
        await g.aclose()


def _gave_back(g):
    async def done():
        return g.held == 0

    return done


def _asleep(g):
    return g._courier.task is not None and g._courier.sleeps_until != -math.inf


async def _yield_until(condition, *, timeout=10.0):
    """Let other tasks run, without sleeping (no timer of the gate may fire meanwhile),
    until ``condition()``. Bounded by time, not by loop turns: a condition that waits for
    Redis's answer can take thousands of turns on a busy machine, where the server's
    process gets the CPU late."""
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0)
