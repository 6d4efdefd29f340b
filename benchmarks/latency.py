"""Added latency per call inside a service: ``run_workflow`` against a bare aiohttp POST.

``uv run python -m benchmarks.latency --before TREE --after TREE [--rounds 3]``, each
tree an extracted copy of the repository or a git revision (``benchmarks._trees``).

The server is ``benchmarks._fastserver --latency 0.05`` in another process: every run
request is answered 50 ms after it arrived, for ~25 µs of the server's CPU. In each round,
for each tree in turn (the order alternates from round to round), a fresh child process
importing that tree's package runs 200 callers in one event loop, each making calls in a
loop (each starting at a random moment within the first 50 ms, so that they do not move
as one burst), in phases that alternate bare, ours, ours, bare, ... (so a drift in load
falls on both alike): a bare phase calls a hand-written ``session.post`` with the headers and body
the client sends (``Authorization``, ``Accept``, ``Accept-Encoding: gzip``,
``Content-Type``, a UUID4 ``Idempotency-Key``, compact JSON; the answer read and decoded),
an "ours" phase calls ``client.run_workflow`` (OAuth, ``max_concurrency`` = the callers,
so no caller waits for a slot the bare loop would not wait for; the package as installed
without the ``otel`` extra). Each call's latency is taken around the ``await``; a caller
waits ``--think-ms`` (random, uniform 0 to twice that) between two calls.

Reported per tree: p50/p95/p99 of the latencies of each kind over all its rounds, the
added latency (ours' p50 minus bare's p50 of the same child, median over rounds), and the
client process's CPU share during each kind of phase (above ~0.9 of a core, the loop is
saturated and latency is queueing, not the call path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from ._measure import percentile
from ._server import ServerProcess
from ._trees import add_arguments, child, snapshot, trees_named, wait_until_idle

__all__ = ["compare", "markdown"]

WORKFLOW_ID = 396
TARGET_MS = 1.0


def _body(index: int) -> dict[str, Any]:
    return {"accountId": f"A-{index:08d}", "amount": round(index * 1.01, 2)}


def _our_client(config: dict[str, Any]) -> Any:
    """The client as ``pip install zuora-wf-async`` installs it, one slot per caller.

    opentelemetry is made unimportable while the client resolves its telemetry (this
    environment has it for the tests). ``max_concurrency`` is the callers, so that no call
    waits for a slot that the bare loop, with unlimited connections, would not wait for.
    """
    from zuora_wf_async import OAuthCredentials, WorkflowClient

    saved = sys.modules.get("opentelemetry")
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    try:
        auth = OAuthCredentials(
            client_id=config["client_id"], client_secret=config["client_secret"]
        )
        return WorkflowClient(config["base_url"], auth=auth, max_concurrency=config["callers"])
    finally:
        if saved is None:
            del sys.modules["opentelemetry"]
        else:
            sys.modules["opentelemetry"] = saved


async def _child(config: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    base_url, callers = config["base_url"], config["callers"]
    think = config["think_ms"] / 1000
    url = f"{base_url}/workflows/{WORKFLOW_ID}/run"
    form = {
        "client_id": config["client_id"],
        "client_secret": config["client_secret"],
        "grant_type": "client_credentials",
    }
    # Unlimited connections: aiohttp's default of 100 would queue half of the callers.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async with session.post(f"{base_url}/oauth/token", data=form) as response:
            authorization = "Bearer " + (await response.json())["access_token"]

        async def bare(index: int) -> None:
            body = json.dumps(_body(index), ensure_ascii=False, separators=(",", ":")).encode()
            headers = {
                "Authorization": authorization,
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            async with session.post(url, data=body, headers=headers) as answer:
                payload = await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"bare call: {answer.status}")
            json.loads(payload)

        async with _our_client(config) as client:

            async def ours(index: int) -> None:
                await client.run_workflow(WORKFLOW_ID, _body(index))

            calls = {"bare": bare, "ours": ours}
            latencies: dict[str, list[float]] = {"bare": [], "ours": []}
            cpu: dict[str, list[float]] = {"bare": [], "ours": []}
            rng = random.Random(24)

            async def phase(kind: str, record: bool) -> None:
                call = calls[kind]
                seen: list[float] = []

                async def caller(number: int) -> None:
                    # Callers start spread over one server latency: started together,
                    # 200 calls would go out, and come back, as one burst, and each call's
                    # latency would be its place in the burst.
                    await asyncio.sleep(rng.uniform(0, config["spread_s"]))
                    for step in range(config["calls"]):
                        if think:
                            await asyncio.sleep(rng.uniform(0, 2 * think))
                        started = time.perf_counter()
                        await call(number * 1000 + step)
                        seen.append(time.perf_counter() - started)

                wall0, cpu0 = time.perf_counter(), time.process_time()
                await asyncio.gather(*(caller(number) for number in range(callers)))
                if record:
                    latencies[kind] += seen
                    cpu[kind].append((time.process_time() - cpu0) / (time.perf_counter() - wall0))

            for kind in ("bare", "ours"):  # warm-up: connections opened, token fetched
                await phase(kind, record=False)
            for index in range(config["phases"]):
                order = ("bare", "ours") if index % 2 == 0 else ("ours", "bare")
                for kind in order:
                    await phase(kind, record=True)
    return {
        kind: {
            "p50_ms": 1000 * percentile(values, 0.50),
            "p95_ms": 1000 * percentile(values, 0.95),
            "p99_ms": 1000 * percentile(values, 0.99),
            "calls": len(values),
            "cpu_share": statistics.median(cpu[kind]),
            "latencies_ms": [round(1000 * value, 3) for value in values],
        }
        for kind, values in latencies.items()
    }


def compare(
    trees: dict[str, Any],
    root: Path,
    *,
    rounds: int,
    callers: int = 200,
    calls: int = 10,
    phases: int = 6,
    think_ms: float = 0.0,
    server_latency: float = 0.05,
    idle: float | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Each tree (a ``benchmarks._trees.Tree``) in ``rounds`` interleaved child processes."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    with ServerProcess("benchmarks._fastserver", "--latency", str(server_latency)) as server:
        hello = server.hello
        config = {
            "base_url": hello["without_headers"],
            "client_id": hello["client_id"],
            "client_secret": hello["client_secret"],
            "callers": callers,
            "calls": calls,
            "phases": phases,
            "think_ms": think_ms,
            "spread_s": server_latency,
        }
        for index in range(rounds):
            order = list(trees) if index % 2 == 0 else list(reversed(trees))
            for name in order:
                idle_share = wait_until_idle(idle)
                result = child(
                    trees[name], root, "benchmarks.latency", "--child", json.dumps(config)
                )
                result["idle_at_start"] = idle_share
                samples[name].append(result)
                log(
                    f"  latency {name} round {index + 1}/{rounds}: p50 bare"
                    f" {result['bare']['p50_ms']:.2f} ms, ours {result['ours']['p50_ms']:.2f} ms"
                    f" (CPU share {result['bare']['cpu_share']:.2f}"
                    f" / {result['ours']['cpu_share']:.2f})"
                )
    summary: dict[str, Any] = {}
    for name, rows in samples.items():
        entry: dict[str, Any] = {}
        for kind in ("bare", "ours"):
            values = [value for row in rows for value in row[kind]["latencies_ms"]]
            entry[kind] = {
                "p50_ms": percentile(values, 0.50),
                "p95_ms": percentile(values, 0.95),
                "p99_ms": percentile(values, 0.99),
                "calls": len(values),
                "cpu_share": statistics.median(row[kind]["cpu_share"] for row in rows),
            }
        added = [row["ours"]["p50_ms"] - row["bare"]["p50_ms"] for row in rows]
        entry["added_p50_ms"] = {
            "median": statistics.median(added),
            "min": min(added),
            "max": max(added),
        }
        entry["passed"] = entry["added_p50_ms"]["median"] <= TARGET_MS
        summary[name] = entry
    for rows in samples.values():
        for row in rows:  # the summary keeps the percentiles; the raw lists are large
            for kind in ("bare", "ours"):
                row[kind].pop("latencies_ms")
    settings = {
        "rounds": rounds,
        "callers": callers,
        "calls_per_caller_per_phase": calls,
        "phases_per_kind": phases,
        "think_ms": think_ms,
        "server_latency_s": server_latency,
        "idle": idle,
    }
    return {"settings": settings, "summary": summary, "rounds": samples}


def markdown(document: dict[str, Any], commits: dict[str, str]) -> list[str]:
    settings = document["settings"]
    lines = [
        f"{settings['callers']} callers in one event loop, server answering in"
        f" {settings['server_latency_s'] * 1000:g} ms (`benchmarks._fastserver --latency`),"
        f" {settings['rounds']} rounds x {settings['phases_per_kind']} phases of each kind x"
        f" {settings['calls_per_caller_per_phase']} calls per caller; think time"
        f" {settings['think_ms']:g} ms. Added: ours' p50 minus bare's p50 in the same child,"
        f" median [min-max] over rounds; target at most {TARGET_MS:g} ms.",
        "",
        "| tree | bare p50 / p95 / p99 ms | `run_workflow` p50 / p95 / p99 ms | added p50 ms"
        " | CPU share bare / ours | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in document["summary"].items():
        bare, ours, added = entry["bare"], entry["ours"], entry["added_p50_ms"]
        lines.append(
            f"| {name} (`{commits[name].split()[0]}`)"
            f" | {bare['p50_ms']:.2f} / {bare['p95_ms']:.2f} / {bare['p99_ms']:.2f}"
            f" | {ours['p50_ms']:.2f} / {ours['p95_ms']:.2f} / {ours['p99_ms']:.2f}"
            f" | {added['median']:.2f} [{added['min']:.2f}-{added['max']:.2f}]"
            f" | {bare['cpu_share']:.2f} / {ours['cpu_share']:.2f}"
            f" | {'met' if entry['passed'] else '**not met**'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=10, help="calls per caller per phase")
    parser.add_argument("--phases", type=int, default=6, help="phases of each kind per round")
    parser.add_argument("--think-ms", type=float, default=0.0)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(asyncio.run(_child(json.loads(arguments.child)))))
        return
    measured = trees_named(arguments)
    document = compare(
        measured,
        snapshot(),
        rounds=arguments.rounds,
        callers=arguments.callers,
        calls=arguments.calls,
        phases=arguments.phases,
        think_ms=arguments.think_ms,
        idle=arguments.idle,
    )
    print("\n".join(markdown(document, {name: tree.commit for name, tree in measured.items()})))


if __name__ == "__main__":
    main()
