"""Adaptive concurrency, quota pauses and the rate cap, driven by hand-set times."""

from __future__ import annotations

import pytest

from zuora_wf_async._core.pacing import Pacing
from zuora_wf_async._core.ratelimit import RateLimitInfo


def test_a_429_halves_concurrency_once_per_generation():
    pacing = Pacing(32)
    generation = pacing.generation

    for _ in range(10):  # ten 429s from requests sent in the same generation
        pacing.on_throttled(generation, now=0.0, retry_after=None)

    assert pacing.capacity == 16
    assert pacing.cuts == 1


def test_successive_generations_keep_cutting_down_to_the_floor():
    pacing = Pacing(32)
    for _ in range(10):
        pacing.on_throttled(pacing.generation, now=0.0, retry_after=None)
    assert pacing.capacity == 1


def test_successes_grow_concurrency_back_additively_up_to_the_maximum():
    pacing = Pacing(8)
    pacing.on_throttled(pacing.generation, now=0.0, retry_after=None)
    assert pacing.capacity == 4

    for _ in range(4):  # each success adds 1/limit: four leave it just under 5
        pacing.on_success()
    assert pacing.capacity == 4
    pacing.on_success()
    assert pacing.capacity == 5
    for _ in range(200):
        pacing.on_success()
    assert pacing.capacity == 8


def test_retry_after_pauses_every_new_send():
    pacing = Pacing(4)
    pacing.on_throttled(pacing.generation, now=10.0, retry_after=3.0)

    assert pacing.before_send(11.0) == pytest.approx(2.0)
    assert pacing.before_send(13.0) == 0.0


def test_quota_exhaustion_waits_for_the_reset_instead_of_sending():
    pacing = Pacing(8)
    pacing.on_response(RateLimitInfo(remaining=2, reset=5.0), now=100.0, others_in_flight=0)

    assert pacing.before_send(100.0) == 0.0
    assert pacing.before_send(100.0) == 0.0
    assert pacing.before_send(101.0) == pytest.approx(4.0)  # quota spent: wait for the reset
    assert pacing.before_send(105.0) == 0.0  # a new window


def test_requests_in_flight_count_against_the_remaining_quota():
    pacing = Pacing(8)
    pacing.on_response(RateLimitInfo(remaining=3, reset=1.0), now=0.0, others_in_flight=3)

    assert pacing.before_send(0.0) == pytest.approx(1.0)


def test_the_rate_cap_spaces_sends():
    pacing = Pacing(8, max_rate=4.0)

    assert pacing.before_send(0.0) == 0.0
    assert pacing.before_send(0.0) == pytest.approx(0.25)
    assert pacing.before_send(0.25) == 0.0
    assert pacing.before_send(0.30) == pytest.approx(0.20)


def test_concurrency_headers_lower_the_limit():
    pacing = Pacing(32)
    pacing.on_response(RateLimitInfo(concurrency_limit=10), now=0.0, others_in_flight=0)
    assert pacing.capacity == 10
    pacing.on_response(RateLimitInfo(concurrency_remaining=0), now=0.0, others_in_flight=6)
    assert pacing.capacity == 6


def test_no_headers_change_nothing():
    pacing = Pacing(5)
    pacing.on_response(None, now=0.0, others_in_flight=4)
    assert pacing.capacity == 5
    assert pacing.before_send(0.0) == 0.0
