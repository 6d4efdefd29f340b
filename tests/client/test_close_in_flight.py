"""``aclose()`` while calls are in flight: each ends at once with ``ClientStateError``.

A call whose request was in flight when the client closed used to retry "the HTTP session
is not open" 5 times over 3.5 s and end in ``TransportError``; a call waiting for the
token fetch that ``aclose()`` cancelled got a bare ``CancelledError``. Now nothing is
resent: the call ends with ``ClientStateError``, and ``may_have_run`` says whether the
request had left (then it is resent under the same key, from an open client).

A plain ``aiohttp.web`` app on 127.0.0.1 holds the requests; backoff runs on a
ManualClock, so a retry costs no time and only the error's kind and the requests the
server saw are asserted. ``asyncio.timeout`` bounds each test so a hang fails it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    ClientStateError,
    OAuthCredentials,
    WorkflowClient,
)
from zuora_wf_async.testing import ManualClock

BOUND = 30.0  # fails the test instead of hanging it


class Held:
    """Token and run endpoints that hold every request until the test ends."""

    def __init__(self) -> None:
        self.base_url = ""
        self.run_requests = 0
        self.token_requests = 0
        self.reached = asyncio.Event()
        self.release = asyncio.Event()  # set at teardown only

    async def run(self, request: web.Request) -> web.StreamResponse:
        self.run_requests += 1
        await request.read()
        self.reached.set()
        await self.release.wait()
        return web.json_response({}, status=503)

    async def token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        await request.read()
        self.reached.set()
        await self.release.wait()
        return web.json_response({}, status=503)


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    server = Held()
    app = web.Application()
    app.router.add_post("/oauth/token", server.token)
    app.router.add_post("/workflows/{workflow_id}/run", server.run)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    server.release.set()
    await runner.cleanup()


async def test_a_request_in_flight_ends_at_once_when_the_client_closes(held):
    clock = ManualClock()
    zuora = WorkflowClient(
        held.base_url, auth=BearerToken("tok"), max_concurrency=1, clock=clock, sleep=clock.sleep
    )
    async with asyncio.timeout(BOUND):
        async with zuora:
            in_flight = asyncio.ensure_future(zuora.run_workflow(396, idempotency_key="key-1"))
            queued = asyncio.ensure_future(zuora.run_workflow(396))  # waits for the slot
            await held.reached.wait()
            await zuora.aclose()
            results = await asyncio.gather(in_flight, queued, return_exceptions=True)
    sent, waiting = results
    assert isinstance(sent, ClientStateError)
    assert isinstance(waiting, ClientStateError)
    assert "closed" in str(sent)
    assert held.run_requests == 1  # nothing resent, and the queued call sent nothing
    # The request had left: Zuora may have it, so a resend must reuse its key.
    assert sent.may_have_run is True
    assert "key-1" in str(sent)
    assert waiting.may_have_run is False
    assert clock.sleeps == []  # no backoff before ending


async def test_a_call_waiting_for_the_token_ends_when_the_client_closes(held):
    clock = ManualClock()
    zuora = WorkflowClient(
        held.base_url,
        auth=OAuthCredentials(client_id="client-1", client_secret="secret-1"),
        clock=clock,
        sleep=clock.sleep,
    )
    async with asyncio.timeout(BOUND):
        async with zuora:
            waiting = asyncio.ensure_future(zuora.run_workflow(396))
            await held.reached.wait()  # the token fetch is in flight, and held
            await zuora.aclose()
            results = await asyncio.gather(waiting, return_exceptions=True)
    [error] = results
    assert isinstance(error, ClientStateError)
    assert error.may_have_run is False
    assert held.token_requests == 1
    assert held.run_requests == 0
