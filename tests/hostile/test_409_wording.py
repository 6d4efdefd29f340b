"""A 409 to a run POST is read by Zuora's documented wording, never by a loose word in it.

A plain ``aiohttp.web`` app on 127.0.0.1 answers the run POST with the bytes each case
scripts. A 409 that says "another instance; retry later" is the same key still in progress:
the POST is resent under the same ``Idempotency-Key``, and if it never ends the error says
the run may have started. Only Zuora's documented "Workflow WF-... with Id <path id> is an
instance/run." is a final "that id is a run" answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    IdempotencyInProgressError,
    RetryPolicy,
    WorkflowClient,
    WorkflowIdIsRunError,
)
from zuora_wf_async.testing import ManualClock

ANOTHER_INSTANCE = {
    "errors": [
        {"title": "This request is already being processed by another instance; retry later"}
    ]
}
# Zuora's official example (POST /workflows/{workflow_id}/run, 409), verbatim.
DOCUMENTED_INSTANCE = {
    "errors": [
        {
            "code": "invalid",
            "status": 406,
            "title": "Workflow WF-396-00000002 with Id 399 is an instance/run.",
        }
    ]
}
RUN: dict[str, Any] = {
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "createdAt": "2019-09-19 18:25:33 UTC",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}


class RunRoute:
    """The run POST: answers from a script (the last answer repeats), keys recorded."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.keys: list[str | None] = []
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.keys.append(request.headers.get("Idempotency-Key"))
        status, body = self.script[min(len(self.keys), len(self.script)) - 1]
        return web.json_response(body, status=status)


@pytest.fixture
async def run_route() -> AsyncIterator[RunRoute]:
    route = RunRoute()
    app = web.Application()
    app.router.add_post("/workflows/{workflow_id}/run", route.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    route.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield route
    await runner.cleanup()


def client(route: RunRoute, policy: RetryPolicy) -> WorkflowClient:
    clock = ManualClock()
    return WorkflowClient(
        route.base_url,
        auth=BearerToken("token-409-wording-0a1b2c3d"),
        retry=policy,
        clock=clock,
        sleep=clock.sleep,
        timeout=5,
    )


async def test_another_instance_409_is_resent_under_the_same_key_until_the_run_answers(
    run_route,
):
    run_route.script = [(409, ANOTHER_INSTANCE), (409, ANOTHER_INSTANCE), (200, RUN)]
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=1.0, deadline=60.0)
    async with client(run_route, policy) as zuora:
        run = await zuora.run_workflow(396, {"accountId": "A-1"})
    assert run.id == RUN["id"]
    assert len(run_route.keys) == 3
    assert len(set(run_route.keys)) == 1
    assert run_route.keys[0]


async def test_another_instance_409_until_the_deadline_may_have_run(run_route):
    """Never answered otherwise: resent under the one key until the deadline, and the
    error says the run may exist (so a batch resends the row under that same key)."""
    run_route.script = [(409, ANOTHER_INSTANCE)]
    policy = RetryPolicy(max_attempts=2, base_delay=4.0, max_delay=4.0, deadline=30.0)
    async with client(run_route, policy) as zuora:
        with pytest.raises(IdempotencyInProgressError) as caught:
            await zuora.run_workflow(396, {"accountId": "A-1"}, idempotency_key="order-42")
    assert caught.value.may_have_run is True
    assert len(run_route.keys) > 2  # past max_attempts: in progress is asked until the deadline
    assert set(run_route.keys) == {"order-42"}


async def test_the_documented_instance_409_for_the_path_id_is_final(run_route):
    run_route.script = [(409, DOCUMENTED_INSTANCE)]
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=1.0, deadline=60.0)
    async with client(run_route, policy) as zuora:
        with pytest.raises(WorkflowIdIsRunError) as caught:
            await zuora.run_workflow(399, {"accountId": "A-1"})
    assert caught.value.may_have_run is False
    assert len(run_route.keys) == 1
    assert "is an instance/run" in str(caught.value)


async def test_the_documented_wording_naming_another_id_is_not_final(run_route):
    """The documented words about run 399 in answer to a POST for workflow 396: not a
    statement about 396, so it is read as the key in progress and resent."""
    run_route.script = [(409, DOCUMENTED_INSTANCE), (200, RUN)]
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=1.0, deadline=60.0)
    async with client(run_route, policy) as zuora:
        run = await zuora.run_workflow(396)
    assert run.id == RUN["id"]
    assert len(run_route.keys) == 2
    assert len(set(run_route.keys)) == 1
