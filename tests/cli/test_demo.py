"""``zuora-wf demo``: an embedded fake with faults, no credentials, a summary at the end."""

from __future__ import annotations

from zuora_wf_async.cli._demo import run_demo
from zuora_wf_async.cli._render import console
from zuora_wf_async.testing import Fault, FaultPlan


async def test_the_demo_runs_without_credentials_and_reports_no_duplicates(cli, capsys):
    assert await cli("demo", "--runs", "150", "--concurrency", "16", env={}) == 0
    out = capsys.readouterr().out
    assert "runs: 150/150 done" in out  # stdout is not a terminal: plain lines, no live bar
    for label in ("runs started", "retries", "duplicate executions", "p50 / p99", "throughput"):
        assert label in out


async def test_the_demo_counts_retries_and_faults_and_settles_the_runs(capsys):
    faults = FaultPlan(
        seed=1,
        rules=[Fault.error_before_record(503, on=[2, 5]), Fault.drop_after_record(on=[7])],
    )
    report = await run_demo(runs=20, concurrency=4, out=console(), faults=faults)
    assert report.clean
    assert report.executions == 20
    assert report.duplicate_executions == 0
    assert sum(report.retries.values()) == 3
    assert report.faults == {"error_before_record": 2, "drop_after_record": 1}
    if report.endings is not None:
        assert report.endings == {"succeeded": 20}
    assert "duplicate executions" in capsys.readouterr().out
