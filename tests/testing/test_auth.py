"""Every /workflows path needs a valid, unexpired bearer token."""

import pytest

WWW_AUTHENTICATE = "Basic realm=Zuora API, ZSession realm=Zuora API, Bearer realm=Zuora API"

PATHS = [
    ("POST", "/workflows/1/run"),
    ("GET", "/workflows/workflow_runs/10000"),
    ("PUT", "/workflows/workflow_runs/10000/stop"),
    ("GET", "/workflows/no/such/path"),
]


def assert_401(result):
    assert result.status == 401
    assert result.body == {"message": "Authentication error"}
    assert result.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic eDp5", "Bearer"])
async def test_missing_or_unknown_token_is_401(wire, fake, method, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_401(await wire.request(fake, method, path, anonymous=True, headers=headers))


async def test_expire_tokens_invalidates_every_token(wire, fake):
    token = fake.issue_token()
    assert (await wire.run(fake, token=token)).status == 200
    fake.expire_tokens()
    assert_401(await wire.run(fake, token=token))


async def test_issue_token_is_not_a_token_request(fake):
    fake.issue_token()
    assert fake.token_requests == 0
    assert fake.tokens_issued == 1


async def test_unknown_paths(wire, fake):
    assert (await wire.request(fake, "GET", "/workflows/no/such")).status == 404
    not_allowed = await wire.request(fake, "GET", "/workflows/1/run")
    assert not_allowed.status == 405
    assert not_allowed.headers["Allow"] == "POST"
    assert (await wire.request(fake, "GET", "/elsewhere", anonymous=True)).status == 404
