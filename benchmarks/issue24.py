"""Issue 24's "Done when" measures, before and after, in one run on one machine.

``uv run python -m benchmarks.issue24 --before REV_OR_TREE --after REV_OR_TREE [--quick]``
writes ``benchmarks/results/issue24.{md,json}``. A revision is extracted with ``git archive``
(never the working tree); a tree is a directory already extracted. Every measure runs the
same benchmark code (a snapshot of this package) against each tree's package, in child
processes with ``PYTHONPATH`` at the tree, the two trees alternating from round to round:

- ``cpu``: client CPU per run over the raw 64-worker aiohttp loop's in the same child
  (``benchmarks._cpu``'s samples, 5,000 runs, the fast server, client and server pinned
  apart): ``run_workflow`` (64 workers), ``run_many`` and the stream (``stream_runs``, or
  ``iter_runs`` before it existed); target at most 1.30;
- ``lag``: event-loop lag p99 while ``run_many`` sends 200 runs of ~1 MB (``benchmarks._lag``,
  one round per child); target under 10 ms;
- ``memory``: peak RSS growth of the stream over 100,000 runs in a fresh process
  (``benchmarks._memory``, against the fast server), the raw 64-worker stream beside it;
  target under 30 MB;
- ``latency``: added latency per call, 200 callers, a 50 ms server (``benchmarks.latency``);
  target p50 within 1 ms of a bare aiohttp call;
- ``import``: what the package's import adds to aiohttp's (``benchmarks.import_time``);
  target at most 80 ms;
- ``goodput``: 4 processes x 2,500 runs sharing a tenant of 40 through Redis
  (``benchmarks.goodput --only shared,shared-before``); target no worse than before.

``--quick`` cuts every count (a smoke run, 2 minutes); the full run took 7 minutes on a
2-core machine at a load average of 1-2, and 17 at 5-8.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import import_time, latency
from ._pinning import pinned_apart
from ._report import machine, machine_lines
from ._server import ServerProcess
from ._trees import Tree, add_arguments, child, snapshot, trees_named, wait_until_idle

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("cpu", "lag", "memory", "latency", "import", "goodput")
CPU_TARGET = 1.30
LAG_TARGET_MS = 10.0
MEMORY_TARGET_MB = 30.0
MB = 2**20
FULL = {
    "cpu_rounds": 7,
    "cpu_runs": 5_000,
    "lag_rounds": 3,
    "lag_runs": 200,
    "memory_runs": 100_000,
    "latency_rounds": 4,
    "import_repeat": 15,
    "goodput_rounds": 3,
}
QUICK = {
    "cpu_rounds": 2,
    "cpu_runs": 1_000,
    "lag_rounds": 1,
    "lag_runs": 50,
    "memory_runs": 5_000,
    "latency_rounds": 2,
    "import_repeat": 4,
    "goodput_rounds": 1,
}
CHILD = "benchmarks.issue24"  # run as a module in the snapshot, never as __main__
STREAM = "stream_runs"  # the shape's name; it calls iter_runs in a tree that predates it
OURS = ("run_workflow", "run_many", STREAM)


# -- what runs inside a tree (``--child``) ------------------------------------------------
# _cpu, _lag and _memory import the package when they are imported: only a child, whose
# PYTHONPATH is a tree, may import them.


def _cpu_child(runs: int, rotation: int) -> dict[str, Any]:
    from ._cpu import _sample

    # Ours between two raw samples, in an order that rotates from round to round.
    ours = OURS[rotation % len(OURS) :] + OURS[: rotation % len(OURS)]
    shapes = ("raw_workers", *ours, "raw_workers")
    result: dict[str, list[float]] = {}
    with (
        ServerProcess("benchmarks._fastserver") as server,
        pinned_apart(server.hello["pid"]) as placement,
    ):
        for shape in shapes:
            sample = _sample(server, "with_headers", shape, runs)
            result.setdefault(shape, []).append(sample["cpu_us_per_run"])
    return {"cpu_us_per_run": result, "placement": placement}


def _lag_child(runs: int) -> dict[str, Any]:
    from ._lag import run

    with tempfile.TemporaryDirectory() as out:
        document = run(runs=runs, rounds=1, max_seconds=300, out=Path(out), label="", log=_err)
    return {shape: rows[0] for shape, rows in document["samples"].items()}


def _memory_child(mode: str, runs: int) -> dict[str, Any]:
    from ._memory import measure

    return measure(mode, runs, timeout=1800, fast=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- the parent: rounds, trees, the report -------------------------------------------------


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _order(trees: dict[str, Tree], index: int) -> list[str]:
    return list(trees) if index % 2 == 0 else list(reversed(trees))


def _cpu(trees: dict[str, Tree], root: Path, counts: dict[str, int]) -> dict[str, Any]:
    ratios: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    raw: dict[str, list[float]] = {name: [] for name in trees}
    for index in range(counts["cpu_rounds"]):
        for name in _order(trees, index):
            runs = str(counts["cpu_runs"])
            result = child(trees[name], root, CHILD, "--child", "cpu", runs, str(index))
            samples = result["cpu_us_per_run"]
            base = statistics.mean(samples["raw_workers"])
            raw[name].append(base)
            for shape in OURS:
                ratios[name].setdefault(shape, []).append(samples[shape][0] / base)
            _err(
                f"  cpu {name} round {index + 1}: raw {base:.0f} µs/run; "
                + ", ".join(f"{shape} {values[-1]:.3f}" for shape, values in ratios[name].items())
            )
    return {
        name: {
            "raw_us_per_run": _spread(raw[name]),
            "ratios": {shape: _spread(values) for shape, values in ratios[name].items()},
            "samples": ratios[name],
        }
        for name in trees
    }


def _lag(
    trees: dict[str, Tree], root: Path, counts: dict[str, int], idle: float | None
) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    idle_shares: list[float | None] = []
    for index in range(counts["lag_rounds"]):
        for name in _order(trees, index):
            idle_shares.append(wait_until_idle(idle))
            rows[name].append(
                child(trees[name], root, CHILD, "--child", "lag", str(counts["lag_runs"]))
            )
            _err(
                f"  lag {name} round {index + 1}: p99 "
                + ", ".join(
                    f"{shape} {row['loaded']['p99_ms']:.2f} ms"
                    for shape, row in rows[name][-1].items()
                )
            )
    summary: dict[str, Any] = {}
    for name, samples in rows.items():
        summary[name] = {
            shape: {
                key: _spread([sample[shape][part][metric] for sample in samples])
                for key, part, metric in (
                    ("p99_ms", "loaded", "p99_ms"),
                    ("own_p99_ms", "loaded", "own_p99_ms"),
                    ("idle_p99_ms", "idle", "p99_ms"),
                )
            }
            for shape in samples[0]
        }
    return {"summary": summary, "samples": rows, "idle_at_start": idle_shares}


def _memory(trees: dict[str, Tree], root: Path, counts: dict[str, int]) -> dict[str, Any]:
    runs = str(counts["memory_runs"])
    result: dict[str, Any] = {}
    for name, tree in trees.items():
        for mode in (STREAM, "raw_stream"):
            if mode == "raw_stream" and name != list(trees)[-1]:
                continue  # the raw stream does not depend on the tree: measured once
            measured = child(tree, root, CHILD, "--child", "memory", mode, runs)
            result[f"{name} {mode}"] = measured
            growth, seconds = measured["growth_bytes"] / MB, measured["seconds"]
            _err(f"  memory {name} {mode}: +{growth:.1f} MB in {seconds:.0f} s")
    return result


def _goodput(trees: dict[str, Tree], root: Path, counts: dict[str, int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, str(root / "benchmarks" / "goodput.py"),
            "--only", "shared,shared-before", "--repeat", str(counts["goodput_rounds"]),
            "--before", str(trees["before"].path), "--after", str(trees["after"].path),
            "--out", out,
        ]  # fmt: skip
        # The fake (in goodput's own process) comes from the after tree.
        subprocess.run(command, cwd=root, env=trees["after"].env(), check=True, stdout=sys.stderr)  # noqa: S603
        document: dict[str, Any] = json.loads((Path(out) / "goodput.json").read_text())
    return {row["scenario"]: row for row in document["scenarios"]}


def _fmt(spread: dict[str, float], digits: int = 2) -> str:
    return f"{spread['median']:.{digits}f} [{spread['min']:.{digits}f}-{spread['max']:.{digits}f}]"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(document: dict[str, Any]) -> str:
    trees = document["trees"]
    results = document["results"]
    lines = [
        "# Issue 24: before and after",
        "",
        *machine_lines(document["machine"]),
        *(f"- {name}: `{commit}`" for name, commit in trees.items()),
        f"- command: `{document['command']}`; {document['seconds'] / 60:.1f} minutes",
        f"- counts: {json.dumps(document['counts'])}",
        *(
            [f"- each lag, latency and import round waited (at most 30 s) for CPUs {idle:.0%} idle"]
            if (idle := document.get("idle"))
            else []
        ),
        "- load average (1 min) at each section's start: "
        + ", ".join(f"{key} {value:.2f}" for key, value in document["load"].items()),
        "",
        "| measure | before | after | target |",
        "|---|---|---|---|",
    ]
    if "cpu" in results:
        for shape in OURS:
            before, after = (results["cpu"][name]["ratios"][shape] for name in ("before", "after"))
            lines.append(
                f"| CPU per run / raw 64-worker loop, `{shape}` | {_fmt(before)} | {_fmt(after)}"
                f" | at most {CPU_TARGET}: {_verdict(after['median'] <= CPU_TARGET)} |"
            )
    if "lag" in results:
        for shape in results["lag"]["summary"]["after"]:
            before, after = (results["lag"]["summary"][name][shape] for name in ("before", "after"))
            lines.append(
                f"| loop lag p99 ms, 1 MB `{shape}` bodies (own p99: the part this process's"
                " CPU explains)"
                f" | {_fmt(before['p99_ms'])} (own {before['own_p99_ms']['median']:.2f})"
                f" | {_fmt(after['p99_ms'])} (own {after['own_p99_ms']['median']:.2f})"
                f" | under {LAG_TARGET_MS:g} ms in every round:"
                f" {_verdict(after['p99_ms']['max'] < LAG_TARGET_MS)} |"
            )
    if "memory" in results:
        memory = results["memory"]
        growth = {key: value["growth_bytes"] / MB for key, value in memory.items()}
        runs = document["counts"]["memory_runs"]
        raw = growth.get("after raw_stream", 0.0)
        lines.append(
            f"| stream peak RSS growth over {runs:,} runs, MB (raw stream {raw:.1f})"
            f" | {growth['before ' + STREAM]:.1f} | {growth['after ' + STREAM]:.1f}"
            f" | under {MEMORY_TARGET_MB:g} MB:"
            f" {_verdict(growth['after ' + STREAM] < MEMORY_TARGET_MB)} |"
        )
    if "latency" in results:
        summary = results["latency"]["summary"]
        before, after = summary["before"], summary["after"]
        lines.append(
            "| added latency per call, p50 ms (200 callers, 50 ms server)"
            f" | {_fmt(before['added_p50_ms'])} | {_fmt(after['added_p50_ms'])}"
            f" | at most {latency.TARGET_MS:g} ms: {_verdict(after['passed'])} |"
        )
    if "import" in results:
        summary = results["import"]["summary"]
        before, after = summary["before"], summary["after"]
        lines.append(
            "| import adds to aiohttp's, ms (own modules' self time)"
            f" | {_fmt(before['added_ms'], 0)} ({before['importtime']['own_self_ms']:.0f})"
            f" | {_fmt(after['added_ms'], 0)} ({after['importtime']['own_self_ms']:.0f})"
            f" | at most {import_time.TARGET_MS:g} ms: {_verdict(after['passed'])} |"
        )
    if "goodput" in results:
        rows = results["goodput"]
        before, after = rows["shared-before"], rows["shared"]

        def cell(row: dict[str, Any]) -> str:
            rounds = ", ".join(f"{value:.2f}" for value in row["rounds"])
            return f"{row['wall_over_ideal']:.2f} [{rounds}], {row['answers_429']} 429s"

        ok = (
            after["wall_over_ideal"] <= max(1.15, before["wall_over_ideal"])
            and not after["answers_429"]
        )
        lines.append(
            "| shared limits, 4 processes x 2,500 runs, wall / ideal (median round [rounds]), 429s"
            f" | {cell(before)} | {cell(after)}"
            f" | no worse than before (1.06-1.15, 0 429s): {_verdict(ok)} |"
        )
    if "latency" in results:
        lines += ["", "## Added latency per call", "", *latency.markdown(results["latency"], trees)]
    if "import" in results:
        lines += ["", "## Import time", "", *import_time.markdown(results["import"], trees)]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--only", help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render", type=Path, help="write the Markdown of a results JSON again")
    arguments = parser.parse_args()
    if arguments.child:
        kind, *rest = arguments.child
        if kind == "cpu":
            print(json.dumps(_cpu_child(int(rest[0]), int(rest[1]))))
        elif kind == "lag":
            print(json.dumps(_lag_child(int(rest[0]))))
        else:
            print(json.dumps(_memory_child(rest[0], int(rest[1]))))
        return
    if arguments.render:
        document = json.loads(arguments.render.read_text())
        arguments.render.with_suffix(".md").write_text(markdown(document))
        return
    if not arguments.before:
        parser.error("--before is required")
    started = time.perf_counter()
    info = machine()
    trees = trees_named(arguments)
    root = snapshot()
    counts = QUICK if arguments.quick else FULL
    chosen = arguments.only.split(",") if arguments.only else list(SECTIONS)
    measures = {
        "cpu": lambda: _cpu(trees, root, counts),
        "lag": lambda: _lag(trees, root, counts, arguments.idle),
        "memory": lambda: _memory(trees, root, counts),
        "latency": lambda: latency.compare(
            trees, root, rounds=counts["latency_rounds"], idle=arguments.idle, log=_err
        ),
        "import": lambda: import_time.compare(
            trees, repeat=counts["import_repeat"], idle=arguments.idle, log=_err
        ),
        "goodput": lambda: _goodput(trees, root, counts),
    }
    results: dict[str, Any] = {}
    load: dict[str, float] = {}
    for section in (section for section in SECTIONS if section in chosen):
        load[section] = os.getloadavg()[0]
        _err(f"{section} (load {load[section]:.2f})")
        results[section] = measures[section]()
    document = {
        "machine": info,
        "trees": {name: tree.commit for name, tree in trees.items()},
        "command": "python -m benchmarks.issue24 " + " ".join(sys.argv[1:]),
        "counts": counts,
        "idle": arguments.idle,
        "load": load,
        "seconds": time.perf_counter() - started,
        "results": results,
    }
    arguments.out.mkdir(parents=True, exist_ok=True)
    name = "issue24-quick" if arguments.quick else "issue24"
    (arguments.out / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (arguments.out / f"{name}.md").write_text(markdown(document))
    print(markdown(document))


if __name__ == "__main__":
    main()
