"""OAuth: one token for many callers, refreshed before expiry and once after a 401."""

from __future__ import annotations

import asyncio
import logging

import pytest

from zuora_wf_async import (
    BearerToken,
    OAuthCredentials,
    UnauthorizedError,
    WorkflowClient,
    ZuoraError,
)
from zuora_wf_async.testing import FakeZuora, ManualClock


def token_requests(fake: FakeZuora) -> list:
    return [r for r in fake.requests if r.path == "/oauth/token"]


async def test_the_token_request_is_a_client_credentials_form(fake, zuora):
    await zuora.run_workflow(396)

    [request] = token_requests(fake)
    assert request.method == "POST"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.header("Authorization") is None
    assert request.body == {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "grant_type": "client_credentials",
    }


async def test_concurrent_first_calls_fetch_exactly_one_token(fake, make_client):
    async with make_client(max_concurrency=50) as zuora:
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(50)))
        assert zuora.token_fetches == 1

    assert len(token_requests(fake)) == 1
    assert len(fake.executions) == 50


async def test_the_token_is_refreshed_shortly_before_it_expires():
    clock = ManualClock()
    async with FakeZuora(clock=clock, token_ttl=3599) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(fake.base_url, auth=auth, clock=clock) as zuora:
            await zuora.run_workflow(396)
            clock.advance(3599 - 300 - 1)  # still inside the 300 s safety margin
            await zuora.run_workflow(396)
            assert len(token_requests(fake)) == 1
            clock.advance(2)  # now within 300 s of expiry
            await zuora.run_workflow(396)
            assert len(token_requests(fake)) == 2

    assert [r.status for r in fake.requests if r.path.endswith("/run")] == [200] * 3


async def test_a_401_refreshes_once_and_resends_the_same_request(fake, zuora):
    await zuora.run_workflow(396, {"n": 0})
    fake.expire_tokens()

    run = await zuora.run_workflow(396, {"n": 1}, idempotency_key="after-expiry")

    runs = [r for r in fake.requests if r.path.endswith("/run")]
    assert [r.status for r in runs] == [200, 401, 200]
    assert runs[1].header("Idempotency-Key") == runs[2].header("Idempotency-Key") == "after-expiry"
    assert runs[1].raw_body == runs[2].raw_body
    assert runs[1].header("Authorization") != runs[2].header("Authorization")
    assert len(token_requests(fake)) == 2
    assert [e.run_id for e in fake.executions][-1] == run.id


async def test_a_burst_of_401s_from_one_stale_token_refreshes_once(fake, make_client):
    async with make_client(max_concurrency=20) as zuora:
        await zuora.run_workflow(396)
        fake.expire_tokens()
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(20)))

    assert len(token_requests(fake)) == 2
    assert len(fake.executions) == 21


async def test_a_401_that_survives_two_fresh_tokens_is_raised(fake, zuora):
    fake.configure_workflow(396, force_status=401)

    with pytest.raises(UnauthorizedError):
        await zuora.run_workflow(396)

    # The first token, and two fresh ones (a token can be revoked between fetch and use).
    assert len([r for r in fake.requests if r.path.endswith("/run")]) == 3


async def test_wrong_credentials_fail_without_revealing_the_secret(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="zuora_wf_async")
    secret = "s3cr3t-value-that-must-not-leak"
    auth = OAuthCredentials(client_id=fake.client_id, client_secret=secret)

    async with make_client(auth=auth) as zuora:
        with pytest.raises(UnauthorizedError) as caught:
            await zuora.run_workflow(396)
        client_repr = repr(zuora)

    assert "client_id" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), client_repr, repr(auth), caplog.text):
        assert secret not in text
    assert fake.executions == []


async def test_tokens_never_appear_in_reprs_or_logs(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="zuora_wf_async")
    token = fake.issue_token()
    auth = BearerToken(token)
    async with make_client(auth=auth) as zuora:
        await zuora.run_workflow(396)
        fake.configure_workflow(397, force_status=403)
        with pytest.raises(ZuoraError) as caught:
            await zuora.run_workflow(397)
        texts = [repr(auth), repr(zuora), str(caught.value), repr(caught.value), caplog.text]

    assert caplog.records  # the client did log its attempts
    for text in texts:
        assert token not in text


def test_credentials_must_not_be_blank():
    from zuora_wf_async import InvalidRequestError

    with pytest.raises(InvalidRequestError) as caught:
        OAuthCredentials(client_id="id", client_secret=" ")
    assert caught.value.field == "client_secret"
    with pytest.raises(InvalidRequestError):
        BearerToken("")
