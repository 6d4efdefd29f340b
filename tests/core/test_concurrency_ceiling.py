"""The concurrency a process allows: it starts at the ceiling, learns the tenant's limit
downward from concurrency 429s, and climbs back within seconds once they stop (issue 24).

Pure: ``Pacing`` driven by hand-set times, and a tenant simulated on a clock of events.
"""

from __future__ import annotations

import heapq
import itertools

import pytest

from zuora_wf_async._core.pacing import CLIMB_STEP, HOLD, Pacing, Verdict

TOO_MANY = None  # Zuora's concurrency 429 carries only Retry-After: no rate headers


def _refused(pacing: Pacing, *, now: float, others_in_flight: int) -> Verdict:
    return pacing.on_answer(
        pacing.generation,
        429,
        TOO_MANY,
        now=now,
        retry_after=1.0,
        others_in_flight=others_in_flight,
    )


def _succeeded(pacing: Pacing, *, now: float) -> None:
    pacing.on_answer(pacing.generation, 200, None, now=now, retry_after=None, others_in_flight=0)


@pytest.mark.parametrize("ceiling", [1, 8, 40, 64, 200])
def test_the_limit_starts_at_the_ceiling(ceiling):
    pacing = Pacing(ceiling)
    assert pacing.capacity == ceiling
    assert pacing.limit == ceiling


@pytest.mark.parametrize(
    ("ceiling", "others_in_flight", "expected"),
    [
        (64, 40, 40),  # the tenant took 40 and refused one more: 40 fit
        (40, 39, 39),
        (40, 12, 12),  # other processes hold the rest of the tenant
        (40, 0, 1),  # never below one: a request must still go out
        (8, 30, 8),  # more in flight than the limit (sent before a cut): nothing to learn
    ],
)
def test_a_concurrency_429_learns_the_limit_from_what_was_in_flight(
    ceiling, others_in_flight, expected
):
    pacing = Pacing(ceiling)

    verdict = _refused(pacing, now=0.0, others_in_flight=others_in_flight)

    assert pacing.capacity == expected
    assert verdict == (Verdict(cut=True) if expected < ceiling else Verdict())
    assert pacing.pauses == 0  # too many in flight: only the refused request waits


def test_a_burst_of_refusals_settles_on_what_the_tenant_took_not_half_nor_one():
    """64 sent at once to a tenant of 40: 24 refused. Each refusal frees its slot, so the
    later ones see fewer in flight; the limit ends where the tenant stopped accepting."""
    pacing = Pacing(64)
    in_flight = 64
    for _ in range(24):
        in_flight -= 1  # the refused request's slot is given back after its answer
        _refused(pacing, now=0.001, others_in_flight=in_flight)

    assert pacing.capacity == 40
    assert pacing.cuts == 24


# The limit after a cut to 1 at t=0, read at each time (successes keep coming): it holds
# for HOLD seconds, then climbs by 1, 2, 4, ... slots every CLIMB_STEP.
CLIMB = [
    (0.0, 1),
    (HOLD - 0.01, 1),
    (HOLD + CLIMB_STEP, 2),
    (HOLD + 2 * CLIMB_STEP, 4),
    (HOLD + 3 * CLIMB_STEP, 8),
    (HOLD + 5 * CLIMB_STEP, 32),
    (HOLD + 6 * CLIMB_STEP, 40),  # back at the ceiling, and no further
    (HOLD + 60.0, 40),
]


def test_the_limit_climbs_back_to_the_ceiling_within_seconds_once_429s_stop():
    pacing = Pacing(40)
    _refused(pacing, now=0.0, others_in_flight=0)

    seen = []
    for moment, _ in CLIMB:
        _succeeded(pacing, now=moment)
        seen.append((moment, pacing.capacity))

    assert seen == CLIMB
    assert HOLD + 6 * CLIMB_STEP <= 4.0  # "within seconds"


def test_the_climb_does_not_depend_on_how_many_successes_came():
    """One success after four quiet seconds (a slow workflow) climbs as far as a thousand."""
    one, many = Pacing(40), Pacing(40)
    for pacing in (one, many):
        _refused(pacing, now=0.0, others_in_flight=3)
    for step in range(1000):
        _succeeded(many, now=4.0 * step / 999)
    _succeeded(one, now=4.0)

    assert one.capacity == many.capacity == 40


def test_a_refusal_while_climbing_holds_again_at_the_new_level():
    pacing = Pacing(64)
    _refused(pacing, now=0.0, others_in_flight=40)
    _succeeded(pacing, now=HOLD + CLIMB_STEP)
    assert pacing.capacity == 41  # probing one slot above what the tenant took

    _refused(pacing, now=HOLD + CLIMB_STEP, others_in_flight=40)
    _succeeded(pacing, now=HOLD + CLIMB_STEP + HOLD - 0.01)
    assert pacing.capacity == 40


def test_the_tenant_s_concurrency_header_lowers_the_ceiling_the_limit_climbs_back_to():
    from zuora_wf_async._core.ratelimit import RateLimitInfo

    pacing = Pacing(64)
    pacing.on_answer(
        0,
        200,
        RateLimitInfo(concurrency_limit=25, concurrency_remaining=10),
        now=0.0,
        retry_after=None,
        others_in_flight=0,
    )
    assert pacing.capacity == 25
    _refused(pacing, now=1.0, others_in_flight=5)
    _succeeded(pacing, now=100.0)
    assert pacing.capacity == 25


# -- one process against a tenant of 40, simulated ----------------------------------------


def _one_process(ceiling, *, runs=20_000, tenant=40, latency=0.05, retry_after=1.0):
    """``runs`` sends from one process with ``Pacing(ceiling)`` to a tenant that refuses,
    at once, a request that finds ``tenant`` in flight (FakeZuora's TenantLimits, without
    the wire: the tenant's count is the process's). A refused request waits
    ``retry_after`` without a slot, then goes again. Event-driven on a simulated clock.
    Returns (seconds, 429s)."""
    pacing = Pacing(ceiling)
    events: list[tuple[float, int, str]] = []
    seq = itertools.count()
    pending, ready, in_flight, done, refused, now = runs, 0, 0, 0, 0, 0.0

    while done < runs:
        while (pending or ready) and in_flight < pacing.capacity:
            if ready:
                ready -= 1
            else:
                pending -= 1
            if in_flight >= tenant:
                refused += 1
                _refused(pacing, now=now, others_in_flight=in_flight)
                heapq.heappush(events, (now + retry_after, next(seq), "retry"))
                continue
            in_flight += 1
            heapq.heappush(events, (now + latency, next(seq), "answer"))
        now, _, kind = heapq.heappop(events)
        if kind == "answer":
            in_flight -= 1
            done += 1
            _succeeded(pacing, now=now)
        else:
            ready += 1
    return now, refused


@pytest.mark.parametrize("ceiling", [40, 64, 200])
def test_one_process_keeps_the_tenant_full_with_few_429s(ceiling):
    """Issue 24's table, without the wire: the ideal is 20,000 x 50 ms / 40 = 25 s."""
    seconds, refused = _one_process(ceiling)

    assert seconds <= 25.0 * 1.02
    assert refused / 20_000 < 0.005


def test_each_climb_the_tenant_refuses_again_doubles_the_hold_up_to_a_limit():
    """max_concurrency above the tenant's limit: the wall stays where it is, so probing it
    every HOLD seconds would cost a 429 (and a Retry-After) each time."""
    from zuora_wf_async._core.pacing import MAX_HOLD

    pacing = Pacing(64)
    _refused(pacing, now=0.0, others_in_flight=40)
    holds, cut_at = [], 0.0
    for _ in range(5):
        moment = cut_at
        while pacing.capacity == 40:  # the first moment (on a 10 ms grid) it climbs
            moment = round(moment + 0.01, 2)
            _succeeded(pacing, now=moment)
        holds.append(round(moment - cut_at - CLIMB_STEP, 2))
        cut_at = moment
        _refused(pacing, now=cut_at, others_in_flight=40)  # the probe is refused

    assert holds == [HOLD, 2 * HOLD, 4 * HOLD, MAX_HOLD, MAX_HOLD]

    # 429s stop: the climb reaches the ceiling, and the next cut holds HOLD again.
    _succeeded(pacing, now=cut_at + MAX_HOLD + 10 * CLIMB_STEP)
    assert pacing.capacity == 64
    _refused(pacing, now=100.0, others_in_flight=40)
    _succeeded(pacing, now=100.0 + HOLD + CLIMB_STEP)
    assert pacing.capacity == 41
