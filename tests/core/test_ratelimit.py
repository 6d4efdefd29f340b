"""Rate-limit headers: Zuora's formats parse to numbers; any nonsense reads as absent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from multidict import CIMultiDict

from zuora_wf_async._core import ratelimit
from zuora_wf_async._core.ratelimit import RateLimitInfo


# The readers get headers as every response carries them: one case-insensitive mapping
# (RawResponse.headers); the tables below are written as plain dicts.
def parse_rate_limit(headers: dict[str, str]) -> RateLimitInfo | None:
    return ratelimit.parse_rate_limit(CIMultiDict(headers))


def parse_retry_after(headers: dict[str, str], **options: datetime) -> float | None:
    return ratelimit.parse_retry_after(CIMultiDict(headers), **options)


ZUORA_LIMIT_SAMPLE = "2250000, 50000;w=60, 2250000;w=3600, 27000000;w=86400"
NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_parse_rate_limit_reads_zuoras_sample_limit():
    """The first number of Zuora's documented RateLimit-Limit is the limit, unclamped."""
    info = parse_rate_limit(
        {
            "ratelimit-limit": ZUORA_LIMIT_SAMPLE,
            "ratelimit-remaining": "2249999",
            "ratelimit-reset": "600",
        }
    )
    assert info == RateLimitInfo(limit=2_250_000, remaining=2_249_999, reset=600.0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {
                "ratelimit-limit": "50000;w=60",
                "ratelimit-remaining": "49999",
                "ratelimit-reset": "42",
            },
            RateLimitInfo(limit=50_000, remaining=49_999, reset=42.0),
            id="lowercase-names-in-a-plain-dict",
        ),
        pytest.param(
            {
                "RateLimit-Limit": "12500, 12500;w=60, 25000;w=3600",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": "600",
            },
            RateLimitInfo(limit=12_500, remaining=0, reset=600.0),
            id="canonical-names-first-number-of-the-list",
        ),
        pytest.param(
            {"RATELIMIT-REMAINING": " 17 "},
            RateLimitInfo(remaining=17),
            id="uppercase-name-and-padding",
        ),
        pytest.param(
            {"Concurrency-Limit-Limit": "40", "Concurrency-Limit-Remaining": "39"},
            RateLimitInfo(concurrency_limit=40, concurrency_remaining=39),
            id="concurrency-headers",
        ),
        pytest.param({"ratelimit-reset": "1.5"}, RateLimitInfo(reset=1.5), id="fractional-reset"),
    ],
)
def test_parse_rate_limit_reads_headers(headers, expected):
    assert parse_rate_limit(headers) == expected


def test_parse_rate_limit_values_are_ints_and_reset_is_float():
    info = parse_rate_limit(
        {"RateLimit-Limit": "50000;w=60", "RateLimit-Remaining": "7", "RateLimit-Reset": "3"}
    )
    assert info is not None
    assert type(info.limit) is int
    assert type(info.remaining) is int
    assert type(info.reset) is float


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc", id="letters"),
        pytest.param("-5", id="negative"),
        pytest.param("inf", id="infinity"),
        pytest.param("nan", id="nan"),
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
        pytest.param("5 apples", id="trailing-junk"),
    ],
)
@pytest.mark.parametrize(
    ("header", "attribute"),
    [
        pytest.param("RateLimit-Limit", "limit", id="limit"),
        pytest.param("RateLimit-Remaining", "remaining", id="remaining"),
        pytest.param("RateLimit-Reset", "reset", id="reset"),
        pytest.param("Concurrency-Limit-Remaining", "concurrency_remaining", id="concurrency"),
    ],
)
def test_parse_rate_limit_reads_nonsense_as_absent(header, attribute, value):
    """A nonsense header never raises: that field reads as None, the others still parse."""
    info = parse_rate_limit({header: value, "Concurrency-Limit-Limit": "40"})
    assert info is not None
    assert getattr(info, attribute) is None
    assert info.concurrency_limit == 40


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-headers"),
        pytest.param({"Content-Type": "application/json"}, id="unrelated-headers"),
        pytest.param({"RateLimit-Remaining": "nan"}, id="only-nonsense"),
    ],
)
def test_parse_rate_limit_returns_none_when_nothing_usable(headers):
    assert parse_rate_limit(headers) is None


@pytest.mark.parametrize(
    ("info", "exhausted"),
    [
        pytest.param(RateLimitInfo(remaining=0), True, id="zero-remaining"),
        pytest.param(RateLimitInfo(remaining=1), False, id="one-remaining"),
        pytest.param(RateLimitInfo(limit=10), False, id="remaining-unknown"),
        pytest.param(
            RateLimitInfo(concurrency_remaining=0), False, id="concurrency-does-not-count"
        ),
    ],
)
def test_exhausted_only_when_zero_requests_remain(info, exhausted):
    assert info.exhausted is exhausted


# --- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("30", 30.0, id="delta-seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("2.5", 2.5, id="fractional-seconds"),
        pytest.param(" 12 ", 12.0, id="padded"),
        pytest.param("Mon, 01 Jan 2024 12:01:00 GMT", 60.0, id="http-date-in-the-future"),
        pytest.param("Mon, 01 Jan 2024 11:59:00 GMT", 0.0, id="http-date-in-the-past-is-zero"),
        pytest.param("Mon, 01 Jan 2024 12:00:10", 10.0, id="http-date-without-zone-is-utc"),
        pytest.param("999999999", 86_400.0, id="huge-seconds-clamped-to-a-day"),
        pytest.param("Fri, 01 Jan 2100 00:00:00 GMT", 86_400.0, id="far-date-clamped-to-a-day"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("-5", None, id="negative"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="infinity"),
        pytest.param("Mon, 99 Foo 2024", None, id="malformed-date"),
        # email.utils raises OverflowError for a year no C long holds.
        pytest.param(f"Mon, 01 Jan {10**20} 00:00:00 GMT", None, id="year-overflows-a-c-long"),
    ],
)
def test_parse_retry_after(value, seconds):
    """Delta-seconds or an HTTP-date judged against the injected now; garbage reads as None."""
    assert parse_retry_after({"Retry-After": value}, now=NOW) == seconds


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"retry-after": "5"}, id="lowercase"),
        pytest.param({"RETRY-AFTER": "5"}, id="uppercase"),
    ],
)
def test_parse_retry_after_header_name_is_case_insensitive(headers):
    assert parse_retry_after(headers, now=NOW) == 5.0


def test_parse_retry_after_absent_is_none():
    assert parse_retry_after({"RateLimit-Reset": "9"}, now=NOW) is None
