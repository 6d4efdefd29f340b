"""The call pipeline's promises, each driven against a server the test scripts byte for byte.

Every wait of a call ends by its deadline (a client-wide pause, a slow or failing token
endpoint); one token fetch serves everyone waiting, success or failure; a raising hook or
``key_fn`` never changes a result; 409 "in progress" is asked again until the deadline;
headers are read case-insensitively. No test asserts a duration: the clock is injected
where the client waits, and where a real wait is bounded (a token fetch that never ends)
the assertion is on what came out, not on when.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    IdempotencyInProgressError,
    InvalidRequestError,
    OAuthCredentials,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    WorkflowClient,
)
from zuora_wf_async.testing import ManualClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def run_body(run_id: int = 400) -> dict[str, Any]:
    return {
        "id": run_id,
        "name": f"WF-396-{run_id:08d}",
        "originalWorkflowId": 396,
        "status": "Queued",
        "type": "Workflow::Instance",
        "createdAt": "2019-09-19 18:25:33 UTC",
        "updatedAt": "2019-09-19 18:25:33 UTC",
    }


async def ok_run(_request: web.Request) -> web.StreamResponse:
    return web.json_response(run_body())


async def active_workflow(request: web.Request) -> web.StreamResponse:
    workflow_id = int(request.match_info["workflow_id"])
    return web.json_response({"id": workflow_id, "name": "WF", "status": "Active"})


async def good_token(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600})


class Scripted:
    """A Workflow API on 127.0.0.1 whose token and run answers each test sets."""

    def __init__(self) -> None:
        self.token: Handler = good_token
        self.run: Handler = ok_run
        self.token_requests = 0
        self.run_requests = 0
        self.base_url = ""

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        await request.read()
        return await self.token(request)

    async def _run(self, request: web.Request) -> web.StreamResponse:
        self.run_requests += 1
        await request.read()
        return await self.run(request)


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    app = web.Application()
    app.router.add_post("/oauth/token", scripted._token)
    app.router.add_post("/workflows/{workflow_id}/run", scripted._run)
    app.router.add_get("/workflows/{workflow_id}", active_workflow)  # run_many's pre-flight
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    scripted.base_url = f"http://127.0.0.1:{port}"
    yield scripted
    await runner.cleanup()


def oauth() -> OAuthCredentials:
    return OAuthCredentials(client_id="client-1", client_secret="secret-1")


# -- 1. a client-wide pause never outlives a call's deadline ------------------------------
# A 429 that says the window is spent (RateLimit-Remaining: 0) pauses every new request
# until the reset; a 429 with quota left only cuts concurrency (see _core/pacing.py).


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "30", "RateLimit-Remaining": "0"},
        {"RateLimit-Remaining": "0", "RateLimit-Reset": "30"},
    ],
    ids=["retry-after", "reset"],
)
async def test_a_pause_longer_than_a_later_calls_deadline_fails_that_call_at_once(server, headers):
    clock = ManualClock()

    async def throttled(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "slow down"}, status=429, headers=headers)

    server.run = throttled
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        retry=RetryPolicy(max_attempts=1, deadline=5),
    ) as zuora:
        with pytest.raises(RateLimitError):
            await zuora.run_workflow(396)  # the first call sees the 429 itself
        server.run = ok_run
        with pytest.raises(RateLimitError) as caught:
            await zuora.run_workflow(396)  # a later call meets the pause it left behind

    assert "asked this client to wait 30s" in str(caught.value)
    assert "deadline" in str(caught.value)
    assert caught.value.retry_after == 30
    assert caught.value.may_have_run is False
    assert server.run_requests == 1  # the later call sent nothing
    assert clock() == 0  # nobody slept through the pause


async def test_a_call_with_time_for_the_pause_waits_it_then_sends(server):
    clock = ManualClock()

    async def throttled(_request: web.Request) -> web.StreamResponse:
        server.run = ok_run
        return web.json_response({}, status=429, headers={"Retry-After": "3"})

    server.run = throttled
    async with WorkflowClient(
        server.base_url, auth=BearerToken("tok"), clock=clock, sleep=clock.sleep
    ) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == 400
    assert server.run_requests == 2
    assert clock() == pytest.approx(3.0)


async def test_a_huge_retry_after_fails_fast_instead_of_hanging(server):
    clock = ManualClock()

    async def throttled(_request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {}, status=429, headers={"Retry-After": "99999999", "RateLimit-Remaining": "0"}
        )

    server.run = throttled
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        retry=RetryPolicy(deadline=5),
    ) as zuora:
        for _ in range(2):
            with pytest.raises(RateLimitError):
                await zuora.run_workflow(396)
    assert server.run_requests == 1
    assert clock() == 0


# -- 2. a slow token endpoint holds no caller past its deadline ---------------------------


async def test_a_token_fetch_that_never_ends_fails_each_call_by_its_own_deadline(server):
    never = asyncio.Event()

    async def hanging(_request: web.Request) -> web.StreamResponse:
        await never.wait()
        raise AssertionError("unreachable")

    server.token = hanging
    async with WorkflowClient(
        server.base_url, auth=oauth(), timeout=3600, retry=RetryPolicy(deadline=0.2)
    ) as zuora:
        results = await asyncio.gather(
            *(zuora.run_workflow(396) for _ in range(5)), return_exceptions=True
        )
    assert all(isinstance(result, RequestTimeoutError) for result in results)
    assert all("not sent" in str(result) for result in results)
    # On a busy machine a call's 0.2 s can run out before it reaches the token wait (it
    # then says which wait it was in); the calls that waited for the token say so.
    assert any("token" in str(result) for result in results)
    assert not any(result.may_have_run for result in results)  # type: ignore[union-attr]
    assert server.token_requests <= 1  # five waiters, at most one fetch
    assert server.run_requests == 0
    never.set()


# -- 3. a failing token endpoint sees one request per wave, not one per caller ------------


async def test_a_failing_token_fetch_fails_every_waiter_with_one_request(server):
    gate = asyncio.Event()

    async def failing(_request: web.Request) -> web.StreamResponse:
        await gate.wait()  # let all 100 callers queue behind this one fetch
        return web.json_response({"message": "down"}, status=500)

    reached = asyncio.Event()

    async def failing_once_reached(request: web.Request) -> web.StreamResponse:
        reached.set()
        return await failing(request)

    server.token = failing_once_reached
    # 100 slots, so all 100 calls wait for the token at once (with fewer, the calls
    # queued for a slot would meet the failure later, as a second wave with its own fetch).
    async with WorkflowClient(
        server.base_url, auth=oauth(), max_concurrency=100, retry=RetryPolicy(max_attempts=1)
    ) as zuora:
        calls = [asyncio.ensure_future(zuora.run_workflow(396)) for _ in range(100)]
        await reached.wait()
        gate.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert server.token_requests == 1
        assert all(isinstance(result, ServerError) for result in results)
        # Each waiter has an error of its own, with its own bookkeeping.
        assert len({id(result) for result in results}) == 100
        assert not any(result.may_have_run for result in results)  # type: ignore[union-attr]

        # The failure is not cached: the next call tries again, and succeeds.
        server.token = good_token
        run = await zuora.run_workflow(396)
    assert run.id == 400
    assert server.token_requests == 2


async def test_retrying_calls_share_each_new_fetch(server):
    clock = ManualClock()
    failures = 2

    async def flaky(_request: web.Request) -> web.StreamResponse:
        nonlocal failures
        if failures:
            failures -= 1
            return web.json_response({}, status=503)
        return await good_token(_request)

    server.token = flaky
    async with WorkflowClient(
        server.base_url, auth=oauth(), clock=clock, sleep=clock.sleep, rng=random.Random(1)
    ) as zuora:
        runs = await asyncio.gather(*(zuora.run_workflow(396) for _ in range(20)))
    assert [run.id for run in runs] == [400] * 20
    assert server.token_requests <= 3 + 20  # never 20 per failure wave
    assert zuora.token_fetches == 1


# -- 4. a raising hook or key_fn never changes a result -----------------------------------


async def test_a_raising_on_retry_hook_is_logged_and_the_batch_completes(server, caplog):
    clock = ManualClock()
    seen = 0
    keys: set[str] = set()

    async def first_attempt_fails(request: web.Request) -> web.StreamResponse:
        nonlocal seen
        key = request.headers["Idempotency-Key"]
        if key not in keys:
            keys.add(key)
            return web.json_response({}, status=503)
        seen += 1
        return web.json_response(run_body(seen))

    def broken_hook(_event: object) -> None:
        raise RuntimeError("hook bug")

    server.run = first_attempt_fails
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        on_retry=broken_hook,
        on_request=broken_hook,
        on_response=broken_hook,
        max_concurrency=1,
    ) as zuora:
        outcomes = await zuora.run_many(396, [{"n": n} for n in range(10)], on_progress=broken_hook)
    assert [outcome.error for outcome in outcomes] == [None] * 10
    assert "hook raised" in caplog.text


async def test_a_raising_key_fn_fails_its_item_alone(server):
    def key_of(params: Any) -> str:
        return f"acct-{params['account']}"  # KeyError for the row without one

    async with WorkflowClient(server.base_url, auth=BearerToken("tok")) as zuora:
        outcomes = await zuora.run_many(
            396, [{"account": "A"}, {"other": 1}, {"account": "C"}], key_fn=key_of
        )
    assert [outcome.ok for outcome in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert isinstance(error, InvalidRequestError)
    assert error.field == "items[1]"
    assert "KeyError" in str(error)
    assert server.run_requests == 2


# -- 5. 409 in progress is asked again until the deadline ---------------------------------


async def test_409_in_progress_is_retried_past_max_attempts_until_the_answer(server):
    clock = ManualClock()
    in_progress = 6  # more than max_attempts

    async def busy(request: web.Request) -> web.StreamResponse:
        nonlocal in_progress
        if in_progress:
            in_progress -= 1
            return web.json_response(
                {"message": "A request with the same Idempotency-Key is in progress"}, status=409
            )
        return web.json_response(run_body())

    server.run = busy
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(0),
        retry=RetryPolicy(max_attempts=3, deadline=120),
    ) as zuora:
        run = await zuora.run_workflow(396, idempotency_key="order-1")
    assert run.id == 400
    assert server.run_requests == 7


async def test_409_in_progress_at_the_deadline_says_the_run_may_exist(server):
    clock = ManualClock()

    async def busy(_request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"message": "A request with the same Idempotency-Key is in progress"}, status=409
        )

    server.run = busy
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(0),
        retry=RetryPolicy(max_attempts=2, deadline=10),
    ) as zuora:
        with pytest.raises(IdempotencyInProgressError) as caught:
            await zuora.run_workflow(396, idempotency_key="order-1")
    assert caught.value.may_have_run is True
    assert caught.value.attempts > 2
    assert clock() < 10


async def test_a_final_4xx_says_nothing_ran(server):
    async def bad(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "bad"}, status=400)

    server.run = bad
    async with WorkflowClient(server.base_url, auth=BearerToken("tok")) as zuora:
        with pytest.raises(Exception) as caught:  # noqa: PT011 -- the type is asserted below
            await zuora.run_workflow(396)
    assert caught.value.may_have_run is False  # type: ignore[attr-defined]


# -- 6. headers are case-insensitive -------------------------------------------------------


@pytest.mark.parametrize("name", ["content-encoding", "Content-Encoding", "CONTENT-ENCODING"])
async def test_content_encoding_is_read_whatever_its_case(server, name):
    async def gzipped(_request: web.Request) -> web.StreamResponse:
        body = gzip.compress(json.dumps(run_body()).encode())
        response = web.Response(body=body, content_type="application/json")
        response.headers[name] = "gzip"
        return response

    server.run = gzipped
    async with WorkflowClient(server.base_url, auth=BearerToken("tok")) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == 400


@pytest.mark.parametrize("name", ["retry-after", "RETRY-AFTER"])
async def test_retry_after_is_read_whatever_its_case(server, name):
    clock = ManualClock()

    async def throttled(_request: web.Request) -> web.StreamResponse:
        server.run = ok_run
        response = web.json_response({}, status=429)
        response.headers[name] = "4"
        return response

    server.run = throttled
    async with WorkflowClient(
        server.base_url, auth=BearerToken("tok"), clock=clock, sleep=clock.sleep
    ) as zuora:
        await zuora.run_workflow(396)
    assert clock() == pytest.approx(4.0)


# -- the wait for a free slot ends by the deadline too ------------------------------------


async def test_a_call_waiting_for_a_slot_fails_by_its_deadline_with_nothing_sent(server):
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_only_slot(_request: web.Request) -> web.StreamResponse:
        held.set()
        await release.wait()
        return web.json_response(run_body())

    server.run = hold_the_only_slot
    async with WorkflowClient(server.base_url, auth=BearerToken("tok"), max_concurrency=1) as zuora:
        first = asyncio.ensure_future(zuora.run_workflow(396))
        await held.wait()
        with pytest.raises(RequestTimeoutError) as caught:
            await zuora.run_workflow(396, retry=RetryPolicy(deadline=0.2))
        assert "no free slot" in str(caught.value)
        assert caught.value.may_have_run is False
        assert server.run_requests == 1  # the waiting call sent nothing
        release.set()
        assert (await first).id == 400
        assert zuora.in_flight == 0


# -- the delay schedule: backoff's expo, capped, with full jitter from the client's rng ----


class FixedRandom(random.Random):
    """Always draws ``value``: each delay is exactly ``value`` times its ceiling."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("draw", "delays"),
    [
        pytest.param(1.0, [0.5, 1.0, 2.0, 3.0, 3.0], id="doubles-from-base-up-to-the-cap"),
        pytest.param(0.5, [0.25, 0.5, 1.0, 1.5, 1.5], id="full-jitter-scales-each-ceiling"),
    ],
)
async def test_resends_wait_on_a_capped_doubling_schedule_jittered_by_the_rng(server, draw, delays):
    clock = ManualClock()
    failures = len(delays)

    async def unavailable(_request: web.Request) -> web.StreamResponse:
        nonlocal failures
        if failures:
            failures -= 1
            return web.json_response({"message": "unavailable"}, status=503)
        return web.json_response(run_body())

    server.run = unavailable
    waited: list[float] = []
    async with WorkflowClient(
        server.base_url,
        auth=BearerToken("tok"),
        clock=clock,
        sleep=clock.sleep,
        rng=FixedRandom(draw),
        retry=RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=3.0, deadline=None),
        on_retry=lambda event: waited.append(event.delay),
    ) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == 400
    assert waited == delays
    assert clock() == pytest.approx(sum(delays))
