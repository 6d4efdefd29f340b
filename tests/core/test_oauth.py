"""OAuth token grants: reading Zuora's 200 body and choosing when to refresh."""

from __future__ import annotations

import math

import pytest

from zuora_wf_async._core.oauth import TokenGrant, read_token_grant, refresh_margin
from zuora_wf_async._errors import ResponseDecodeError

TOKEN = "tok-3f9a1c7e5b2d4a6f8e0c"


@pytest.mark.parametrize(
    ("body", "expires_in"),
    [
        pytest.param(
            {
                "access_token": TOKEN,
                "token_type": "bearer",
                "expires_in": 3599,
                "scope": "user.1 entity.2 tenant.19",
                "jti": "j-1",
            },
            3599.0,
            id="zuora-sample",
        ),
        pytest.param({"access_token": TOKEN, "expires_in": 59.5}, 59.5, id="fractional-lifetime"),
        pytest.param({"access_token": TOKEN}, 3599.0, id="missing-expires-in-defaults-to-hour"),
    ],
)
def test_read_token_grant_reads_token_and_lifetime(body, expires_in):
    grant = read_token_grant(body)
    assert grant == TokenGrant(access_token=TOKEN, expires_in=expires_in)
    assert type(grant.expires_in) is float


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param([TOKEN], "body", id="not-an-object"),
        pytest.param(None, "body", id="null"),
        pytest.param({"expires_in": 3599}, "access_token", id="missing-token"),
        pytest.param({"access_token": "", "expires_in": 3599}, "access_token", id="empty-token"),
        pytest.param(
            {"access_token": 12345, "expires_in": 3599}, "access_token", id="non-string-token"
        ),
        pytest.param({"access_token": TOKEN, "expires_in": 0}, "expires_in", id="zero-lifetime"),
        pytest.param(
            {"access_token": TOKEN, "expires_in": -1}, "expires_in", id="negative-lifetime"
        ),
        pytest.param(
            {"access_token": TOKEN, "expires_in": "x"}, "expires_in", id="string-lifetime"
        ),
        pytest.param(
            {"access_token": TOKEN, "expires_in": "3599"},
            "expires_in",
            id="numeric-string-lifetime",
        ),
        pytest.param({"access_token": TOKEN, "expires_in": True}, "expires_in", id="bool-lifetime"),
        pytest.param({"access_token": TOKEN, "expires_in": None}, "expires_in", id="null-lifetime"),
        pytest.param(
            {"access_token": TOKEN, "expires_in": math.nan},
            "expires_in",
            id="nan-lifetime",
        ),
        pytest.param(
            {"access_token": TOKEN, "expires_in": math.inf},
            "expires_in",
            id="infinite-lifetime",
        ),
    ],
)
def test_read_token_grant_rejects_unusable_body(body, field):
    """No usable token or no positive lifetime: a ResponseDecodeError naming that field."""
    with pytest.raises(ResponseDecodeError) as info:
        read_token_grant(body)
    assert info.value.field == field


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"access_token": TOKEN, "expires_in": 0}, id="bad-lifetime"),
        pytest.param({"access_token": TOKEN, "expires_in": "x"}, id="string-lifetime"),
        pytest.param({"access_token": TOKEN, "expires_in": [TOKEN]}, id="token-as-lifetime"),
    ],
)
def test_read_token_grant_error_never_echoes_the_token(body):
    with pytest.raises(ResponseDecodeError) as info:
        read_token_grant(body)
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)
    assert all(TOKEN not in repr(arg) for arg in info.value.args)


def test_token_grant_repr_hides_the_token():
    grant = read_token_grant({"access_token": TOKEN, "expires_in": 3599})
    assert TOKEN not in repr(grant)
    assert TOKEN not in str(grant)
    assert "3599" in repr(grant)


@pytest.mark.parametrize(
    ("expires_in", "margin"),
    [
        pytest.param(3599, 300.0, id="hour-token-refreshed-300s-early"),
        pytest.param(7200, 300.0, id="longer-token-capped-at-300s"),
        pytest.param(3000, 300.0, id="tenth-equals-cap"),
        pytest.param(600, 60.0, id="ten-minute-token-a-tenth"),
        pytest.param(60, 6.0, id="minute-token-a-tenth"),
        pytest.param(1, 0.1, id="one-second-token"),
    ],
)
def test_refresh_margin_is_a_tenth_of_life_capped_at_300s(expires_in, margin):
    assert refresh_margin(expires_in) == pytest.approx(margin)
