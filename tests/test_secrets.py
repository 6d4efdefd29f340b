"""A known client secret and the tokens it earns never show up anywhere a person can read.

Every error path of the library and the command line is driven with a real secret (the
fake's own, so requests succeed and fail for real) while log records, exception messages,
reprs and CLI output are collected; then each collected text is searched for the secret
and for every token the fake ever issued.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from zuora_wf_async import (
    BearerToken,
    OAuthCredentials,
    RetryPolicy,
    WorkflowClient,
    ZuoraError,
)
from zuora_wf_async.cli import run_command
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock

SECRET = "Kn0wn-Secret-4f3c2b1a0e9d8c7b6a5f4e3d2"
CLIENT_ID = "c0ffee00-1111-2222-3333-444455556666"


def texts_of(error: BaseException) -> list[str]:
    found = [str(error), repr(error), *(str(arg) for arg in error.args)]
    found.extend(repr(value) for value in vars(error).values())
    return found


def tokens_issued(fake: FakeZuora) -> set[str]:
    return {
        header.split()[-1]
        for request in fake.requests
        if (header := request.header("Authorization"))
    } | {
        str(request.body.get("access_token"))
        for request in fake.requests
        if isinstance(request.body, dict) and "access_token" in request.body
    }


async def library_error_paths(fake: FakeZuora, clock: ManualClock) -> list[str]:
    """Run every kind of failure through a client holding the secret; collect the texts."""
    collected: list[str] = []
    auth = OAuthCredentials(client_id=CLIENT_ID, client_secret=SECRET)
    fake.configure_workflow(400, callout_enabled=False)
    fake.configure_workflow(403, force_status=403)
    fake.configure_workflow(404, force_status=404)
    fake.configure_workflow(406, required_params=("accountId",))
    fake.configure_workflow(500, force_status=500)
    attempts: list[Any] = [
        (396, {"id": "reserved"}, {}),  # local validation
        (396, {}, {"idempotency_key": ""}),
        (400, {}, {}),
        (403, {}, {}),
        (404, {}, {}),
        (406, {"card": "4111"}, {}),
        (500, {}, {}),
        (396, {"n": 1}, {"idempotency_key": "same"}),
        (396, {"n": 2}, {"idempotency_key": "same"}),  # 422
    ]
    events: list[Any] = []
    async with WorkflowClient(
        fake.base_url,
        auth=auth,
        retry=RetryPolicy(max_attempts=2),
        clock=clock,
        sleep=clock.sleep,
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
    ) as zuora:
        collected.append(repr(zuora))
        collected.append(repr(zuora.stats))
        for workflow_id, params, options in attempts:
            try:
                await zuora.run_workflow(workflow_id, params, **options)
            except ZuoraError as error:
                collected.extend(texts_of(error))
        run = await zuora.run_workflow(396, {"ok": True})
        with pytest.raises(ZuoraError) as caught:
            await zuora.run_workflow(run.id)  # 409: a run id as workflow id
        collected.extend(texts_of(caught.value))
        fake.expire_tokens()
        await zuora.run_workflow(396, {"after": "expiry"})
        with pytest.raises(ZuoraError) as caught:
            await zuora.get_run(999_999)
        collected.extend(texts_of(caught.value))
    collected.extend(repr(event) for event in events)
    collected.append(repr(auth))
    # Wrong secrets and bad tokens fail in their own ways.
    for bad_auth in (
        OAuthCredentials(client_id=CLIENT_ID, client_secret=SECRET + "-wrong"),
        BearerToken(SECRET),
    ):
        async with WorkflowClient(fake.base_url, auth=bad_auth) as zuora:
            with pytest.raises(ZuoraError) as caught:
                await zuora.run_workflow(396)
            collected.extend(texts_of(caught.value))
            collected.append(repr(zuora))
    return collected


async def test_no_secret_or_token_in_errors_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    plan = FaultPlan(rules=[Fault.drop_after_record(on=[12]), Fault.rate_limit_burst(1, on=[14])])
    async with FakeZuora(client_id=CLIENT_ID, client_secret=SECRET, faults=plan) as fake:
        collected = await library_error_paths(fake, clock)
        tokens = tokens_issued(fake)

    collected.append(caplog.text)
    collected.extend(str(vars(record)) for record in caplog.records)
    assert len(tokens) >= 2  # the client really did authenticate, twice (after expiry)
    for text in collected:
        assert SECRET not in text
        for token in tokens:
            assert token not in text


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["run", "396", "--param", "accountId=A-1"], id="run-ok"),
        pytest.param(["run", "396", "--param", "id=reserved"], id="run-invalid"),
        pytest.param(["run", "403"], id="run-forbidden"),
        pytest.param(["get", "999999"], id="get-not-found"),
        pytest.param(["stop", "999999"], id="stop-not-found"),
        pytest.param(["tasks", "999999"], id="tasks-unknown"),
        pytest.param(["wait", "999999", "--timeout", "1"], id="wait-not-found"),
        pytest.param(["run", "396", "--bogus-flag"], id="usage-error"),
    ],
)
async def test_no_secret_or_token_in_cli_output(argv, capsys):
    async with FakeZuora(client_id=CLIENT_ID, client_secret=SECRET) as fake:
        fake.configure_workflow(403, force_status=403)
        environ = {
            "ZUORA_BASE_URL": fake.base_url,
            "ZUORA_CLIENT_ID": CLIENT_ID,
            "ZUORA_CLIENT_SECRET": SECRET,
        }
        try:
            code = await asyncio.wait_for(run_command(argv, environ=environ), timeout=30)
        except SystemExit as exit_:  # argparse usage errors
            code = exit_.code
        tokens = tokens_issued(fake)

    output = capsys.readouterr()
    assert code is not None
    for text in (output.out, output.err):
        assert SECRET not in text
        for token in tokens:
            assert token not in text
