"""``zuora-wf``: the command line, a thin shell over the public API."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence

import attrs

from zuora_wf_async import OAuthCredentials, WorkflowClient, ZuoraError, __version__

__all__ = ["main"]


@attrs.frozen(kw_only=True)
class DemoReport:
    runs: int
    ok: int
    failed: Counter[str]
    executions: int
    duplicate_executions: int
    token_requests: int
    latencies: Sequence[float]
    elapsed: float

    def render(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) if ordered else 0.0
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
        failures = ", ".join(f"{name} {count}" for name, count in self.failed.most_common())
        rows = [
            ("runs requested", f"{self.runs}"),
            ("runs started", f"{self.ok}"),
            ("failed", f"{sum(self.failed.values())}" + (f" ({failures})" if failures else "")),
            ("executions seen by Zuora", f"{self.executions}"),
            ("duplicate executions", f"{self.duplicate_executions}"),
            ("OAuth token requests", f"{self.token_requests}"),
            ("latency p50 / p99", f"{p50 * 1000:.1f} ms / {p99 * 1000:.1f} ms"),
            ("throughput", f"{self.runs / self.elapsed:,.0f} runs/s in {self.elapsed:.2f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


async def run_demo(*, runs: int, concurrency: int, workflow_id: int = 396) -> DemoReport:
    """Start ``runs`` workflow runs against an embedded FakeZuora and report what happened."""
    from zuora_wf_async.testing import FakeZuora

    async with FakeZuora() as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(fake.base_url, auth=auth, max_concurrency=concurrency) as zuora:
            latencies: list[float] = []
            failed: Counter[str] = Counter()

            async def one(index: int) -> None:
                started = time.perf_counter()
                try:
                    await zuora.run_workflow(
                        workflow_id,
                        {"accountId": f"A-{index:06d}", "amount": index % 1000},
                        idempotency_key=f"demo-{index}",
                    )
                except ZuoraError as exc:
                    failed[type(exc).__name__] += 1
                else:
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(one(index) for index in range(runs)))
            elapsed = time.perf_counter() - started
        counts = fake.execution_counts_by_key()
        return DemoReport(
            runs=runs,
            ok=len(latencies),
            failed=failed,
            executions=len(fake.executions),
            duplicate_executions=sum(count - 1 for count in counts.values() if count > 1),
            token_requests=sum(1 for request in fake.requests if request.path == "/oauth/token"),
            latencies=latencies,
            elapsed=elapsed,
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zuora-wf", description="Run Zuora workflows from the command line."
    )
    parser.add_argument("--version", action="version", version=f"zuora-wf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="start workflow runs against an embedded local Zuora (no credentials, no network)",
    )
    demo.add_argument("--runs", type=_positive_int, default=300, help="how many runs (300)")
    demo.add_argument(
        "--concurrency", type=_positive_int, default=32, help="requests in flight (32)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        print(
            f"zuora-wf demo: {args.runs} workflow runs against a local FakeZuora, "
            f"{args.concurrency} in flight"
        )
        report = asyncio.run(run_demo(runs=args.runs, concurrency=args.concurrency))
        print(report.render())
        return 0 if report.ok == report.runs and report.duplicate_executions == 0 else 1
    return 2  # pragma: no cover -- argparse rejects unknown commands first


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
