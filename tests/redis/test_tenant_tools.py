"""Issue 23, "Also": ClientStats tells the process's peak from the tenant's; the CLI reads
ZUORA_TENANT_CONCURRENCY and --tenant-concurrency as from_env does; `zuora-wf tenant`
shows who holds the tenant's slots and clears a stale holder."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from zuora_wf_async import BearerToken, OAuthCredentials, WorkflowClient
from zuora_wf_async._env import options_from_env
from zuora_wf_async._shared import SharedLimits
from zuora_wf_async.cli import run_command
from zuora_wf_async.cli._config import UsageError, add_connection_options, make_client
from zuora_wf_async.testing import FakeZuora


async def test_stats_tell_the_process_peak_from_the_tenant_peak(valkey):
    async with FakeZuora() as fake:
        token = fake.issue_token()
        pair = [
            WorkflowClient(
                fake.base_url,
                auth=BearerToken(token),
                shared_limits=valkey.url,
                tenant_concurrency=4,
                max_concurrency=8,
            )
            for _ in range(2)
        ]
        async with pair[0], pair[1]:
            fake.pause_runs()
            runs = [
                asyncio.ensure_future(c.run_workflow(396, {"n": n}))
                for n in range(10)
                for c in pair
            ]
            await fake.wait_for_in_flight(4)  # the tenant's four, between the two
            fake.resume_runs()
            await asyncio.gather(*runs)
            stats = [c.stats for c in pair]
    # Each sent no more than the tenant allows, though 8 of its calls held a local slot.
    assert all(s.peak_in_flight <= 4 for s in stats)
    assert sum(s.peak_in_flight for s in stats) >= 4
    assert max(s.tenant_peak_in_flight for s in stats) == 4
    async with FakeZuora() as fake:
        alone = WorkflowClient(fake.base_url, auth=BearerToken(fake.issue_token()))
        async with alone:
            await alone.run_workflow(396, {})
            assert alone.stats.tenant_peak_in_flight is None
            assert alone.stats.peak_in_flight == 1


def cli_client(argv, environ):
    parser = argparse.ArgumentParser()
    add_connection_options(parser)
    args = parser.parse_args(["--base-url", "https://rest.test.zuora.com", *argv])
    return make_client(args, {"ZUORA_BEARER_TOKEN": "t", **environ})


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {"ZUORA_TENANT_CONCURRENCY": "10"}, 10),
        (["--tenant-concurrency", "12"], {"ZUORA_TENANT_CONCURRENCY": "10"}, 12),
        (["--tenant-concurrency", "12"], {}, 12),
    ],
)
def test_the_cli_reads_the_tenant_concurrency_as_from_env_does(argv, environ, expected):
    zuora = cli_client(["--redis-url", "redis://cache:6379/0", *argv], environ)
    assert zuora.tenant_concurrency == expected
    if not argv:  # the same environment, the same value through from_env
        assert options_from_env(environ)["tenant_concurrency"] == expected


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        ([], {"ZUORA_TENANT_CONCURRENCY": "abc"}, "ZUORA_TENANT_CONCURRENCY"),
        (["--tenant-concurrency", "0"], {}, "--tenant-concurrency"),
        (
            ["--tenant-concurrency", "1.5"],
            {"ZUORA_TENANT_CONCURRENCY": "40"},
            "--tenant-concurrency",
        ),
    ],
)
def test_a_bad_tenant_concurrency_is_a_usage_error_naming_its_source(argv, environ, named):
    with pytest.raises(UsageError, match=named):
        cli_client(argv, environ)


async def test_a_bad_tenant_concurrency_in_the_environment_fails_the_command(capsys):
    code = await run_command(
        ["get", "1", "--base-url", "https://rest.test.zuora.com"],
        environ={"ZUORA_BEARER_TOKEN": "t", "ZUORA_TENANT_CONCURRENCY": "abc"},
    )
    assert code == 2
    assert "ZUORA_TENANT_CONCURRENCY" in capsys.readouterr().err


async def test_the_tenant_command_shows_holders_and_clears_a_stale_one(valkey, capsys):
    base_url = "https://rest.apisandbox.zuora.com"
    shared = SharedLimits(valkey.url, lease_seconds=60)
    auth = OAuthCredentials(client_id="client-a", client_secret="secret-never-printed-1")
    namespace = shared.namespace_for(base_url, None, "client-a")
    gates = [
        shared.gate(base_url=base_url, entity_ids=None, tenant_concurrency=5, client_id="client-a")
        for _ in range(2)
    ]
    environ = {"ZUORA_CLIENT_ID": auth.client_id, "ZUORA_CLIENT_SECRET": auth.client_secret}
    argv = ["tenant", "--base-url", base_url, "--redis-url", valkey.url]
    try:
        for gate, slots in zip(gates, (3, 1), strict=True):
            for _ in range(slots):
                await gate.acquire()
        assert await run_command([*argv, "--json"], environ=environ) == 0
        state = json.loads(capsys.readouterr().out)
        assert state["namespace"] == namespace
        assert state["tenant_concurrency"] == 5
        assert state["slots_held"] == 4
        holders = {h["holder"]: h["slots"] for h in state["holders"]}
        assert holders == {gates[0].holder: 3, gates[1].holder: 1}

        assert await run_command([*argv, "--clear", gates[0].holder], environ=environ) == 0
        assert "3 slots freed" in capsys.readouterr().out
        assert await run_command(argv, environ=environ) == 0
        text = capsys.readouterr().out
        assert "slots held: 1 of 5" in text
        assert gates[0].holder not in text
        assert gates[1].holder in text
        assert "secret-never-printed" not in text
    finally:
        for gate in gates:
            await gate.aclose()


async def test_the_tenant_command_needs_a_redis(capsys):
    code = await run_command(
        ["tenant", "--base-url", "https://rest.test.zuora.com"],
        environ={"ZUORA_BEARER_TOKEN": "t"},
    )
    assert code == 2
    assert "--redis-url" in capsys.readouterr().err


@pytest.mark.parametrize("refused", [False, True])
async def test_the_tenant_command_says_in_one_line_when_redis_fails_it(guarded, refused, capsys):
    if refused:
        url = guarded.url_as("default", "wrong-password-456")
    else:
        guarded.stop()
        url = guarded.url
    code = await run_command(
        ["tenant", "--base-url", "https://rest.test.zuora.com", "--redis-url", url],
        environ={"ZUORA_BEARER_TOKEN": "t"},
    )
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert ("ConfigurationError" if refused else "SharedLimitsError") in err
    assert "wrong-password-456" not in err
