"""TLS is verified by default, a custom context can trust a private CA, tokens stay home.

A throwaway CA from trustme signs a certificate for 127.0.0.1; an aiohttp server serves
HTTPS with it on loopback.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from aiohttp import web

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    OAuthCredentials,
    RetryPolicy,
    TransportError,
    WorkflowClient,
)

RUN = {
    "id": 10,
    "name": "WF-396-00000001",
    "originalWorkflowId": 396,
    "status": "Queued",
    "createdAt": "2026-11-28 10:00:00 UTC",
    "updatedAt": "2026-11-28 10:00:00 UTC",
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_server(ca: trustme.CA) -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def token(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"access_token": "tls-token", "expires_in": 3599})

    async def run(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(RUN)

    app = web.Application()
    app.router.add_post("/prefix/oauth/token", token)
    app.router.add_post("/prefix/workflows/{workflow_id}/run", run)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}/prefix", seen
    await runner.cleanup()


async def test_an_untrusted_certificate_is_refused_by_default(https_server):
    base_url, seen = https_server
    async with WorkflowClient(
        base_url, auth=BearerToken("t"), retry=RetryPolicy(max_attempts=1)
    ) as zuora:
        with pytest.raises(TransportError) as caught:
            await zuora.run_workflow(396)

    assert "certificate" in str(caught.value).lower()
    assert seen == []  # the TLS handshake failed before any request was sent


async def test_a_custom_ssl_context_can_trust_a_private_ca(https_server, ca):
    base_url, seen = https_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    auth = OAuthCredentials(client_id="c" * 36, client_secret="s")

    async with WorkflowClient(base_url, auth=auth, ssl_context=context) as zuora:
        run = await zuora.run_workflow(396)

    assert run.id == 10
    # The token came from the configured base URL (path prefix included), nowhere else.
    assert seen == ["/prefix/oauth/token", "/prefix/workflows/396/run"]


def test_plain_http_is_refused_for_anything_but_loopback():
    with pytest.raises(InvalidRequestError, match="unencrypted"):
        WorkflowClient("http://rest.zuora.com", auth=BearerToken("t"))
