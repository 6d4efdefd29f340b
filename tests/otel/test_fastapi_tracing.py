"""examples/fastapi_app.py traced: the app's span, the client's under it, HTTP spans under ours."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.trace import SpanKind

from zuora_wf_async import OAuthCredentials, WorkflowClient, derive_key
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "fastapi_app.py"
CALLER_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_SPAN_ID = 0x00F067AA0BA902B7


def load_example():
    spec = importlib.util.spec_from_file_location("fastapi_app_traced_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_request_shows_the_app_span_ours_under_it_and_http_spans_under_ours(otel):
    plan = FaultPlan(rules=[Fault.error_before_record(503, on=[1])])
    async with FakeZuora(faults=plan) as fake:

        def factory() -> WorkflowClient:
            auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
            clock = ManualClock()  # the backoff before the resend costs no real time
            return WorkflowClient(
                fake.base_url,
                auth=auth,
                clock=clock,
                sleep=clock.sleep,
                trace_configs=[create_trace_config(tracer_provider=otel.tracer_provider)],
                **otel.providers,
            )

        app = load_example().create_app(factory, tracer_provider=otel.tracer_provider)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
                traceparent = f"00-{CALLER_TRACE_ID:032x}-{CALLER_SPAN_ID:016x}-01"
                response = await http.post(
                    "/accounts/A-77/onboard", headers={"traceparent": traceparent}
                )
        secrets = {
            fake.client_secret,
            derive_key("onboard", "A-77"),
            *(
                header.split()[-1]
                for request in fake.requests
                if (header := request.header("Authorization"))
            ),
        }

    assert response.status_code == 200
    # Level 1: the app's span, continuing the caller's trace.
    [app_span] = [span for span in otel.spans() if span.kind is SpanKind.SERVER]
    assert app_span.name == "POST /accounts/{account_id}/onboard"
    assert app_span.attributes["http.response.status_code"] == 200
    assert app_span.parent is not None
    assert app_span.parent.span_id == CALLER_SPAN_ID
    assert app_span.parent.is_remote
    assert otel.roots() == []  # every span descends from the caller's, through the app's
    assert {span.context.trace_id for span in otel.spans()} == {CALLER_TRACE_ID}
    # Level 2: the client's call, under the app's span.
    [call] = otel.children(app_span)
    assert call.name == "run_workflow"
    assert call.attributes["zuora.run.id"] == response.json()["runId"]
    assert call.attributes["zuora.attempts"] == 2
    # Level 3: each attempt, and aiohttp's HTTP spans under the attempts.
    attempts = otel.children(call)
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 200]
    http_spans = [span for attempt in attempts for span in otel.children(attempt)]
    assert [span.kind for span in http_spans] == [SpanKind.CLIENT] * 3  # token, 503, 200
    assert {span.instrumentation_scope.name for span in http_spans} == {
        "opentelemetry.instrumentation.aiohttp_client"
    }
    # All the spans of the request, and nothing secret in any of them.
    assert len(otel.spans()) == 1 + 1 + 2 + 3
    exported = otel.exported_text()
    for secret in secrets:
        assert secret not in exported
