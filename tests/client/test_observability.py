"""Logs and hooks: one record per attempt, one per give-up, never a secret or a value."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from zuora_wf_async import (
    OAuthCredentials,
    RequestEvent,
    ResponseEvent,
    RetryPolicy,
    ServerError,
    TransportError,
)
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan

SECRET_VALUE = "param-value-that-must-stay-private"


async def test_each_attempt_logs_a_debug_record_with_its_identity(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="zuora_wf_async")
    async with make_client() as zuora:
        run = await zuora.run_workflow(
            396, {"card": SECRET_VALUE}, idempotency_key="k-log", track_id="t-log"
        )

    [record] = [r for r in caplog.records if getattr(r, "path", "") == "/workflows/396/run"]
    assert record.levelno == logging.DEBUG
    assert record.workflow_id == 396
    assert record.idempotency_key == "k-log"
    assert record.track_id == "t-log"
    assert record.attempt == 1
    assert record.status == 200
    assert len(record.request_id) == 36
    assert record.elapsed >= 0
    assert run.id
    assert SECRET_VALUE not in caplog.text


async def test_a_give_up_logs_one_warning_and_nothing_secret(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="zuora_wf_async")
    fake.configure_workflow(396, force_status=503)
    auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)

    async with make_client(auth=auth, retry=RetryPolicy(max_attempts=3)) as zuora:
        with pytest.raises(ServerError):
            await zuora.run_workflow(396, {"card": SECRET_VALUE}, idempotency_key="k-gu")

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].attempt == 3
    assert warnings[0].status == 503
    assert warnings[0].idempotency_key == "k-gu"
    attempts = [r for r in caplog.records if getattr(r, "path", "") == "/workflows/396/run"]
    assert [r.attempt for r in attempts] == [1, 2, 3]
    everything = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    for secret in (SECRET_VALUE, fake.client_secret, *fake_tokens(fake)):
        assert secret not in everything


def fake_tokens(fake: FakeZuora) -> list[str]:
    return [
        r.header("Authorization").split()[-1] for r in fake.requests if r.header("Authorization")
    ]


async def test_hooks_see_every_attempt_including_transport_failures(make_client):
    requests: list[RequestEvent] = []
    responses: list[ResponseEvent] = []
    plan = FaultPlan(rules=[Fault.drop_after_record(on=[1]), Fault.error_after_record(502, on=[2])])
    async with FakeZuora(faults=plan) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        from zuora_wf_async import WorkflowClient
        from zuora_wf_async.testing import ManualClock

        clock = ManualClock()
        async with WorkflowClient(
            fake.base_url,
            auth=auth,
            on_request=requests.append,
            on_response=responses.append,
            clock=clock,
            sleep=clock.sleep,
        ) as zuora:
            run = await zuora.run_workflow(396, {"a": 1}, idempotency_key="k-hooks")

    assert [e.attempt for e in requests] == [1, 2, 3]
    assert {e.idempotency_key for e in requests} == {"k-hooks"}
    assert [e.status for e in responses] == [None, 502, 200]
    assert isinstance(responses[0].error, TransportError)
    assert responses[2].workflow_id == 396
    assert fake.execution_counts_by_key() == {"k-hooks": 1}
    assert run.id == fake.executions[0].run_id


async def test_a_broken_hook_is_logged_and_the_request_goes_on(fake, make_client, caplog):
    def broken(event):
        raise RuntimeError("hook bug")

    async with make_client(on_request=broken, on_response=broken) as zuora:
        run = await zuora.run_workflow(396)

    assert run.id == fake.executions[0].run_id
    assert "observability hook raised" in caplog.text


async def test_auto_track_id_tags_every_run_and_an_explicit_one_wins(fake, make_client):
    async with make_client(auto_track_id=True) as zuora:
        await zuora.run_workflow(396, {"n": 1})
        await zuora.run_workflow(396, {"n": 2})
        await zuora.run_workflow(396, {"n": 3}, track_id="mine")

    tracks = [r.header("Zuora-Track-Id") for r in fake.requests_to("run")]
    assert tracks[0].startswith("zwa-")
    assert tracks[1].startswith("zwa-")
    assert tracks[0] != tracks[1]
    assert len(tracks[0]) <= 64
    assert tracks[2] == "mine"
    assert [r.response_headers.get("Zuora-Track-Id") for r in fake.requests_to("run")] == tracks


async def test_aiohttp_trace_configs_are_passed_through(fake, make_client):
    started: list[str] = []

    async def on_request_start(session, context, params):
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)

    async with make_client(trace_configs=[trace]) as zuora:
        await zuora.run_workflow(396)

    assert started == [f"{fake.base_url}/oauth/token", f"{fake.base_url}/workflows/396/run"]
