"""zuora.client.* metrics from the real OpenTelemetry SDK against FakeZuora with faults."""

from __future__ import annotations

import asyncio

import pytest

from zuora_wf_async import (
    OAuthCredentials,
    RetryPolicy,
    ServerError,
    WorkflowClient,
)
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock, TenantLimits


def _client(fake: FakeZuora, otel, **options) -> WorkflowClient:
    clock = ManualClock()
    options.setdefault(
        "auth", OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
    )
    return WorkflowClient(
        fake.base_url, clock=clock, sleep=clock.sleep, **otel.providers, **options
    )


async def test_requests_attempts_retries_and_durations_by_operation_and_outcome(otel):
    plan = FaultPlan(
        rules=[
            Fault.error_before_record(503, on=[1]),
            Fault.rate_limit_burst(1, retry_after=2, on=[3]),
            Fault.error_before_record(500, endpoints=["get_run"]),
        ]
    )
    retry = RetryPolicy(max_attempts=2)
    async with FakeZuora(faults=plan) as fake, _client(fake, otel, retry=retry) as zuora:
        run = await zuora.run_workflow(396, {})
        await zuora.run_workflow(396, {})
        with pytest.raises(ServerError):
            await zuora.get_run(run.id)

    metrics = otel.metrics()
    assert otel.total("zuora.client.requests", zuora__operation="run_workflow") == 2
    assert (
        otel.total(
            "zuora.client.requests",
            zuora__operation="run_workflow",
            zuora__outcome="success",
        )
        == 2
    )
    assert (
        otel.total(
            "zuora.client.requests",
            zuora__operation="get_run",
            zuora__outcome="failure",
            error__type="ServerError",
        )
        == 1
    )
    # First run: 503 then 200; second: 429 then 200; the get_run: 500 twice.
    assert otel.total("zuora.client.attempts", zuora__operation="run_workflow") == 4
    assert otel.total("zuora.client.attempts", http__response__status_code=503) == 1
    assert otel.total("zuora.client.attempts", http__response__status_code=429) == 1
    assert otel.total("zuora.client.attempts", http__response__status_code=500) == 2
    assert otel.total("zuora.client.attempts", http__response__status_code=200) == 2
    assert otel.total("zuora.client.retries", zuora__retry__reason="server_error") == 2
    assert otel.total("zuora.client.retries", zuora__retry__reason="rate_limited") == 1
    assert otel.total("zuora.client.retries") == 3
    assert otel.total("zuora.client.throttled", zuora__throttle__kind="quota") == 1

    duration = metrics["zuora.client.call.duration"]
    assert duration.unit == "s"
    assert otel.total("zuora.client.call.duration", zuora__operation="run_workflow") == 2
    # Durations are on the client's clock: the second run waited its Retry-After of 2 s.
    [slow] = [
        point
        for point in duration.data.data_points
        if point.attributes["zuora.operation"] == "run_workflow"
    ]
    assert slow.max == pytest.approx(2.0) or slow.max > 2.0
    assert slow.min < 1.0
    assert metrics["zuora.client.requests"].unit == "{request}"
    assert metrics["zuora.client.retries"].unit == "{retry}"


async def test_a_concurrency_429_is_counted_apart_from_a_quota_429(otel):
    async with FakeZuora(limits=TenantLimits(concurrency=1)) as fake:
        fake.pause_runs()
        async with _client(fake, otel, retry=RetryPolicy(max_attempts=2)) as zuora:
            held = asyncio.create_task(zuora.run_workflow(396, {}))
            await fake.wait_for_in_flight(1)
            # Refused (the tenant holds 1), the second run learns the limit of 1 and waits
            # for the held run's slot; its resend goes once that run ends.
            second = asyncio.create_task(zuora.run_workflow(396, {}))
            await fake.wait_until(lambda: len(fake.requests_to("run")) == 2)
            fake.resume_runs()
            await asyncio.gather(held, second)

    assert otel.total("zuora.client.throttled", zuora__throttle__kind="concurrency") == 1
    assert otel.total("zuora.client.throttled", zuora__throttle__kind="quota") == 0
    assert otel.total("zuora.client.retries", zuora__retry__reason="rate_limited") == 1
    attempt_spans = [span for span in otel.spans() if span.attributes.get("zuora.throttle.kind")]
    assert {span.attributes["zuora.throttle.kind"] for span in attempt_spans} == {"concurrency"}


async def test_gauges_report_requests_in_flight_and_the_adaptive_limit(otel):
    async with FakeZuora() as fake:
        fake.pause_runs()
        async with _client(fake, otel, max_concurrency=8) as zuora:
            held = [asyncio.create_task(zuora.run_workflow(396, {})) for _ in range(3)]
            await fake.wait_for_in_flight(3)

            in_flight = otel.points("zuora.client.active_requests")
            limit = otel.points("zuora.client.concurrency.limit")

            fake.resume_runs()
            await asyncio.gather(*held)
            after = otel.points("zuora.client.active_requests")
        closed = otel.points("zuora.client.active_requests")

    address = {"server.address": "127.0.0.1", "server.port": int(fake.base_url.rsplit(":", 1)[1])}
    assert in_flight == [(address, 3)]
    assert limit == [(address, 8)]
    assert after == [(address, 0)]
    assert closed == []  # a closed client is no longer reported


async def test_two_clients_on_one_meter_provider_are_both_reported(otel):
    async with FakeZuora() as fake:
        fake.pause_runs()
        async with (
            _client(fake, otel, max_concurrency=4) as one,
            _client(fake, otel, max_concurrency=6) as two,
        ):
            held = [asyncio.create_task(c.run_workflow(396, {})) for c in (one, two, two)]
            await fake.wait_for_in_flight(3)
            in_flight = otel.total("zuora.client.active_requests")
            limit = otel.total("zuora.client.concurrency.limit")
            fake.resume_runs()
            await asyncio.gather(*held)

    assert in_flight == 3
    assert limit == 10
    assert otel.total("zuora.client.requests") == 3
