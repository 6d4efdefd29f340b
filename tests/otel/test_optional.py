"""Without the otel extra nothing changes and nothing is imported; the pure helpers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from zuora_wf_async import (
    IdempotencyInProgressError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    ZuoraError,
)
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._telemetry import NO_TELEMETRY
from zuora_wf_async._telemetry.attributes import (
    path_template,
    retry_category,
    run_id_of,
    throttle_kind,
    workflow_id_of,
)
from zuora_wf_async._telemetry.otel import resolve_telemetry


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- this interpreter, with the test's own script
        [sys.executable, "-W", "error", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# A meta path finder that makes every opentelemetry import fail, as if the extra were absent.
_WITHOUT_OTEL = """
import importlib.abc, sys

class NoOtel(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoOtel())
"""


def test_without_opentelemetry_a_client_works_and_imports_nothing_of_it():
    result = _run(
        _WITHOUT_OTEL
        + """
import asyncio
from zuora_wf_async import InvalidRequestError, OAuthCredentials, WorkflowClient
from zuora_wf_async.testing import FakeZuora

async def main():
    async with FakeZuora() as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(fake.base_url, auth=auth) as zuora:
            assert type(zuora._pipeline.telemetry).__name__ == "Telemetry"
            run = await zuora.run_workflow(396, {"a": 1})
            outcomes = await zuora.run_many(396, [{"n": n} for n in range(3)])
        try:
            WorkflowClient(fake.base_url, auth=auth, tracer_provider=object())
        except InvalidRequestError as error:
            print("refused:", error.field, "|", error.fix)
    print(run.id > 0, [o.ok for o in outcomes])

asyncio.run(main())
assert not [m for m in sys.modules if m.split(".")[0] == "opentelemetry"], "imported"
"""
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    fix = "install the extra: pip install 'zuora-wf-async[otel]'"
    assert lines[0] == f"refused: tracer_provider | {fix}"
    assert lines[1] == "True [True, True, True]"


def test_importing_the_package_imports_no_opentelemetry():
    result = _run(
        """
import sys
import zuora_wf_async, zuora_wf_async.testing
print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_no_op_scopes_are_one_shared_context_that_does_nothing():
    call = object()
    assert NO_TELEMETRY.call_scope(call) is NO_TELEMETRY.attempt_scope(call)
    with NO_TELEMETRY.call_scope(call) as entered, NO_TELEMETRY.attempt_scope(call) as inner:
        assert entered is None
        assert inner is None
    assert NO_TELEMETRY.propagates is False
    batch = NO_TELEMETRY.batch("run_many", workflow_id=1, window=1, total=None)
    with batch.item_scope(0) as entered:
        assert entered is None


def test_with_opentelemetry_installed_the_default_is_the_global_providers():
    telemetry = resolve_telemetry(
        tracer_provider=None,
        meter_provider=None,
        propagate_trace_context=False,
        base_url="https://rest.test.zuora.com",
        clock=lambda: 0.0,
    )
    assert telemetry.enabled


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/workflows/396/run", "/workflows/{id}/run"),
        ("/workflows/workflow_runs/10001", "/workflows/workflow_runs/{id}"),
        ("/workflows/workflow_runs/10001/stop", "/workflows/workflow_runs/{id}/stop"),
        ("/workflows/tasks", "/workflows/tasks"),
        ("/workflows/12/versions/1.0.2", "/workflows/{id}/versions/{id}"),
        ("/oauth/token", "/oauth/token"),
    ],
)
def test_span_names_use_a_path_template(path, template):
    assert path_template(path) == template


def test_the_run_id_comes_from_the_answer_or_the_run_path():
    class NotARun:
        id = 5

    assert run_id_of("/workflows/workflow_runs/10001/stop", None) == 10001
    assert run_id_of("/workflows/workflow_runs/10001", NotARun()) == 10001
    assert run_id_of("/workflows/396/run", NotARun()) is None
    assert run_id_of("/workflows/tasks", None) is None


@pytest.mark.parametrize(
    ("path", "workflow_id"),
    [
        ("/workflows/396", 396),
        ("/workflows/396/run", 396),
        ("/workflows/396/export", 396),
        ("/workflows/396/versions", 396),
        ("/workflows/workflow_runs/10001", None),
        ("/workflows/tasks/5", None),
        ("/workflows", None),
        ("/workflows/3960x", None),
    ],
)
def test_the_workflow_id_comes_from_a_definition_path(path, workflow_id):
    assert workflow_id_of(path) == workflow_id


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (RateLimitError("429", status=429), "rate_limited"),
        (TransportError("reset"), "transport"),
        (RequestTimeoutError("slow"), "timeout"),
        (ServerError("503", status=503), "server_error"),
        (UnauthorizedError("401", status=401), "token_refresh"),
        (IdempotencyInProgressError("409", status=409), "in_progress"),
        (ZuoraError("other"), "other"),
    ],
)
def test_retry_reasons_are_a_small_fixed_set(error, category):
    assert retry_category(error) == category


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "12"}, "quota"),
        ({"Retry-After": "1"}, "concurrency"),
        ({}, "concurrency"),
        ({"RateLimit-Remaining": "40", "RateLimit-Reset": "12"}, "concurrency"),
        ({"RateLimit-Remaining": "0", "Concurrency-Limit-Remaining": "0"}, "concurrency"),
    ],
)
def test_a_429_is_a_quota_or_a_concurrency_refusal(headers, kind):
    assert throttle_kind(RawResponse(status=429, headers=headers, body=b"")) == kind
