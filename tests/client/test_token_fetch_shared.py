"""One token fetch shared by every caller waiting: its failure costs the retry budget once,
and a fetch every waiter has given up on is cancelled so the next call starts afresh.

A failed shared fetch used to charge the client's ``RetryBudget`` once per waiter: 200
calls behind one fetch that failed once spent 200 retries on one failure and 100 of them
were refused. A hung first fetch went on for the client's ``timeout`` after its waiters
had given up, and every new call joined it and gave up too.

The token endpoint is a plain ``aiohttp.web`` app on 127.0.0.1 that each test scripts.
Backoff runs on a ManualClock. A hung fetch can only be given up on in real time: those
tests wait a 1 s deadline, with a client ``timeout`` of an hour and a generous
``asyncio.timeout`` that fails the test instead of letting it hang.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from zuora_wf_async import (
    OAuthCredentials,
    RequestTimeoutError,
    RetryBudget,
    RetryPolicy,
    WorkflowClient,
)
from zuora_wf_async.testing import ManualClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOUR = 3600.0
BOUND = 30.0  # fails the test instead of hanging it; never reached when the fix holds


async def good_token(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600})


async def ok_run(_request: web.Request) -> web.StreamResponse:
    return web.json_response(
        {
            "id": 400,
            "name": "WF-396-00000400",
            "originalWorkflowId": 396,
            "status": "Queued",
            "type": "Workflow::Instance",
            "createdAt": "2019-09-19 18:25:33 UTC",
            "updatedAt": "2019-09-19 18:25:33 UTC",
        }
    )


class TokenEndpoint:
    """``/oauth/token`` and a run endpoint on 127.0.0.1; ``answers`` scripts the token
    requests in order (the last one answers every later request)."""

    def __init__(self) -> None:
        self.answers: list[Handler] = [good_token]
        self.token_requests = 0
        self.run_requests = 0
        self.base_url = ""
        self.reached = asyncio.Event()  # a token request has arrived
        self.release = asyncio.Event()  # hung handlers wait on this; teardown sets it
        self.hung_ended = asyncio.Event()  # a hung handler was left (its client went away)

    async def token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        answer = self.answers[min(self.token_requests, len(self.answers)) - 1]
        await request.read()
        self.reached.set()
        return await answer(request)

    async def hang(self, _request: web.Request) -> web.StreamResponse:
        try:
            await self.release.wait()
        finally:
            self.hung_ended.set()
        return await good_token(_request)

    async def run(self, request: web.Request) -> web.StreamResponse:
        self.run_requests += 1
        await request.read()
        return await ok_run(request)


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    served = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/oauth/token", served.token)
    app.router.add_post("/workflows/{workflow_id}/run", served.run)
    # handler_cancellation: a hung handler ends when its client drops the connection,
    # which is how a test sees that the client cancelled a fetch.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield served
    served.release.set()
    await runner.cleanup()


def oauth() -> OAuthCredentials:
    return OAuthCredentials(client_id="client-1", client_secret="secret-1")


# -- item 11: a shared failure costs the budget once ---------------------------------------


async def test_one_failed_shared_fetch_spends_one_retry_for_all_its_waiters(endpoint):
    gate = asyncio.Event()

    async def fails_once_everyone_waits(_request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return web.json_response({"message": "down"}, status=503)

    endpoint.answers = [fails_once_everyone_waits, good_token]
    clock = ManualClock()
    budget = RetryBudget(capacity=100, refill=0.0)
    async with WorkflowClient(
        endpoint.base_url,
        auth=oauth(),
        max_concurrency=200,  # all 200 wait for the one fetch at once
        retry_budget=budget,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
    ) as zuora:
        calls = [asyncio.ensure_future(zuora.run_workflow(396)) for _ in range(200)]
        await endpoint.reached.wait()
        gate.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = zuora.stats.retries_refused
    failures = [result for result in results if isinstance(result, BaseException)]
    assert failures == []
    assert endpoint.run_requests == 200
    assert budget.spent == 1  # one failure, one retry's worth, whoever waited on it
    assert refused == 0
    assert budget.tokens == 99.0


async def test_each_failed_fetch_still_costs_its_own_retry(endpoint):
    # Two fetches that fail one after the other are two failures: the budget sees both.
    async def unavailable(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "down"}, status=503)

    endpoint.answers = [unavailable, unavailable, good_token]
    clock = ManualClock()
    budget = RetryBudget(capacity=100, refill=0.0)
    async with WorkflowClient(
        endpoint.base_url,
        auth=oauth(),
        retry_budget=budget,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
    ) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == 400
    assert endpoint.token_requests == 3
    assert budget.spent == 2


# -- item 12: a fetch every waiter gave up on is cancelled ---------------------------------


async def test_a_hung_first_fetch_does_not_block_the_calls_after_it(endpoint):
    endpoint.answers = [endpoint.hang, good_token]
    async with WorkflowClient(
        endpoint.base_url, auth=oauth(), timeout=HOUR, retry=RetryPolicy(deadline=1)
    ) as zuora:
        async with asyncio.timeout(BOUND):
            first = await asyncio.gather(
                *(zuora.run_workflow(396) for _ in range(3)), return_exceptions=True
            )
            assert all(isinstance(result, RequestTimeoutError) for result in first)
            assert all("token" in str(result) for result in first)
            # Every waiter gave up: the hung fetch was cancelled (its connection dropped),
            # and the next call starts a fresh one instead of joining it.
            await endpoint.hung_ended.wait()
            run = await zuora.run_workflow(396)
    assert run.id == 400
    assert endpoint.token_requests == 2
    assert endpoint.run_requests == 1
    assert zuora.token_fetches == 1


async def test_a_fetch_someone_still_waits_for_goes_on(endpoint):
    # One waiter giving up must not cancel the fetch another still waits for.
    endpoint.answers = [endpoint.hang, good_token]
    async with WorkflowClient(endpoint.base_url, auth=oauth(), timeout=HOUR) as zuora:
        async with asyncio.timeout(BOUND):
            patient = asyncio.ensure_future(zuora.run_workflow(396))
            await endpoint.reached.wait()
            with pytest.raises(RequestTimeoutError):
                await zuora.run_workflow(396, retry=RetryPolicy(deadline=0.2))
            endpoint.release.set()
            run = await patient
    assert run.id == 400
    assert endpoint.token_requests == 1
