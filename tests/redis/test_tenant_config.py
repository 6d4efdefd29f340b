"""Issue 23, items 3 and 4: a Redis that refuses the client fails its start; only an
outage falls back; the default namespace is the tenant, and it records its cap."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from zuora_wf_async import (
    BearerToken,
    ConfigurationError,
    OAuthCredentials,
    SharedLimits,
    WorkflowClient,
)
from zuora_wf_async._shared import normalise_base_url, tenant_namespace
from zuora_wf_async.testing import FakeZuora


def client(fake, shared, **options):
    return WorkflowClient(
        fake.base_url, auth=BearerToken(fake.issue_token()), shared_limits=shared, **options
    )


@pytest.mark.parametrize(
    "who", [("default", "wrong-password-456"), ("nobody", "right-password-123"), None]
)
async def test_a_refused_password_fails_the_start_before_any_request(guarded, who, caplog):
    url = guarded.url if who is None else guarded.url_as(*who)
    async with FakeZuora() as fake:
        zuora = client(fake, SharedLimits(url, timeout=2.0))
        with (
            caplog.at_level(logging.DEBUG, logger="zuora_wf_async"),
            pytest.raises(ConfigurationError) as caught,
        ):
            async with zuora:
                pytest.fail("the client started")
        assert fake.requests == []
    message = str(caught.value)
    assert "AuthenticationError" in message
    assert "password" in message  # the fix names what to change...
    assert "wrong-password-456" not in message  # ...never its value
    assert "wrong-password-456" not in caplog.text
    assert "unreachable" not in caplog.text  # not an outage: no fallback


async def test_a_user_without_evalsha_fails_the_start(guarded):
    import redis.asyncio

    admin = redis.asyncio.Redis.from_url(guarded.url_as("default", "right-password-123"))
    try:
        await admin.execute_command(
            "ACL", "SETUSER", "limited", "on", ">limited-pw-789", "~*", "+@all", "-evalsha"
        )
    finally:
        await admin.aclose()
    async with FakeZuora() as fake:
        zuora = client(fake, SharedLimits(guarded.url_as("limited", "limited-pw-789")))
        with pytest.raises(ConfigurationError, match=r"NoPermissionError.*evalsha"):
            await zuora.__aenter__()
        assert fake.requests == []


async def test_a_client_used_without_async_with_fails_its_first_call(guarded):
    async with FakeZuora() as fake:
        zuora = client(fake, SharedLimits(guarded.url_as("default", "wrong-password-456")))
        try:
            for _ in range(2):  # and every call after it
                with pytest.raises(ConfigurationError):
                    await zuora.run_workflow(396, {})
        finally:
            await zuora.aclose()
        assert fake.requests == []


async def test_a_redis_that_never_answers_is_an_outage_with_a_real_error_text(caplog):
    # A socket that accepts connections and never answers: a hung Redis, as under SIGSTOP.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        async with FakeZuora() as fake:
            shared = SharedLimits(url, timeout=0.2, retry_after=60)
            with caplog.at_level(logging.WARNING, logger="zuora_wf_async"):
                async with client(fake, shared) as zuora:
                    run = await zuora.run_workflow(396, {})
    assert run.id
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "unreachable (TimeoutError: no answer within 0.2s)" in warning


async def test_processes_that_disagree_on_the_tenant_cap_are_told_at_start(valkey, caplog):
    async with FakeZuora() as fake:
        shared = SharedLimits(valkey.url, namespace="billing")
        async with client(fake, shared, tenant_concurrency=40) as first:
            second = client(fake, shared, tenant_concurrency=200)
            with pytest.raises(ConfigurationError, match=r"tenant_concurrency=40.*has 200"):
                await second.__aenter__()
            # Told explicitly, with a WARNING, the new value replaces the recorded one.
            told = SharedLimits(valkey.url, namespace="billing", override_tenant_concurrency=True)
            with caplog.at_level(logging.WARNING, logger="zuora_wf_async"):
                async with client(fake, told, tenant_concurrency=200) as third:
                    await asyncio.gather(first.run_workflow(396, {}), third.run_workflow(396, {}))
    assert "changed from 40 to 200" in caplog.text
    import redis.asyncio

    store = redis.asyncio.Redis.from_url(valkey.url, decode_responses=True)
    try:
        assert await store.hget("zwa:{billing}:state", "tenant") == "200"
    finally:
        await store.aclose()


# -- which tenant: the default namespace -------------------------------------------------------

SAME_HOST = [
    "https://rest.zuora.com",
    "https://REST.Zuora.com",
    "https://rest.zuora.com:443",
    "https://rest.zuora.com/",
    "https://rest.zuora.com/v1",
    "https://rest.zuora.com/v1/",
    " https://rest.zuora.com:443/V1 ",
]


@pytest.mark.parametrize("spelling", SAME_HOST)
def test_spellings_of_one_host_are_one_url(spelling):
    assert normalise_base_url(spelling) == "https://rest.zuora.com"


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://localhost:80/", "http://localhost"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
        ("https://rest.zuora.com:8443", "https://rest.zuora.com:8443"),
        ("https://[::1]:443/", "https://[::1]"),
        ("https://proxy.example.com/zuora/v1", "https://proxy.example.com/zuora"),
    ],
)
def test_other_urls_keep_what_tells_them_apart(url, normal):
    assert normalise_base_url(url) == normal


def test_the_namespace_is_the_tenant_url_entities_and_oauth_client():
    sandbox = "https://rest.apisandbox.zuora.com"
    mine = tenant_namespace(sandbox, ["e1"], "client-a")
    # Two tenants on one sandbox host: two namespaces.
    assert mine != tenant_namespace(sandbox, ["e1"], "client-b")
    assert mine != tenant_namespace(sandbox, ["e2"], "client-a")
    assert mine != tenant_namespace(sandbox, ["e1"], None)
    # One tenant, spelled differently: one namespace.
    assert mine == tenant_namespace("https://REST.apisandbox.zuora.com:443/v1/", "e1", "client-a")
    assert tenant_namespace(sandbox, ["e1", "e2"], "c") == tenant_namespace(sandbox, "e2,e1", "c")


async def test_a_client_keys_on_its_oauth_client_id_never_the_secret(valkey):
    shared = SharedLimits(valkey.url)

    def namespace(client_id, secret, base_url):
        zuora = WorkflowClient(
            base_url,
            auth=OAuthCredentials(client_id=client_id, client_secret=secret),
            shared_limits=shared,
        )
        zuora._pipeline.ensure_open()
        gate = zuora._pipeline._tenant
        return zuora, gate.namespace

    pairs = [
        namespace("client-a", "secret-one-1234", "https://rest.apisandbox.zuora.com"),
        namespace("client-a", "secret-two-5678", "https://REST.apisandbox.zuora.com/v1"),
        namespace("client-b", "secret-one-1234", "https://rest.apisandbox.zuora.com"),
    ]
    try:
        a, a_rotated, b = (ns for _, ns in pairs)
        assert a == a_rotated  # a rotated secret, another spelling: the same tenant
        assert a != b  # another OAuth client on the same host: another tenant
        assert a == tenant_namespace("https://rest.apisandbox.zuora.com", None, "client-a")
    finally:
        for zuora, _ in pairs:
            await zuora.aclose()


async def test_a_refusal_found_after_the_start_is_an_error_and_local_limits(valkey_later, caplog):
    """Down at start (an outage: local limits), Redis comes up wanting a password: an
    ERROR that says what to fix, and the client goes on under local limits."""
    server = valkey_later(options=("--requirepass", "right-password-123"))
    shared = SharedLimits(server.url, timeout=0.5, retry_after=0.05)
    g = shared.gate(base_url="https://x", entity_ids=None, tenant_concurrency=4)
    try:
        with caplog.at_level(logging.WARNING, logger="zuora_wf_async"):
            first = await g.acquire()
            assert not first.shared  # nobody listens yet
            server.start()
            give_up = asyncio.get_running_loop().time() + 30
            while not any(r.levelno == logging.ERROR for r in caplog.records):
                assert asyncio.get_running_loop().time() < give_up, "no ERROR logged"
                await asyncio.sleep(0.02)
            second = await g.acquire()
        assert not second.shared
        (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert "refuses this client (AuthenticationError" in error
        assert "password" in error
        assert "using local limits" in error
    finally:
        await g.aclose()
