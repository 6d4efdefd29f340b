"""A batch is one parent span with a bounded number of traced items, and counted in full."""

from __future__ import annotations

import asyncio

from opentelemetry import trace

from zuora_wf_async import OAuthCredentials, RunRequest, WorkflowClient
from zuora_wf_async._telemetry import batch_trace
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock


def _client(fake: FakeZuora, otel, **options) -> WorkflowClient:
    clock = ManualClock()
    options.setdefault(
        "auth", OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
    )
    return WorkflowClient(
        fake.base_url, clock=clock, sleep=clock.sleep, **otel.providers, **options
    )


async def test_a_big_batch_traces_its_first_items_only_and_counts_them_all(otel):
    items = batch_trace.BATCH_TRACED_ITEMS + 30
    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        tracer = otel.tracer_provider.get_tracer("the-service")
        with tracer.start_as_current_span("nightly-job") as job:
            outcomes = await zuora.run_many(396, [{"n": n} for n in range(items)])
        assert len(fake.executions) == items

    assert all(outcome.ok for outcome in outcomes)
    [root] = otel.roots()
    assert root.context.span_id == job.get_span_context().span_id
    [batch] = [span for span in otel.children(root) if span.name == "run_many"]
    assert batch.attributes["zuora.workflow.id"] == 396
    assert batch.attributes["zuora.batch.total"] == items
    assert batch.attributes["zuora.batch.items"] == items
    assert batch.attributes["zuora.batch.failed"] == 0
    assert batch.attributes["zuora.batch.traced_items"] == batch_trace.BATCH_TRACED_ITEMS
    calls = otel.children(batch)
    assert [call.name for call in calls] == ["run_workflow"] * batch_trace.BATCH_TRACED_ITEMS
    # The untraced items built no span anywhere, yet every item was counted.
    assert len(otel.named("run_workflow")) == batch_trace.BATCH_TRACED_ITEMS
    assert otel.total("zuora.client.batch.items", zuora__outcome="success") == items
    assert otel.total("zuora.client.requests", zuora__operation="run_workflow") == items


async def test_failures_past_the_traced_items_are_bounded_events(otel, monkeypatch):
    monkeypatch.setattr(batch_trace, "BATCH_TRACED_ITEMS", 3)  # the module that reads it
    plan = FaultPlan(rules=[Fault.error_before_record(400, on=[2, 6, 8])])
    async with FakeZuora(faults=plan) as fake, _client(fake, otel) as zuora:
        stream = zuora.stream_runs(396, ({"n": n} for n in range(10)), window=1)
        async with stream:
            outcomes = [outcome async for outcome in stream]

    assert sorted(o.index for o in outcomes if not o.ok) == [1, 5, 7]
    [batch] = otel.named("stream_runs")
    assert "zuora.batch.total" not in batch.attributes  # a generator has no length
    assert batch.attributes["zuora.batch.items"] == 10
    assert batch.attributes["zuora.batch.failed"] == 3
    assert batch.attributes["zuora.batch.traced_items"] == 3
    calls = otel.children(batch)
    assert len(calls) == 3
    assert calls[1].attributes["error.type"] == "BadRequestError"  # item 1: a traced failure
    events = [(e.name, dict(e.attributes)) for e in batch.events]
    assert events == [
        (
            "zuora.batch.item_failed",
            {
                "zuora.batch.index": index,
                "error.type": "BadRequestError",
                "zuora.may_have_run": False,
            },
        )
        for index in (5, 7)
    ]
    assert otel.total("zuora.client.batch.items", zuora__outcome="failure") == 3
    assert otel.total("zuora.client.batch.items", zuora__outcome="success") == 7


async def test_a_stream_left_early_ends_its_span(otel):
    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        stream = zuora.stream_runs(396, [RunRequest(params={"n": n}) for n in range(50)], window=4)
        async with stream:
            async for _outcome in stream:
                break
        await asyncio.sleep(0)

    [batch] = otel.named("stream_runs")
    assert batch.end_time is not None
    assert batch.attributes["zuora.batch.items"] == 1
    assert batch.attributes["zuora.batch.total"] == 50


async def test_a_caller_suppressing_instrumentation_silences_our_spans_too(otel):
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            await zuora.run_workflow(396, {})
        finally:
            detach(token)
        await zuora.run_workflow(396, {})

    assert [span.name for span in otel.roots()] == ["run_workflow"]
    assert otel.total("zuora.client.requests") == 2  # metrics are not traces: both counted
    assert trace.get_current_span() is trace.INVALID_SPAN
