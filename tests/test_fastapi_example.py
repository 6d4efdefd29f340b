"""examples/fastapi_app.py driven through its ASGI interface against FakeZuora."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import httpx
import pytest

from zuora_wf_async import OAuthCredentials, WorkflowClient, WorkflowRunDetail, from_dict
from zuora_wf_async.testing import FakeZuora

EXAMPLE = Path(__file__).parent.parent / "examples" / "fastapi_app.py"


def load_example():
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def service(fake: FakeZuora):
    """The example app with its lifespan running, and an HTTP client speaking ASGI to it."""
    clients: list[WorkflowClient] = []

    def factory() -> WorkflowClient:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        client = WorkflowClient(fake.base_url, auth=auth, max_concurrency=4)
        clients.append(client)
        return client

    app = load_example().create_app(factory)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http, clients
    assert all("state=closed" in repr(client) for client in clients)


async def test_concurrent_requests_share_one_session_and_one_token(fake, service):
    http, clients = service

    responses = await asyncio.gather(*(http.post(f"/accounts/A-{n}/onboard") for n in range(40)))

    assert [r.status_code for r in responses] == [200] * 40
    assert len(clients) == 1
    assert fake.token_requests == 1
    assert len(fake.executions) == 40
    assert fake.peak_in_flight <= 4
    assert {r.json()["status"] for r in responses} == {"Queued"}


async def test_a_retried_http_request_does_not_start_a_second_run(fake, service):
    http, _ = service

    first = await http.post("/accounts/A-7/onboard")
    again = await http.post("/accounts/A-7/onboard")

    assert first.json()["runId"] == again.json()["runId"]
    assert len(fake.executions) == 1


async def test_zuora_errors_become_http_errors(fake, service):
    http, _ = service
    fake.configure_workflow(396, force_status=403)

    response = await http.post("/accounts/A-1/onboard")

    assert response.status_code == 502
    assert response.json() == {"detail": "ForbiddenError"}


async def test_a_cancelled_request_releases_its_slot_and_connection(fake, service):
    http, clients = service
    fake.pause_runs()
    held = [asyncio.create_task(http.post(f"/accounts/H-{n}/onboard")) for n in range(4)]
    await fake.wait_for_in_flight(4)
    assert clients[0].stats.in_flight == 4

    for task in held:  # the callers give up: disconnect or time out
        task.cancel()
    await asyncio.gather(*held, return_exceptions=True)
    assert clients[0].stats.in_flight == 0
    fake.resume_runs()

    # All four slots are free again (max_concurrency=4): a new request goes straight through.
    async with asyncio.timeout(5):
        response = await http.post("/accounts/B-1/onboard")
    assert response.status_code == 200


async def test_a_hundred_concurrent_requests_share_one_client(fake, service):
    # How long the loop is blocked is measured in benchmarks/ (loop lag), not here: a
    # wall-clock threshold in a test fails on a busy machine and proves nothing there.
    http, _ = service
    responses = await asyncio.gather(*(http.post(f"/accounts/L-{n}/onboard") for n in range(100)))
    assert {r.status_code for r in responses} == {200}
    assert len(fake.executions) == 100


async def test_a_handler_returns_a_record_as_json(fake, service):
    http, clients = service
    started = (await http.post("/accounts/A-7/onboard")).json()

    answer = await http.get(f"/runs/{started['runId']}")

    assert answer.status_code == 200
    assert answer.json()["originalWorkflowId"] == 396
    detail = from_dict(WorkflowRunDetail, answer.json())
    assert detail == await clients[0].get_run(started["runId"])
    assert (await http.get("/runs/987654321")).status_code == 404


async def test_the_documented_uvicorn_command_serves_the_app(fake, tmp_path):
    """`uvicorn examples.fastapi_app:app`, as docs/guides/async-services.md says, on a socket."""
    socket_path = tmp_path / "app.sock"
    env = {
        **os.environ,
        "ZUORA_BASE_URL": fake.base_url,
        "ZUORA_CLIENT_ID": fake.client_id,
        "ZUORA_CLIENT_SECRET": fake.client_secret,
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "examples.fastapi_app:app", "--uds", str(socket_path),
        cwd=EXAMPLE.parent.parent, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert server.stderr is not None
    try:
        async with asyncio.timeout(120):  # a bound, not a timing: startup is seconds
            log = b""
            while b"Application startup complete" not in log:
                line = await server.stderr.readline()
                assert line, f"uvicorn exited before serving: {log.decode()}"
                log += line
        transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            started = await http.post("/accounts/A-1/onboard")
            assert started.status_code == 200
            detail = await http.get(f"/runs/{started.json()['runId']}")
            assert detail.json()["name"] == started.json()["runName"]
    finally:
        server.terminate()
        await server.wait()
    assert len(fake.executions) == 1
    assert fake.token_requests == 1
