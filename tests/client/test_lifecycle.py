"""One session per client, bound to one event loop; configuration from the environment."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from zuora_wf_async import (
    BearerToken,
    ClientStateError,
    InvalidRequestError,
    OAuthCredentials,
    WorkflowClient,
)
from zuora_wf_async.testing import FakeZuora


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_client_can_be_built_outside_a_loop_and_used_inside_one():
    port = free_port()
    client_id, client_secret = "c" * 36, "client-secret"
    client = WorkflowClient(
        f"http://127.0.0.1:{port}",
        auth=OAuthCredentials(client_id=client_id, client_secret=client_secret),
    )

    async def scenario() -> tuple[int, int]:
        async with FakeZuora(port=port, client_id=client_id, client_secret=client_secret) as fake:
            async with client:
                run = await client.run_workflow(396)
            return run.original_workflow_id, len(fake.executions)

    assert "state=new" in repr(client)
    assert asyncio.run(scenario()) == (396, 1)
    assert "state=closed" in repr(client)


async def test_using_one_client_from_two_loops_fails_clearly(fake, zuora):
    await zuora.run_workflow(396)
    outcome: list[BaseException] = []

    def other_loop() -> None:
        try:
            asyncio.run(asyncio.wait_for(zuora.run_workflow(396), timeout=5))
        except BaseException as exc:  # noqa: BLE001 -- the test inspects whatever it was
            outcome.append(exc)

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.to_thread(thread.join)

    [error] = outcome
    assert isinstance(error, ClientStateError)
    assert "another event loop" in str(error)
    assert len(fake.executions) == 1


async def test_a_closed_client_refuses_calls(fake, make_client):
    zuora = make_client()
    async with zuora:
        await zuora.run_workflow(396)

    with pytest.raises(ClientStateError, match="closed"):
        await zuora.run_workflow(396)
    assert len(fake.executions) == 1


def test_from_env_reads_the_documented_variables():
    client = WorkflowClient.from_env(
        {
            "ZUORA_BASE_URL": "https://rest.test.zuora.com/",
            "ZUORA_CLIENT_ID": "client-id",
            "ZUORA_CLIENT_SECRET": "client-secret",
            "ZUORA_ENTITY_IDS": " e-1 ",
            "ZUORA_ORG_IDS": "o-1",
        },
        max_concurrency=8,
    )
    assert client.base_url == "https://rest.test.zuora.com"
    assert client.auth == OAuthCredentials(client_id="client-id", client_secret="client-secret")
    assert client.max_concurrency == 8
    assert "client-secret" not in repr(client)


def test_from_env_accepts_a_bearer_token():
    client = WorkflowClient.from_env(
        {"ZUORA_BASE_URL": "https://rest.zuora.com", "ZUORA_BEARER_TOKEN": "tok"}
    )
    assert client.auth == BearerToken("tok")


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        pytest.param({"ZUORA_CLIENT_ID": "a", "ZUORA_CLIENT_SECRET": "b"}, "ZUORA_BASE_URL"),
        pytest.param({"ZUORA_BASE_URL": "https://rest.zuora.com"}, "ZUORA_CLIENT_ID"),
        pytest.param(
            {"ZUORA_BASE_URL": "https://rest.zuora.com", "ZUORA_CLIENT_ID": "a"},
            "ZUORA_CLIENT_SECRET",
        ),
    ],
)
def test_from_env_names_what_is_missing(environ, field):
    with pytest.raises(InvalidRequestError) as caught:
        WorkflowClient.from_env(environ)
    assert caught.value.field == field
