"""What the fake keeps per request, and the shortcuts its run answer takes.

A batch of thousands of runs against one fake (the goodput benchmark, a user's load test)
records every request. What those records cost the garbage collector is measured here by
counting objects, never by timing: each collection pauses every request the fake holds.
"""

from __future__ import annotations

import gc
import json

from zuora_wf_async.testing import FakeZuora, Headers, ManualClock
from zuora_wf_async.testing._backend import Answer
from zuora_wf_async.testing._records import Incoming

RUNS = 200


def _run_request(token: str, n: int) -> Incoming:
    return Incoming(
        method="POST",
        path="/workflows/396/run",
        query={},
        headers=Headers(
            (
                ("Host", "127.0.0.1:8080"),
                ("Authorization", f"Bearer {token}"),
                ("Idempotency-Key", f"key-{n}"),
                ("Zuora-Track-Id", "batch-1"),
                ("Accept", "*/*"),
                ("Accept-Encoding", "gzip, deflate"),
                ("User-Agent", "a-client/1.0"),
                ("Content-Length", "8"),
                ("Content-Type", "application/json"),
            )
        ),
        raw_body=json.dumps({"n": n}).encode(),
    )


async def test_each_recorded_run_leaves_few_objects_for_the_collector():
    async with FakeZuora() as fake:
        token = fake.issue_token()
        warm_up = [_run_request(token, -n - 1) for n in range(20)]
        requests = [_run_request(token, n) for n in range(RUNS)]
        for request in warm_up:
            await fake.handle(request)
        gc.collect()
        gc.disable()
        try:
            objects_before, counted_before = len(gc.get_objects()), gc.get_count()[0]
            for request in requests:
                answer = await fake.handle(request)
                assert isinstance(answer, Answer)
                assert answer.status == 200
            # What a collection would have to look at before it ran (it starts one every
            # 700 of these), and what stays for every later full collection.
            counted = (gc.get_count()[0] - counted_before) / RUNS
            gc.collect()
            kept = (len(gc.get_objects()) - objects_before) / RUNS
        finally:
            gc.enable()
        assert len(fake.executions) == RUNS + len(warm_up)
        # The request and response headers were a tuple per header plus a list per name
        # (29 and 18 per run); now a dict of strings each, which the collector ignores.
        assert counted <= 16, counted
        assert kept <= 8, kept


def test_headers_keep_every_pair_when_a_name_repeats_exactly():
    headers = Headers((("X-Dup", "1"), ("Accept", "a"), ("X-Dup", "2")))
    assert headers.items_as_sent() == (("X-Dup", "1"), ("Accept", "a"), ("X-Dup", "2"))
    assert headers["x-dup"] == "1, 2"
    assert headers.getall("X-DUP") == ["1", "2"]
    assert list(headers) == ["X-Dup", "Accept"]
    assert len(headers) == 2


def test_headers_from_a_mapping_keep_its_order_and_spelling():
    headers = Headers({"Content-Type": "application/json", "X-Mine": "v"})
    assert headers.items_as_sent() == (("Content-Type", "application/json"), ("X-Mine", "v"))
    assert headers.get("x-mine") == "v"
    assert "CONTENT-TYPE" in headers
    assert repr(headers) == "Headers([('Content-Type', 'application/json'), ('X-Mine', 'v')])"


async def test_a_runs_parameters_are_its_own_copy_of_the_recorded_body(wire, fake):
    result = await wire.run(fake, 42, {"n": 1, "tags": ["a"]})
    assert result.status == 200
    [request] = fake.requests
    [execution] = fake.executions
    assert execution.params == request.body == {"n": 1, "tags": ["a"]}
    assert execution.params is not request.body  # the record stays as received


async def test_a_form_encoded_run_body_is_still_refused_as_json(wire, fake):
    result = await wire.run(
        fake, 42, data=b"n=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert result.status == 400
    assert fake.requests[0].body == {"n": "1"}  # recorded as the form it was
    assert fake.executions == []


async def test_run_timestamps_follow_the_clock_second_by_second(wire, start_fake):
    clock = ManualClock()
    fake = await start_fake(clock=clock)
    stamps = []
    for step in (0.4, 0.5, 0.2, 59.0):  # at 0.4, 0.9, 1.1 and 60.1 seconds
        clock.advance(step)
        stamps.append((await wire.run(fake, 42)).body["createdAt"])
    assert stamps == [
        "2024-01-01 00:00:00 UTC",
        "2024-01-01 00:00:00 UTC",
        "2024-01-01 00:00:01 UTC",
        "2024-01-01 00:01:00 UTC",
    ]
