"""The fake's ``latency``: counted from the request's arrival, ended early by closing.

Deterministic without timing anything: a latency of an hour either is already over (counted
from an arrival an hour ago) or the test would hang until pytest's own limit.
"""

from __future__ import annotations

import asyncio
import json

from zuora_wf_async.testing import FakeZuora, Headers
from zuora_wf_async.testing._backend import Answer
from zuora_wf_async.testing._records import Incoming

HOUR = 3600.0


def _run_request(token: str, arrived_at: float | None) -> Incoming:
    return Incoming(
        method="POST",
        path="/workflows/42/run",
        query={},
        headers=Headers(
            (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
        ),
        raw_body=json.dumps({"n": 1}).encode(),
        arrived_at=arrived_at,
    )


async def test_the_latency_counts_from_the_requests_arrival():
    async with FakeZuora(latency=HOUR) as fake:
        arrived_an_hour_ago = asyncio.get_running_loop().time() - HOUR
        answer = await asyncio.wait_for(
            fake.handle(_run_request(fake.issue_token(), arrived_an_hour_ago)), HOUR / 2
        )
        assert isinstance(answer, Answer)
        assert answer.status == 200
        assert len(fake.executions) == 1


async def test_closing_the_fake_ends_a_latency_wait():
    fake = await FakeZuora(latency=HOUR).start()
    now = asyncio.get_running_loop().time()
    waiting = asyncio.create_task(fake.handle(_run_request(fake.issue_token(), now)))
    await fake.wait_for_in_flight(1)
    assert not waiting.done()  # an hour to go
    await fake.close()
    answer = await asyncio.wait_for(waiting, HOUR / 2)
    assert isinstance(answer, Answer)
    assert fake.in_flight == 0


def test_headers_lookups_after_the_first_use_the_same_index():
    headers = Headers((("X-Dup", "1"), ("Accept", "a"), ("x-dup", "2")))
    assert headers.get("ACCEPT") == "a"
    assert headers.get("x-DUP") == "1, 2"  # joined, as a first lookup would
    assert headers.get("missing", "fallback") == "fallback"
    assert "accept" in headers
    assert "missing" not in headers
    assert headers.getall("X-DUP") == ["1", "2"]
    headers.getall("x-dup").append("3")  # a copy: the index stays as received
    assert headers.getall("x-dup") == ["1", "2"]
