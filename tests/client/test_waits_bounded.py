"""``wait_for_run(timeout=...)`` bounds the whole wait: polls, their retries, permit waits.

A poll used to run under the client's whole ``RetryPolicy`` (5 attempts, a 300 s deadline),
whatever was left of the wait: a hung poll held ``wait_for_run(timeout=1)`` for the
attempt's full timeout, a failing poll backed off past the wait's end, and a wait queued
for a poll permit held by another wait waited as long as that one.

Each test talks to a plain ``aiohttp.web`` app on 127.0.0.1 whose run-detail handler the
test sets. Retries and backoff run on a ManualClock, so the assertions read the injected
clock. A hung socket read can only end in real time: those tests use the real clock with a
wait timeout of 1 s, a client ``timeout`` of an hour, and a generous ``asyncio.timeout``
that fails the test instead of letting it hang; they assert what came out, not when.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    NotFoundError,
    RequestTimeoutError,
    RetryPolicy,
    RunStatus,
    RunWaitTimeoutError,
    ServerError,
    WorkflowClient,
)
from zuora_wf_async.testing import ManualClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Far longer than any wait here: only the wait's own timeout can end these tests in time.
HOUR = 3600.0
BOUND = 30.0  # fails the test instead of hanging it; never reached when the bound holds


class FixedRandom(random.Random):
    """Always draws ``value``: backoff delays and poll jitter become exact."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def detail(run_id: int, status: str = "Processing") -> dict[str, Any]:
    return {
        "id": run_id,
        "name": f"WF-1-{run_id:08d}",
        "originalWorkflowId": "1",
        "status": status,
        "type": "Workflow::Instance",
        "createdAt": "2026-11-28 10:00:00 UTC",
        "updatedAt": "2026-11-28 10:00:01 UTC",
        "tasks": {"processing": 1, "total": 1},
    }


class RunDetails:
    """A run-detail endpoint on 127.0.0.1 whose answer each test sets."""

    def __init__(self) -> None:
        self.answer: Handler = self.processing
        self.requests: list[int] = []
        self.base_url = ""
        # Hung handlers wait on this; teardown sets it so no handler outlives the test.
        self.release = asyncio.Event()
        self.reached = asyncio.Event()  # set by the first request

    async def processing(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(detail(int(request.match_info["run_id"])))

    async def hang(self, _request: web.Request) -> web.StreamResponse:
        await self.release.wait()
        return web.json_response({}, status=503)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(int(request.match_info["run_id"]))
        self.reached.set()
        return await self.answer(request)


@pytest.fixture
async def server() -> AsyncIterator[RunDetails]:
    details = RunDetails()
    app = web.Application()
    app.router.add_get("/workflows/workflow_runs/{run_id}", details.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    details.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield details
    details.release.set()
    await runner.cleanup()


def manual_client(server: RunDetails, clock: ManualClock, **options: Any) -> WorkflowClient:
    options.setdefault("rng", FixedRandom(0.9))
    return WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        timeout=HOUR,
        **options,
    )


def real_time_client(server: RunDetails, **options: Any) -> WorkflowClient:
    return WorkflowClient(server.base_url, auth=BearerToken("tok"), timeout=HOUR, **options)


# -- a poll's retries end with the wait ----------------------------------------------------


async def test_a_failing_poll_stops_retrying_when_the_wait_runs_out(server):
    # Backoff with the draw 0.9: 0.45 s, then 0.9 s. The second would end past the 1 s
    # wait, so the wait ends there; under the client's own policy the poll went on to
    # 5 attempts (0.45 + 0.9 + 1.8 + 3.6 = 6.75 s) and raised ServerError.
    clock = ManualClock()

    async def unavailable(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "down"}, status=503)

    server.answer = unavailable
    async with manual_client(server, clock) as client:
        with pytest.raises(RunWaitTimeoutError) as caught:
            await client.wait_for_run(5, timeout=1)
    error = caught.value
    assert clock() <= 1.0
    assert clock.sleeps == [0.45]
    assert len(server.requests) == 2
    assert (error.run_id, error.timeout, error.polls, error.last_detail) == (5, 1.0, 0, None)
    assert isinstance(error.__cause__, ServerError)
    assert "no poll was answered" in str(error)


async def test_a_retry_after_longer_than_the_wait_ends_it_at_once(server):
    clock = ManualClock()

    async def throttled(_request: web.Request) -> web.StreamResponse:
        return web.json_response({}, status=429, headers={"Retry-After": "30"})

    server.answer = throttled
    async with manual_client(server, clock) as client:
        with pytest.raises(RunWaitTimeoutError) as caught:
            await client.wait_for_run(5, timeout=5)
    assert clock() == 0.0  # nobody slept through the 30 s: it would end past the wait
    assert len(server.requests) == 1
    assert caught.value.polls == 0


async def test_a_later_failing_poll_ends_the_wait_with_the_last_detail_seen(server):
    clock = ManualClock()
    answered = 0

    async def first_ok_then_down(request: web.Request) -> web.StreamResponse:
        nonlocal answered
        answered += 1
        if answered == 1:
            return await server.processing(request)
        return web.json_response({"message": "down"}, status=503)

    server.answer = first_ok_then_down
    async with manual_client(server, clock) as client:
        with pytest.raises(RunWaitTimeoutError) as caught:
            # Poll at 0 (Processing), then at 1.64 (2 s less the 0.9 draw's jitter): 503,
            # a resend 0.45 s later, 503, and the next backoff (0.9 s) ends past 3 s.
            await client.wait_for_run(5, timeout=3)
    error = caught.value
    assert clock() == pytest.approx(2.09)
    assert len(server.requests) == 3
    assert error.polls == 1
    assert error.last_detail is not None
    assert error.last_detail.status == RunStatus.PROCESSING
    assert isinstance(error.__cause__, ServerError)


async def test_a_final_verdict_still_ends_the_wait_as_itself(server):
    # Only failures a retry could cure become the wait's timeout; a 404 stays a 404.
    clock = ManualClock()

    async def gone(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "no such run"}, status=404)

    server.answer = gone
    async with manual_client(server, clock) as client:
        with pytest.raises(NotFoundError):
            await client.wait_for_run(5, timeout=1)
    assert len(server.requests) == 1


async def test_a_poll_that_exhausts_its_attempts_early_raises_its_own_error(server):
    # Attempts, not time, ended this poll: the wait had most of its hour left.
    clock = ManualClock()

    async def unavailable(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "down"}, status=503)

    server.answer = unavailable
    async with manual_client(server, clock) as client:
        with pytest.raises(ServerError):
            await client.wait_for_run(5, timeout=HOUR, retry=RetryPolicy(max_attempts=2))
    assert len(server.requests) == 2


# -- a hung poll ends with the wait ---------------------------------------------------------


async def test_a_hung_poll_ends_at_the_waits_timeout_not_the_attempts(server):
    server.answer = server.hang
    async with real_time_client(server) as client:
        async with asyncio.timeout(BOUND):
            with pytest.raises(RunWaitTimeoutError) as caught:
                await client.wait_for_run(5, timeout=1)
    error = caught.value
    assert (error.polls, error.last_detail) == (0, None)
    assert isinstance(error.__cause__, RequestTimeoutError)
    assert server.requests == [5]  # no resend after the wait's end


# -- waiting for a poll permit ends with the wait -------------------------------------------


async def test_a_wait_queued_behind_a_hung_poll_ends_by_its_own_timeout(server):
    server.answer = server.hang
    async with real_time_client(server, poll_concurrency=1) as client:
        holder = asyncio.ensure_future(client.wait_for_run(1, timeout=None))
        await server.reached.wait()  # the holder's poll has its permit, and hangs
        try:
            async with asyncio.timeout(BOUND):
                with pytest.raises(RunWaitTimeoutError) as caught:
                    await client.wait_for_run(2, timeout=1)
        finally:
            holder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await holder
    error = caught.value
    assert (error.run_id, error.polls, error.last_detail) == (2, 0, None)
    assert "poll permit" in str(error)
    assert server.requests == [1]  # the queued wait never polled
