"""Spans from the real OpenTelemetry SDK against FakeZuora with faults: tree, attributes,
and nothing secret in anything exported."""

from __future__ import annotations

import pytest
from opentelemetry import baggage, context
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.trace import SpanKind, StatusCode

from zuora_wf_async import (
    InvalidRequestError,
    NotFoundError,
    OAuthCredentials,
    RetryPolicy,
    TransportError,
    WorkflowClient,
)
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

PARAM_VALUE = "card-4111-1111-marker"
KEY = "idem-key-marker-7f3a"


def _client(fake: FakeZuora, otel, **options) -> WorkflowClient:
    clock = ManualClock()
    options.setdefault(
        "auth", OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
    )
    return WorkflowClient(
        fake.base_url, clock=clock, sleep=clock.sleep, **otel.providers, **options
    )


def _tokens(fake: FakeZuora) -> set[str]:
    return {
        header.split()[-1]
        for request in fake.requests
        if (header := request.header("Authorization"))
    }


async def test_a_resent_call_is_one_span_with_an_attempt_span_per_send(otel):
    plan = FaultPlan(rules=[Fault.error_before_record(503, on=[1])])
    async with FakeZuora(faults=plan) as fake, _client(fake, otel) as zuora:
        run = await zuora.run_workflow(
            396, {"card": PARAM_VALUE}, idempotency_key=KEY, track_id="track-1"
        )

    [call] = otel.roots()
    assert call.name == "run_workflow"
    assert call.kind is SpanKind.INTERNAL
    attributes = dict(call.attributes or {})
    assert attributes["zuora.operation"] == "run_workflow"
    assert attributes["zuora.workflow.id"] == 396
    assert attributes["zuora.run.id"] == run.id
    assert attributes["zuora.track_id"] == "track-1"
    assert attributes["zuora.attempts"] == 2
    assert attributes["http.response.status_code"] == 200
    assert "error.type" not in attributes
    assert call.status.status_code is StatusCode.UNSET

    first, second = otel.children(call)
    for attempt in (first, second):
        assert attempt.name == "POST /workflows/{id}/run"
        assert attempt.kind is SpanKind.CLIENT
        assert attempt.attributes["http.request.method"] == "POST"
        assert attempt.attributes["url.path"] == "/workflows/396/run"
        assert attempt.attributes["server.address"] == "127.0.0.1"
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["zuora.attempt"] == 2
    # Every answer's request id, the last one on the call: what Zuora's support asks for.
    run_requests = fake.requests_to("run")
    assert len(run_requests) == 2
    assert attributes["zuora.request_id"] == second.attributes["zuora.request_id"]
    assert first.attributes["zuora.request_id"] != second.attributes["zuora.request_id"]

    [retry] = call.events
    assert retry.name == "zuora.retry"
    assert retry.attributes["zuora.retry.reason"] == "server_error"
    assert retry.attributes["error.type"] == "503"
    assert retry.attributes["zuora.retry.delay"] > 0
    # The wait sits between the two attempts.
    assert first.end_time <= retry.timestamp <= second.start_time


async def test_a_call_that_gives_up_says_whether_it_may_have_run(otel):
    plan = FaultPlan(rules=[Fault.drop_after_record()])
    retry = RetryPolicy(max_attempts=3)
    async with FakeZuora(faults=plan) as fake, _client(fake, otel, retry=retry) as zuora:
        with pytest.raises(TransportError) as caught:
            await zuora.run_workflow(396, {"card": PARAM_VALUE}, idempotency_key=KEY)

    [call] = otel.roots()
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "TransportError"
    assert call.attributes["zuora.may_have_run"] is True
    assert caught.value.may_have_run is True
    assert call.attributes["zuora.attempts"] == 3
    attempts = otel.children(call)
    assert [a.attributes["error.type"] for a in attempts] == ["TransportError"] * 3
    assert [e.attributes["zuora.retry.reason"] for e in call.events] == ["transport"] * 2


async def test_a_final_answer_is_an_error_span_that_did_not_run(otel):
    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        with pytest.raises(NotFoundError):
            await zuora.get_run(987654)

    [call] = otel.roots()
    assert call.name == "get_run"
    assert call.attributes["zuora.run.id"] == 987654
    assert call.attributes["error.type"] == "NotFoundError"
    assert call.attributes["http.response.status_code"] == 404
    assert call.attributes["zuora.may_have_run"] is False
    [attempt] = otel.children(call)
    assert attempt.name == "GET /workflows/workflow_runs/{id}"
    assert attempt.attributes["error.type"] == "404"
    assert call.events == ()


async def test_a_workflow_api_operation_is_a_span_named_after_it(otel):
    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        workflow_id = fake.create_workflow("Onboarding")
        workflow = await zuora.get_workflow(workflow_id)

    [found] = otel.roots()
    assert found.name == "get_workflow"
    assert found.attributes["zuora.workflow.id"] == workflow.id == workflow_id
    [attempt] = otel.children(found)
    assert attempt.name == "GET /workflows/{id}"
    assert attempt.attributes["http.response.status_code"] == 200


async def test_bad_input_builds_no_span(otel):
    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        with pytest.raises(InvalidRequestError):
            await zuora.run_workflow(396, {"card": PARAM_VALUE}, idempotency_key=" padded ")
    assert otel.spans() == []


async def test_aiohttp_instrumentation_spans_nest_under_the_attempts(otel):
    plan = FaultPlan(rules=[Fault.error_before_record(502, on=[1])])
    async with FakeZuora(faults=plan) as fake:
        trace_config = create_trace_config(tracer_provider=otel.tracer_provider)
        async with _client(fake, otel, trace_configs=[trace_config]) as zuora:
            await zuora.run_workflow(396, {"card": PARAM_VALUE})

    [call] = otel.roots()
    attempts = otel.children(call)
    assert [a.name for a in attempts] == ["POST /workflows/{id}/run"] * 2
    # Under each attempt, aiohttp's own span for the HTTP exchange; the OAuth token was
    # fetched for the first attempt, so its HTTP span sits under that attempt too.
    first_http = otel.children(attempts[0])
    second_http = otel.children(attempts[1])
    assert [span.kind for span in first_http + second_http] == [SpanKind.CLIENT] * 3
    urls = [
        str(span.attributes.get("http.url", span.attributes.get("url.full"))) for span in first_http
    ]
    assert [url.rsplit("/", 2)[-2:] for url in urls] == [["oauth", "token"], ["396", "run"]]
    [resend] = second_http
    assert {resend.context.trace_id} == {span.context.trace_id for span in otel.spans()}
    # Nothing floats beside ours: every span of the trace descends from the call.
    assert len(otel.roots()) == 1


async def test_no_traceparent_goes_to_zuora_unless_asked(otel):
    async with FakeZuora() as fake:
        async with _client(fake, otel) as zuora:
            await zuora.run_workflow(396, {})
        assert all(request.header("traceparent") is None for request in fake.requests)

        async with _client(fake, otel, propagate_trace_context=True) as zuora:
            token = context.attach(baggage.set_baggage("customer.email", "a@example.com"))
            try:
                await zuora.run_workflow(396, {})
            finally:
                context.detach(token)
        last = fake.requests_to("run")[-1]
        sent = last.header("traceparent")

    assert last.header("baggage") is None  # trace context only, never the app's baggage

    assert sent is not None
    attempt = otel.named("POST /workflows/{id}/run")[-1]
    version, trace_id, parent_id, _flags = sent.split("-")
    assert version == "00"
    assert int(trace_id, 16) == attempt.context.trace_id
    assert int(parent_id, 16) == attempt.context.span_id


async def test_no_secret_token_key_or_parameter_is_exported(otel):
    plan = FaultPlan(
        rules=[
            Fault.error_before_record(503, on=[1]),
            Fault.expire_token(on=[2]),
            Fault.rate_limit_burst(1, retry_after=1, on=[3]),
        ]
    )
    async with FakeZuora(faults=plan) as fake, _client(fake, otel) as zuora:
        run = await zuora.run_workflow(
            396, {"card": PARAM_VALUE, "nested": {"cvv": PARAM_VALUE}}, idempotency_key=KEY
        )
        await zuora.get_run(run.id)
        with pytest.raises(NotFoundError):
            await zuora.stop_run(run.id + 999)
        secrets = {fake.client_secret, PARAM_VALUE, KEY, *_tokens(fake)}

    assert len(secrets) >= 5  # the secret, the value, the key and two tokens (one refreshed)
    exported = otel.exported_text()
    assert "zuora.retry" in exported  # the faults above were seen...
    for secret in secrets:
        assert secret not in exported  # ...and nothing secret went out with them


async def test_wrong_provider_types_are_refused_before_anything_is_sent(otel):
    with pytest.raises(InvalidRequestError, match="tracer_provider"):
        WorkflowClient(
            "https://rest.test.zuora.com",
            auth=OAuthCredentials(client_id="x" * 36, client_secret="s"),
            tracer_provider=object(),
        )
    with pytest.raises(InvalidRequestError, match="propagate_trace_context"):
        WorkflowClient(
            "https://rest.test.zuora.com",
            auth=OAuthCredentials(client_id="x" * 36, client_secret="s"),
            propagate_trace_context="yes",
        )


async def test_a_wait_is_one_span_with_its_polls_as_children(otel):
    async with FakeZuora() as fake, _client(fake, otel) as zuora:
        run = await zuora.run_workflow(396)
        detail = await zuora.wait_for_run(run.id)

    [wait] = otel.named("wait_for_run")
    assert dict(wait.attributes or {})["zuora.run.id"] == run.id
    polls = [span for span in otel.children(wait) if span.name == "get_run"]
    assert polls  # every poll of the wait is a get_run span under it
    assert all(span.parent is not None for span in polls)
    assert detail.is_terminal
