"""Telemetry never fails a request; the span helper for multi-call operations."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.metrics import NoOpCounter, NoOpMeter, NoOpMeterProvider
from opentelemetry.trace import StatusCode

from zuora_wf_async import NotFoundError, OAuthCredentials, WorkflowClient
from zuora_wf_async._telemetry.otel import resolve_telemetry
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock


class BrokenCounter(NoOpCounter):
    def add(self, amount, attributes=None, context=None):
        raise RuntimeError("a broken metrics exporter")


class BrokenMeter(NoOpMeter):
    def create_counter(self, name, unit="", description=""):
        return BrokenCounter(name)


class BrokenMeterProvider(NoOpMeterProvider):
    def get_meter(self, name, version=None, schema_url=None, attributes=None):
        return BrokenMeter(name)


async def test_a_failing_metrics_sdk_never_fails_a_call(otel, caplog):
    plan = FaultPlan(rules=[Fault.error_before_record(503, on=[1])])
    async with FakeZuora(faults=plan) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        clock = ManualClock()
        async with WorkflowClient(
            fake.base_url,
            auth=auth,
            clock=clock,
            sleep=clock.sleep,
            tracer_provider=otel.tracer_provider,
            meter_provider=BrokenMeterProvider(),
        ) as zuora:
            run = await zuora.run_workflow(396, {})
            outcomes = await zuora.run_many(396, [{"n": 1}, {"n": 2}])

    assert run.id > 0
    assert [outcome.ok for outcome in outcomes] == [True, True]
    assert "OpenTelemetry bookkeeping failed; the request goes on" in caplog.text
    assert caplog.records[0].levelno == logging.ERROR
    # The spans were still made and ended.
    assert len(otel.named("run_workflow")) == 3
    assert all(span.end_time for span in otel.spans())


async def test_an_operation_span_is_the_parent_of_its_calls(otel):
    async with FakeZuora() as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        telemetry = resolve_telemetry(
            **otel.providers,
            propagate_trace_context=False,
            base_url=fake.base_url,
            clock=ManualClock(),
        )
        async with WorkflowClient(fake.base_url, auth=auth, **otel.providers) as zuora:
            run = await zuora.run_workflow(396, {})
            with telemetry.span("wait_for_run", {"zuora.run.id": run.id}):
                await zuora.get_run(run.id)
                await zuora.get_run(run.id)
            with (
                pytest.raises(NotFoundError),
                telemetry.span("wait_for_run", {"zuora.run.id": 5}),
            ):
                await zuora.get_run(5)

    ok, failed = otel.named("wait_for_run")
    assert [span.name for span in otel.children(ok)] == ["get_run", "get_run"]
    assert ok.attributes["zuora.run.id"] == run.id
    assert ok.status.status_code is StatusCode.UNSET
    assert [span.name for span in otel.children(failed)] == ["get_run"]
    assert failed.attributes["error.type"] == "NotFoundError"
    assert failed.status.description == "NotFoundError"  # the type only, never the message
    assert failed.events == ()
