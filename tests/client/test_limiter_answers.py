"""What the limiter learns from one answer (``AdaptiveLimiter.release``), as a table.

A 5xx whose rate figures say plenty is read like a plentiful success: nothing to parse or
learn while the pacing is at rest, and the tenant gate is told "plenty" (it used to get the
figure, as if the window were being watched). A 429 is never "plenty": its figures are
judged by the 429 rules. An error without rate headers teaches nothing.
"""

from __future__ import annotations

import pytest

from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._limiter import AdaptiveLimiter, Learned
from zuora_wf_async.testing import ManualClock

PLENTY = {"RateLimit-Limit": "50000;w=60", "RateLimit-Remaining": "49000", "RateLimit-Reset": "30"}
NEAR_SPENT = {"RateLimit-Limit": "50000;w=60", "RateLimit-Remaining": "5", "RateLimit-Reset": "30"}


def _release(status: int, headers: dict[str, str]) -> tuple[AdaptiveLimiter, Learned]:
    clock = ManualClock()
    limiter = AdaptiveLimiter(40, clock=clock, sleep=clock.sleep)
    # A fresh pacing has heard nothing yet; one plentiful success brings it to rest.
    limiter.release(RawResponse(status=200, headers=PLENTY, body=b""), limiter.try_acquire() or 0)
    assert limiter.pacing.at_rest
    generation = limiter.try_acquire()
    assert generation is not None
    answer = RawResponse(status=status, headers=headers, body=b"")
    learned = limiter.release(answer, generation)
    assert limiter.in_flight == 0
    return limiter, learned


@pytest.mark.parametrize("status", [200, 503, 500, 409])
def test_an_answer_with_plenty_left_teaches_nothing_at_rest(status):
    limiter, learned = _release(status, PLENTY)
    assert learned.plenty is True
    assert learned.info is None
    assert not learned.verdict.cut
    assert limiter.pacing.at_rest
    assert not limiter.pacing.metered


@pytest.mark.parametrize("status", [200, 503])
def test_a_figure_near_the_end_of_the_window_is_read_whatever_the_status(status):
    limiter, learned = _release(status, NEAR_SPENT)
    assert learned.plenty is False
    assert learned.info == RateLimitInfo(limit=50000, remaining=5, reset=30.0)
    assert limiter.pacing.metered  # every send now counts down the quota left


def test_a_429_is_never_plenty():
    _, learned = _release(429, {**PLENTY, "Retry-After": "1"})
    assert learned.plenty is False
    assert learned.info is not None
    assert learned.info.remaining == 49000


def test_an_error_without_rate_headers_teaches_nothing():
    limiter, learned = _release(503, {})
    assert learned == Learned(503, None, learned.verdict, False)
    assert not learned.verdict.cut
    assert limiter.pacing.at_rest
