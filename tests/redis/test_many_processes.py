"""Real processes, each with its own WorkflowClient, sharing one tenant through Redis."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import redis.asyncio

from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan

WORKER = Path(__file__).with_name("_worker.py")


async def start_worker(config: dict[str, object]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), json.dumps(config), stdout=asyncio.subprocess.PIPE
    )


async def summary_of(worker: asyncio.subprocess.Process) -> dict[str, object]:
    out, _ = await asyncio.wait_for(worker.communicate(), timeout=120)
    assert worker.returncode == 0
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_four_processes_never_exceed_the_tenant_limit_together(valkey):
    tenant, runs = 6, 60
    async with FakeZuora(latency=0.01) as fake:
        base = {
            "base_url": fake.base_url,
            "token": fake.issue_token(),
            "redis_url": valkey.url,
            "namespace": "four",
            "tenant": tenant,
            "runs": runs,
            "deadline": 120,
        }
        workers = [await start_worker({**base, "track_id": f"w{i}"}) for i in range(4)]
        summaries = [await summary_of(worker) for worker in workers]

        assert [s["ok"] for s in summaries] == [runs] * 4
        # Each would put 32 in flight alone; together, as the fake counts, never above 6.
        assert fake.peak_in_flight <= tenant
        assert len(fake.executions) == 4 * runs
        senders = {r.headers.get("Zuora-Track-Id") for r in fake.requests_to("run")}
        assert senders == {"w0", "w1", "w2", "w3"}


async def test_a_spent_window_429_seen_by_one_process_pauses_the_others(valkey):
    started = time.monotonic()
    # The quota window starts with the fake, so the test ends well inside it.
    quota = Fault.quota(5, window=600.0)
    async with FakeZuora(
        faults=FaultPlan(rules=[quota]), clock=lambda: time.monotonic() - started
    ) as fake:
        token = fake.issue_token()
        # Someone outside the shared limits spends the tenant's window first.
        from zuora_wf_async import BearerToken, WorkflowClient

        async with WorkflowClient(fake.base_url, auth=BearerToken(token)) as outsider:
            await asyncio.gather(*(outsider.run_workflow(396, {"n": n}) for n in range(5)))
        base = {
            "base_url": fake.base_url,
            "token": token,
            "redis_url": valkey.url,
            "namespace": "paused",
            "tenant": 40,
            "runs": 10,
            "deadline": 30,  # far shorter than the 10-minute window: calls end, not sent
        }
        first = await start_worker({**base, "track_id": "first"})
        store = redis.asyncio.Redis.from_url(valkey.url, decode_responses=True)
        try:
            # Poll the store (bounded) until the first process's 429 paused the tenant.
            give_up = time.monotonic() + 60
            while not await store.hget("zwa:{paused}:state", "paused_until"):
                assert time.monotonic() < give_up, "no shared pause appeared"
                await asyncio.sleep(0.02)
        finally:
            await store.aclose()
        others = [await start_worker({**base, "track_id": f"other{i}"}) for i in range(3)]
        first_summary = await summary_of(first)
        other_summaries = [await summary_of(worker) for worker in others]

    assert first_summary["answers_429"] >= 1
    assert first_summary["ok"] == 0
    for summary in other_summaries:
        # Paused by what the first process saw: not one request sent, not one 429 collected.
        assert summary == {"ok": 0, "paused_not_sent": 10, "other_errors": [], "answers_429": 0}
    sent_by_others = [
        r
        for r in fake.requests_to("run")
        if r.headers.get("Zuora-Track-Id", "").startswith("other")
    ]
    assert sent_by_others == []
