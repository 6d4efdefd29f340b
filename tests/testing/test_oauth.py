"""POST /oauth/token: client credentials in a form body, tokens judged by the clock."""

import pytest

WWW_AUTHENTICATE = "Basic realm=Zuora API, ZSession realm=Zuora API, Bearer realm=Zuora API"


def test_credentials_have_zuora_shapes(fake):
    assert len(fake.client_id) == 36
    assert 0 < len(fake.client_secret) <= 42


async def test_success_returns_a_bearer_token(wire, fake):
    result = await wire.token(fake, wire.credentials(fake))
    assert result.status == 200
    body = result.body
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert isinstance(body["expires_in"], int)
    assert "tenant." in body["scope"]
    assert len(result.headers["Zuora-Request-Id"]) == 36
    assert result.headers["X-RateLimit-Limit-minute"] == "2000"
    assert result.headers["X-RateLimit-Remaining-minute"] == "1999"
    assert fake.token_requests == 1
    assert fake.tokens_issued == 1


async def test_issued_token_authorises_workflow_calls(wire, fake):
    token = (await wire.token(fake, wire.credentials(fake))).body["access_token"]
    assert (await wire.run(fake, token=token)).status == 200


async def test_token_expires_by_the_clock(wire, start_fake, clock):
    fake = await start_fake(token_ttl=100.0)
    body = (await wire.token(fake, wire.credentials(fake))).body
    assert body["expires_in"] == 100
    clock.advance(99.9)
    assert (await wire.run(fake, token=body["access_token"])).status == 200
    clock.advance(0.1)
    assert (await wire.run(fake, token=body["access_token"])).status == 401


@pytest.mark.parametrize(
    "overrides",
    [{"client_secret": "wrong"}, {"client_id": "0" * 36}],
    ids=["wrong-secret", "wrong-id"],
)
async def test_wrong_credentials_are_401(wire, fake, overrides):
    result = await wire.token(fake, wire.credentials(fake, **overrides))
    assert result.status == 401
    assert result.body == {"message": "Authentication error"}
    assert result.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert fake.tokens_issued == 0


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"client_id": None}, 50000022),
        ({"client_secret": None}, 50000022),
        ({"grant_type": None}, 50000022),
        ({"grant_type": "password"}, 50000020),
    ],
    ids=["no-client-id", "no-secret", "no-grant-type", "wrong-grant-type"],
)
async def test_malformed_requests_are_400(wire, fake, overrides, code):
    result = await wire.token(fake, wire.credentials(fake, **overrides))
    assert result.status == 400
    assert result.body["code"] == code
    assert isinstance(result.body["message"], str)


async def test_an_authorization_header_is_refused(wire, fake):
    result = await wire.token(fake, wire.credentials(fake), headers={"Authorization": "Basic eDp5"})
    assert result.status == 400
    assert "Authorization" in result.body["message"]


async def test_a_json_body_is_not_a_form(wire, fake):
    result = await wire.request(
        fake, "POST", "/oauth/token", anonymous=True, json=wire.credentials(fake)
    )
    assert result.status == 400
