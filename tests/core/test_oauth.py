"""OAuth token grants: reading Zuora's 200 body and choosing when to refresh."""

from __future__ import annotations

import json
import math

import pytest

from zuora_wf_async._core.oauth import (
    MAX_EXPIRES_IN,
    TokenGrant,
    read_token_grant,
    read_token_response,
    refresh_margin,
)
from zuora_wf_async._core.redact import scrub
from zuora_wf_async._core.responses import RawResponse
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


# --- hostile token responses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        pytest.param(10**400, MAX_EXPIRES_IN, id="int-beyond-float-clamped"),
        pytest.param(10**12, MAX_EXPIRES_IN, id="years-clamped-to-a-day"),
        pytest.param(1e300, MAX_EXPIRES_IN, id="huge-float-clamped"),
        pytest.param(86_400, 86_400.0, id="a-day-kept"),
        pytest.param(1e-3, 1e-3, id="tiny-but-positive-kept"),
    ],
)
def test_an_absurd_lifetime_is_clamped_to_a_day(expires_in, lifetime):
    """10**400 once raised OverflowError; a lifetime is believed for a day at most."""
    assert read_token_grant({"access_token": TOKEN, "expires_in": expires_in}).expires_in == (
        lifetime
    )


@pytest.mark.parametrize(
    "expires_in",
    [
        pytest.param(-(10**400), id="huge-negative-int"),
        pytest.param(-math.inf, id="negative-infinity"),
        pytest.param(-0.0, id="negative-zero"),
        pytest.param({"s": 1}, id="object"),
    ],
)
def test_an_unusable_lifetime_is_a_decode_error(expires_in):
    with pytest.raises(ResponseDecodeError) as info:
        read_token_grant({"access_token": TOKEN, "expires_in": expires_in})
    assert info.value.field == "expires_in"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("tok\r\nX-Injected: 1", id="crlf"),
        pytest.param("tok\nmore", id="lf"),
        pytest.param("tok\x00end", id="nul"),
        pytest.param("tok\x7fdel", id="del"),
        pytest.param("tok with space", id="space"),
        pytest.param("tok\tab", id="tab"),
        pytest.param("tokén-non-ascii", id="non-ascii"),
        pytest.param("tok\u2028sep", id="line-separator"),
    ],
)
def test_a_token_that_cannot_be_a_header_is_refused_without_quoting_it(token):
    """A CR/LF token once failed later inside aiohttp; now it fails here, unquoted."""
    with pytest.raises(ResponseDecodeError) as info:
        read_token_grant({"access_token": token, "expires_in": 3599})
    assert info.value.field == "access_token"
    for text in (str(info.value), repr(info.value), info.value.field):
        assert token not in text
        assert "tok" not in text.replace("token", "")


def test_a_fetched_token_is_registered_with_the_scrubber():
    token = "fetched-4b1d9e0c2a7f6e5d"
    read_token_grant({"access_token": token, "expires_in": 3599})
    assert scrub(f"echo {token}!") == "echo ***!"


def _raw(body: bytes, **headers: str) -> RawResponse:
    return RawResponse(status=200, headers=headers, body=body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            f"access_token={TOKEN}-form&token_type=bearer&expires_in=3599".encode(),
            id="form-encoded",
        ),
        pytest.param(
            json.dumps({"access_token": TOKEN + "-trail", "expires_in": 3599}).encode()
            + b"\n<!-- cached -->",
            id="json-with-trailing-bytes",
        ),
        pytest.param((TOKEN + "-plain").encode(), id="bare-token-as-text"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000-deep"),
        pytest.param(b"\xff\xfe" + TOKEN.encode(), id="not-utf8"),
        pytest.param(b"", id="empty"),
    ],
)
def test_a_token_response_that_is_not_pure_json_quotes_nothing(body):
    """The token is unknown until the body is read, so the error must quote none of it."""
    with pytest.raises(ResponseDecodeError) as info:
        read_token_response(_raw(body))
    assert info.value.field == "body"
    for text in (str(info.value), repr(info.value)):
        assert TOKEN not in text
        assert "cached" not in text
        assert "[[[" not in text


def test_a_good_token_response_is_read():
    body = json.dumps({"access_token": TOKEN, "expires_in": 3599}).encode()
    assert read_token_response(_raw(body)) == TokenGrant(access_token=TOKEN, expires_in=3599.0)
