"""Reading Zuora's rate-limit headers.

Zuora documents ``RateLimit-Limit`` (``"2250000, 50000;w=60, ..."``: the first number is
the window closest to exhaustion), ``RateLimit-Remaining`` and ``RateLimit-Reset`` (whole
seconds), ``Concurrency-Limit-*`` on some endpoints, and ``Retry-After`` on 429 and 503.
Every header here comes from the network, so a nonsense value reads as "absent", never as
an exception: a bad header must not turn a 200 into a crash. The headers are the
``RawResponse``'s, case-insensitive, so the canonical names find ``ratelimit-remaining`` too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

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


# Limits are counts of requests per window (Zuora's largest is tens of millions a day); a
# header claiming more is nonsense, read as this much so that no arithmetic on it overflows.
_MAX_COUNT = 10**12
# Long enough for any real number in a header; a longer one is an attack on int()/float().
_MAX_NUMBER_CHARS = 32


def _number(text: str | None) -> float | None:
    """``text`` as a finite number >= 0, or None; ASCII only (``float`` also reads "٣")."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > _MAX_NUMBER_CHARS or not text.isascii():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


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


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The rate-limit facts in ``headers`` (case-insensitive), or None when there are none."""
    limit = headers.get("RateLimit-Limit")
    texts = [
        limit,
        headers.get("RateLimit-Remaining"),
        headers.get("Concurrency-Limit-Limit"),
        headers.get("Concurrency-Limit-Remaining"),
    ]
    if limit is not None:  # "2250000, 50000;w=60, ...": the first window is the tightest
        texts[0] = limit.split(",", 1)[0].split(";", 1)[0]
    counts: list[int | None] = []
    # Counts are not waits: a per-day quota of 27,000,000 must not be clamped like one.
    for text in texts:
        count = _number(text)
        counts.append(None if count is None else int(min(count, _MAX_COUNT)))
    reset = _number(headers.get("RateLimit-Reset"))
    if reset is None and counts == [None, None, None, None]:
        return None  # no rate headers (a proxy, a tenant without them), or only nonsense
    return RateLimitInfo(
        limit=counts[0],
        remaining=counts[1],
        reset=None if reset is None else min(reset, _MAX_WAIT_SECONDS),
        concurrency_limit=counts[2],
        concurrency_remaining=counts[3],
    )


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait per ``Retry-After`` (delta-seconds or HTTP-date), or None.

    ``now`` is injectable so an HTTP-date is judged against a known wall clock in tests.
    """
    text = headers.get("Retry-After")
    if text is None:
        return None
    seconds = _number(text)
    if seconds is not None:
        return min(seconds, _MAX_WAIT_SECONDS)
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):  # a year no C long holds
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), _MAX_WAIT_SECONDS)
