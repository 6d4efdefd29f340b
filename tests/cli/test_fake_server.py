"""``zuora-wf fake-server`` in a subprocess, and a batch killed with SIGKILL then resumed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter

import aiohttp
import pytest

from zuora_wf_async.cli import _parser
from zuora_wf_async.cli._config import UsageError
from zuora_wf_async.cli._fake_server import build_fake, parse_faults
from zuora_wf_async.testing import Fault

CLI = (sys.executable, "-m", "zuora_wf_async.cli")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("error_before_record", [Fault.error_before_record()]),
        ("error_before_record:503:p=0.05", [Fault.error_before_record(503, probability=0.05)]),
        ("error_after_record:502:on=1/3", [Fault.error_after_record(502, on=[1, 3])]),
        ("drop_after_record:times=2", [Fault.drop_after_record(times=2)]),
        (
            "rate_limit_burst:3:p=0.01:retry_after=2",
            [Fault.rate_limit_burst(3, probability=0.01, retry_after=2)],
        ),
        ("quota:100:window=1", [Fault.quota(100, window=1.0)]),
        ("slow:0.5:record_first=true", [Fault.slow(0.5, record_first=True)]),
        (
            "expire_token:on=5:endpoints=run/get_run",
            [Fault.expire_token(on=[5], endpoints=["run", "get_run"])],
        ),
        (
            "slow:0.1, drop_after_record:p=0.5",
            [Fault.slow(0.1), Fault.drop_after_record(probability=0.5)],
        ),
    ],
)
def test_fault_specs(spec, expected):
    assert list(parse_faults(spec, seed=3).rules) == expected
    assert parse_faults(spec, seed=3).seed == 3


@pytest.mark.parametrize(
    "spec", ["nosuch", "slow", "quota:x", "slow:1:p=2", "error_before_record:200", "slow:1:bogus=1"]
)
def test_bad_fault_specs_are_usage_errors(spec):
    with pytest.raises(UsageError, match="--faults"):
        parse_faults(spec)


async def _get_workflow(http: aiohttp.ClientSession, base_url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{base_url}/workflows/1", headers=headers) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize(("given", "limit"), [((), 40), (("--concurrency-limit", "2"), 2)])
async def test_concurrency_limit_sets_the_fakes_tenant_limit(given, limit):
    args = _parser().parse_args(["fake-server", *given])
    assert args.concurrency_limit == limit
    fake = build_fake(args)
    await fake.start()
    try:
        fake.pause_requests()  # hold the first `limit` requests in flight
        async with aiohttp.ClientSession() as http:
            held = [
                asyncio.create_task(_get_workflow(http, fake.base_url, fake.issue_token()))
                for _ in range(limit)
            ]
            await fake.wait_until(lambda: fake.tenant_in_flight == limit)
            over = await _get_workflow(http, fake.base_url, fake.issue_token())
            fake.resume_requests()
            statuses = await asyncio.gather(*held)
    finally:
        await fake.close()
    assert over == 429
    assert statuses == [200] * limit
    assert fake.peak_tenant_in_flight == limit


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_a_bad_concurrency_limit_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(["fake-server", "--concurrency-limit", value])
    assert caught.value.code == 2
    assert "--concurrency-limit" in capsys.readouterr().err


async def _start_fake(*options: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    server = await asyncio.create_subprocess_exec(
        *CLI, "fake-server", *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert server.stdout is not None
    settings = {}
    for _ in range(3):
        line = await asyncio.wait_for(server.stdout.readline(), timeout=20)
        name, _, value = line.decode().strip().partition("=")
        settings[name] = value
    return server, settings


async def _stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_fake_server_prints_its_base_url_and_stops_cleanly_on_sigint():
    server, settings = await _start_fake()
    try:
        assert settings["ZUORA_BASE_URL"].startswith("http://127.0.0.1:")
        assert len(settings["ZUORA_CLIENT_ID"]) == 36
        assert settings["ZUORA_CLIENT_SECRET"]
    finally:
        await _stop(server, signal.SIGINT)
    assert server.returncode == 0
    assert server.stderr is not None
    assert b"stopped" in await server.stderr.read()


async def test_a_batch_killed_with_sigkill_then_resumed_runs_each_row_exactly_once(
    cli, write_jsonl, read_journal, tmp_path
):
    """(b) The fake and the batch in their own processes; kill -9 the batch mid-way."""
    rows = write_jsonl([{"accountId": f"A-{n}"} for n in range(40)])
    journal = tmp_path / "runs.jsonl"
    argv = ("batch", "396", "--input", str(rows), "--journal", str(journal))
    argv += ("--concurrency", "4")
    server, settings = await _start_fake("--latency", "0.05", "--report")
    batch = None
    errors = tmp_path / "batch.err"
    try:
        with errors.open("wb") as stderr:
            batch = await asyncio.create_subprocess_exec(
                *CLI, *argv, env={**os.environ, **settings},
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        # Wait for some rows to be final; the journal is the batch's only observable state.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and batch.returncode is None:
            text = journal.read_text() if journal.exists() else ""
            if text.count('"event":"ok"') >= 8:
                break
            await asyncio.sleep(0.01)
        assert batch.returncode is None, errors.read_text()
        batch.kill()
        await asyncio.wait_for(batch.wait(), timeout=10)
        killed = read_journal(journal)
        finished = {e["row"] for e in killed[1:] if e["event"] == "ok"}
        assert 8 <= len(finished) < 40, "the kill should land mid-batch"

        assert await cli(*argv, env=settings) == 0
    finally:
        if batch is not None and batch.returncode is None:
            batch.kill()
            await batch.wait()
        await _stop(server)
    assert server.stdout is not None
    report = [json.loads(line) for line in (await server.stdout.read()).decode().splitlines()]
    executions = {r["idempotency_key"]: r["executions"] for r in report if "idempotency_key" in r}
    assert report[-1]["duplicate_executions"] == 0

    events = read_journal(journal)
    keys = {}
    for event in events[1:]:
        if event["event"] == "started":
            assert keys.setdefault(event["row"], event["key"]) == event["key"]
    assert Counter(e["event"] for e in events[1:] if e["event"] != "started")["ok"] >= 40
    assert len(keys) == 40
    assert executions == dict.fromkeys(keys.values(), 1)
