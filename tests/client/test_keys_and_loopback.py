"""Two low items of issue 22: an empty key is refused everywhere, and only true loopback
may skip TLS.

``update_workflow(idempotency_key="")`` (and the other keyed operations) silently sent a
fresh UUID where ``run_workflow`` refuses ``""``; ``http://evil.localhost`` counted as
loopback, so the token went out unencrypted to whatever that name resolves to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from zuora_wf_async import BearerToken, InvalidRequestError, WorkflowClient

EXPORT = {"workflow": {"name": "wf"}, "tasks": [], "linkages": []}

KEYED: dict[str, Callable[[WorkflowClient, str], Awaitable[object]]] = {
    "run_workflow": lambda c, key: c.run_workflow(396, {}, idempotency_key=key),
    "update_workflow": lambda c, key: c.update_workflow(396, name="n", idempotency_key=key),
    "rerun_task": lambda c, key: c.rerun_task(2771, idempotency_key=key),
    "import_workflow": lambda c, key: c.import_workflow(EXPORT, idempotency_key=key),
    "import_workflow_version": lambda c, key: c.import_workflow_version(
        396, EXPORT, version="0.0.2", idempotency_key=key
    ),
}


@pytest.mark.parametrize("operation", sorted(KEYED))
async def test_an_empty_key_is_refused_before_anything_is_sent(fake, zuora, operation):
    with pytest.raises(InvalidRequestError) as caught:
        await KEYED[operation](zuora, "")
    assert caught.value.field == "idempotency_key"
    assert "None" in caught.value.fix  # says how to get a generated key
    assert fake.requests == []


@pytest.mark.parametrize(
    "base_url",
    [
        "http://evil.localhost",
        "http://evil.localhost:8080",
        "http://localhost.evil.com",
        "http://localhost.",
        "http://127.0.0.1.nip.io",
        "http://rest.zuora.com",
    ],
)
def test_plain_http_to_a_name_that_merely_looks_local_is_refused(base_url):
    with pytest.raises(InvalidRequestError) as caught:
        WorkflowClient(base_url, auth=BearerToken("tok-9f8e7d6c5b4a"))
    assert caught.value.field == "base_url"
    assert "https://" in caught.value.fix


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost",
        "http://LOCALHOST:8080",
        "http://127.0.0.1:9",
        "http://127.8.9.10",
        "http://[::1]:8080",
    ],
)
def test_plain_http_to_loopback_is_allowed(base_url):
    client = WorkflowClient(base_url, auth=BearerToken("tok-9f8e7d6c5b4a"))
    assert client.base_url.startswith("http://")
