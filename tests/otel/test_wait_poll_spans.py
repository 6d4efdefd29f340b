"""A poll that a wait's deadline cut short: its span names the failure, not an internal signal."""

from __future__ import annotations

import random

import pytest

from zuora_wf_async import OAuthCredentials, RunWaitTimeoutError, WorkflowClient
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock


async def test_a_poll_ended_by_the_wait_records_its_own_error_type(otel):
    # Every poll answers 503; the wait's 1 s ends the poll's retries (the loop raises an
    # internal CallerDeadlinePassed for the wait to tell), and the poll's span and the
    # call metric must name the 503's ServerError, as every other failed call does.
    plan = FaultPlan(rules=[Fault.error_before_record(503, endpoints=["get_run"])])
    clock = ManualClock()
    async with FakeZuora(faults=plan) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        options = {"clock": clock, "sleep": clock.sleep, "rng": random.Random(0)}
        async with WorkflowClient(fake.base_url, auth=auth, **otel.providers, **options) as zuora:
            run = await zuora.run_workflow(396)
            with pytest.raises(RunWaitTimeoutError):
                await zuora.wait_for_run(run.id, timeout=1)

    polls = otel.named("get_run")
    assert polls
    types = {dict(span.attributes or {}).get("error.type") for span in polls}
    assert types == {"ServerError"}
    calls = [
        point.attributes
        for point in otel.metrics()["zuora.client.requests"].data.data_points
        if point.attributes.get("zuora.operation") == "get_run"
    ]
    assert calls
    assert {attributes.get("error.type") for attributes in calls} == {"ServerError"}
