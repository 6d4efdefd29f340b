"""Reading Zuora's rate-limit headers.

Zuora documents ``RateLimit-Limit`` (``"2250000, 50000;w=60, ..."``: the first number is
the window closest to exhaustion), ``RateLimit-Remaining`` and ``RateLimit-Reset`` (whole
seconds), ``Concurrency-Limit-*`` on some endpoints, and ``Retry-After`` on 429 and 503.
Every header here comes from the network, so a nonsense value reads as "absent", never as
an exception: a bad header must not turn a 200 into a crash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

__all__ = ["RateLimitInfo", "has_plenty_left", "parse_rate_limit", "parse_retry_after"]

# A server asking for more than a day is broken, not precise; clamp it to something a
# caller can still reason about.
_MAX_WAIT_SECONDS = 86_400.0


@attrs.frozen(kw_only=True)
class RateLimitInfo:
    """The rate- and concurrency-limit headers of one response; None where absent."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    concurrency_limit: int | None = None
    concurrency_remaining: int | None = None

    @property
    def exhausted(self) -> bool:
        """True when Zuora says no request is left in the current window."""
        return self.remaining is not None and self.remaining <= 0


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # ``headers`` is case-insensitive (``responses.case_insensitive``, built once per
    # response), so the canonical name finds ``ratelimit-remaining`` too.
    return headers.get(name)


# Limits are counts of requests per window (Zuora's largest is tens of millions a day); a
# header claiming more is nonsense, read as this much so that no arithmetic on it overflows.
_MAX_COUNT = 10**12
# Long enough for any real number in a header; a longer one is an attack on int()/float().
_MAX_NUMBER_CHARS = 32


def _number(text: str) -> float | None:
    """``text`` as a finite float, or None; ASCII only (``float`` also reads "٣" as 3)."""
    text = text.strip()
    if not text or len(text) > _MAX_NUMBER_CHARS or not text.isascii():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _non_negative_number(text: str | None) -> float | None:
    if text is None:
        return None
    value = _number(text)
    if value is None:
        return None
    if value < 0:
        return None
    return min(value, _MAX_WAIT_SECONDS)


def _non_negative_int(text: str | None) -> int | None:
    # Counts are not waits: a per-day quota of 27,000,000 must not be clamped like one.
    if text is None:
        return None
    value = _number(text)
    return int(min(value, _MAX_COUNT)) if value is not None and value >= 0 else None


def _first_limit(text: str | None) -> int | None:
    if text is None:
        return None
    first = text.split(",", 1)[0].split(";", 1)[0]
    return _non_negative_int(first)


def has_plenty_left(headers: Mapping[str, str], margin: int) -> bool:
    """True when ``RateLimit-Remaining`` is comfortably above ``margin``, and nothing else
    (concurrency headers) needs reading: the cheap check run on every success."""
    remaining = headers.get("RateLimit-Remaining")
    return (
        remaining is not None
        # isdigit() alone accepts "²" and 5,000 digits, on which int() raises ValueError.
        and 0 < len(remaining) <= _MAX_NUMBER_CHARS
        and remaining.isascii()
        and remaining.isdigit()
        and int(remaining) > margin
        and "Concurrency-Limit-Remaining" not in headers
    )


_RATE_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Concurrency-Limit-Limit",
    "Concurrency-Limit-Remaining",
)
_NO_FACTS = RateLimitInfo()


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The rate-limit facts in ``headers``, or None when there are none."""
    values = [_header(headers, name) for name in _RATE_HEADERS]
    if values.count(None) == len(values):
        return None  # no rate headers at all (a proxy, a tenant without them): the common case
    limit, remaining, reset, concurrency_limit, concurrency_remaining = values
    info = RateLimitInfo(
        limit=_first_limit(limit),
        remaining=_non_negative_int(remaining),
        reset=_non_negative_number(reset),
        concurrency_limit=_non_negative_int(concurrency_limit),
        concurrency_remaining=_non_negative_int(concurrency_remaining),
    )
    return None if info == _NO_FACTS else info


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait per ``Retry-After`` (delta-seconds or HTTP-date), or None.

    ``now`` is injectable so an HTTP-date is judged against a known wall clock in tests.
    """
    text = _header(headers, "Retry-After")
    if text is None:
        return None
    seconds = _non_negative_number(text)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), _MAX_WAIT_SECONDS)
