"""Client CPU per run: ours against the cheaper of two hand-written aiohttp loops.

The shapes of ``benchmarks._shapes`` send the same batch against ``benchmarks._fastserver``
in another process, once on its port with ``RateLimit-*`` headers and once on its port
without. Every (headers, shape) sample runs in a fresh event loop in this process; the
samples of one round are interleaved in an order that rotates from round to round, so a
neighbour's burst of work lands on different shapes in different rounds.

Measured per sample, over the batch only (warm-up excluded): this process's CPU time
(``time.process_time``: user + system, every thread), and the garbage collections of each
generation (``gc.get_stats``). Per round and headers mode, each of our shapes is divided
by the cheaper raw shape's sample of the same round (the raw shape with the lower median
over all rounds); the table gives the median ratio and its spread (min to max) over the
rounds. The server and the client run on CPUs of their own (``_pinning``).

Each of ours is also divided by ``floor_workers`` of the same round: the raw workers plus
the least any client meeting the project's requirements does per call (``_shapes``). The
ratio target is read against the cheaper raw shape; the floor says how much of the gap a
client built to the requirements could close at all.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _shapes
from ._pinning import pinned_apart
from ._report import machine, machine_lines
from ._server import ServerProcess

__all__ = ["run"]

RATIO_TARGET = 1.15
GC_TARGET = 2.0
MODES = {
    "with RateLimit-* headers": "with_headers",
    "without RateLimit-* headers": "without_headers",
}
OURS = ("run_workflow", "run_workflow_gather", "run_many", "stream_runs", "run_many_otel")


def _collections() -> list[int]:
    return [generation["collections"] for generation in gc.get_stats()]


class _Meter:
    """CPU time and collections between ``start`` and ``stop``."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0
        self.gc = [0, 0, 0]
        self._cpu0 = self._wall0 = 0.0
        self._gc0 = [0, 0, 0]

    def start(self) -> None:
        # Every sample starts with empty generations, so no shape inherits another's debt.
        gc.collect()
        self._gc0 = _collections()
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()

    def stop(self) -> None:
        self.cpu = time.process_time() - self._cpu0
        self.wall = time.perf_counter() - self._wall0
        self.gc = [after - before for after, before in zip(_collections(), self._gc0, strict=True)]


def _sample(server: ServerProcess, mode: str, shape: str, count: int) -> dict[str, Any]:
    hello = server.hello
    endpoint = _shapes.Endpoint(hello[mode], hello["client_id"], hello["client_secret"])
    meter = _Meter()
    server_before = server.command("stats")
    ok = asyncio.run(_shapes.SHAPES[shape](endpoint, count, meter))
    server_after = server.command("stats")
    if ok != count:
        raise RuntimeError(f"{shape}: only {ok} of {count} runs succeeded; numbers would be wrong")
    server_cpu = server_after["cpu_seconds"] - server_before["cpu_seconds"]
    server_requests = server_after["requests"] - server_before["requests"]
    return {
        "cpu_us_per_run": 1e6 * meter.cpu / count,
        "runs_per_s": count / meter.wall,
        "gc_per_1000": [1000 * value / count for value in meter.gc],
        # The server's CPU per request (warm-up and token included): far below the
        # client's means the server was not what the client waited for.
        "server_us_per_request": 1e6 * server_cpu / max(server_requests, 1),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(samples: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for label, mode in MODES.items():
        per_shape = samples[mode]
        cpu = {shape: [s["cpu_us_per_run"] for s in rows] for shape, rows in per_shape.items()}
        cheaper = min(_shapes.RAW_SHAPES, key=lambda shape: statistics.median(cpu[shape]))
        shapes: dict[str, Any] = {}
        for shape, rows in per_shape.items():
            ratios = [mine / base for mine, base in zip(cpu[shape], cpu[cheaper], strict=True)]
            gc_columns = list(zip(*(s["gc_per_1000"] for s in rows), strict=True))
            same = _shapes.SAME_SHAPE_RAW.get(shape, shape)
            like_for_like = [mine / base for mine, base in zip(cpu[shape], cpu[same], strict=True)]
            floor = cpu.get(_shapes.FLOOR_SHAPE, cpu[cheaper])
            to_floor = [mine / base for mine, base in zip(cpu[shape], floor, strict=True)]
            shapes[shape] = {
                "cpu_us_per_run": _spread(cpu[shape]),
                "ratio_to_cheaper_raw": _spread(ratios),
                "same_shape_raw": same,
                "ratio_to_same_shape_raw": _spread(like_for_like),
                "ratio_to_floor": _spread(to_floor),
                "gc_per_1000": [statistics.median(column) for column in gc_columns],
                "runs_per_s": statistics.median(s["runs_per_s"] for s in rows),
                "server_us_per_request": statistics.median(
                    s["server_us_per_request"] for s in rows
                ),
            }
        base_gc = shapes[cheaper]["gc_per_1000"]
        for shape in (shape for shape in OURS if shape in shapes):
            entry = shapes[shape]
            entry["ratio_ok"] = entry["ratio_to_cheaper_raw"]["median"] <= RATIO_TARGET
            # "Within 2x the raw loop's": compared per generation, with one collection per
            # 1,000 runs of slack where the raw loop's count is near zero.
            entry["gc_ok"] = all(
                mine <= max(GC_TARGET * base, 1.0)
                for mine, base in zip(entry["gc_per_1000"], base_gc, strict=True)
            )
        summary[label] = {"cheaper_raw": cheaper, "shapes": shapes}
    return summary


def run(
    *, count: int, rounds: int, out: Path, label: str, log: Callable[[str], None]
) -> dict[str, Any]:
    info = machine()
    order = [(mode, shape) for mode in MODES.values() for shape in _shapes.SHAPES]
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {shape: [] for shape in _shapes.SHAPES} for mode in MODES.values()
    }
    started = time.perf_counter()
    with (
        ServerProcess("benchmarks._fastserver") as server,
        pinned_apart(server.hello["pid"]) as placement,
    ):
        for index in range(rounds):
            # Rotate by a step prime to the length, so each pair lands in many positions.
            step = (index * 3) % len(order)
            for mode, shape in order[step:] + order[:step]:
                samples[mode][shape].append(_sample(server, mode, shape, count))
            log(
                f"  round {index + 1}/{rounds} (us/run, with | without headers): "
                + ", ".join(
                    f"{shape} {samples['with_headers'][shape][-1]['cpu_us_per_run']:.0f}"
                    f" | {samples['without_headers'][shape][-1]['cpu_us_per_run']:.0f}"
                    for shape in _shapes.SHAPES
                )
            )
    seconds = time.perf_counter() - started
    summary = summarise(samples)
    document = {
        "label": label,
        "machine": info,
        "settings": {
            "runs_per_sample": count,
            "rounds": rounds,
            "width": _shapes.WIDTH,
            "placement": placement,
        },
        "seconds": seconds,
        "summary": summary,
        "samples": samples,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "cpu.md").write_text(markdown(document))
    chart(document, out / "cpu.png")
    return document


def _fmt(spread: dict[str, float], digits: int = 2) -> str:
    return f"{spread['median']:.{digits}f} [{spread['min']:.{digits}f}-{spread['max']:.{digits}f}]"


def markdown(document: dict[str, Any]) -> str:
    settings = document["settings"]
    lines = [
        f"# Client CPU per run ({document['label']})",
        "",
        *machine_lines(document["machine"]),
        *([f"- note: {document['note']}"] if document.get("note") else []),
        f"- {settings['rounds']} interleaved rounds x {settings['runs_per_sample']:,} runs per"
        f" sample, {settings['width']} requests in flight, OAuth client credentials,"
        f" server `benchmarks._fastserver` in another process; {document['seconds']:.0f} s",
        f"- placement: {settings.get('placement', 'not pinned')}",
        "- CPU: `time.process_time()` of the client process over the batch (warm-up excluded);"
        " median [min-max] over the rounds",
        "- ratio: ours / the cheaper raw shape's sample of the same round;"
        f" target <= {RATIO_TARGET}. GC: collections per 1,000 runs (gen 0/1/2, median);"
        f" target within {GC_TARGET:g}x the cheaper raw shape",
        "- like for like: ours / the raw loop of the same shape (workers for `run_workflow`,"
        " `run_many` and `stream_runs`, a task per run for `run_workflow_gather`), same round",
        f"- to floor: ours / `{_shapes.FLOOR_SHAPE}` of the same round, the raw workers plus"
        " the least any client meeting the requirements does per call (a `backoff` retry"
        " loop, a slot, the `WorkflowRun` record; see `benchmarks/_shapes.py`)",
        "",
    ]
    for label, block in document["summary"].items():
        cheaper = block["cheaper_raw"]
        lines += [
            f"## {label} (cheaper raw shape: `{cheaper}`)",
            "",
            "| shape | CPU µs/run | ratio to cheaper raw | like for like | to floor"
            " | GC gen0/1/2 per 1,000 runs | runs/s | server µs/request | ratio ok | GC ok |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for shape, entry in block["shapes"].items():
            gc0, gc1, gc2 = entry["gc_per_1000"]
            mine = shape in OURS
            lines.append(
                f"| `{shape}` | {_fmt(entry['cpu_us_per_run'], 0)}"
                f" | {_fmt(entry['ratio_to_cheaper_raw'])}"
                f" | {_fmt(entry['ratio_to_same_shape_raw']) if mine else ''}"
                f" | {_fmt(entry['ratio_to_floor']) if mine else ''}"
                f" | {gc0:.1f} / {gc1:.2f} / {gc2:.2f}"
                f" | {entry['runs_per_s']:,.0f} | {entry['server_us_per_request']:.0f}"
                f" | {('pass' if entry['ratio_ok'] else '**FAIL**') if mine else ''}"
                f" | {('pass' if entry['gc_ok'] else '**FAIL**') if mine else ''} |"
            )
        lines.append("")
    return "\n".join(lines)


def chart(document: dict[str, Any], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    blocks = document["summary"]
    figure, axes = plt.subplots(1, len(blocks), figsize=(12, 4.2), sharey=True)
    for axis, (label, block) in zip(axes, blocks.items(), strict=True):
        cheaper = block["cheaper_raw"]
        samples = document["samples"][MODES[label]]
        names = list(samples)
        base = [s["cpu_us_per_run"] for s in samples[cheaper]]
        for position, name in enumerate(names):
            ratios = [s["cpu_us_per_run"] / b for s, b in zip(samples[name], base, strict=True)]
            colour = (
                "tab:blue"
                if name in OURS
                else "tab:green"
                if name == _shapes.FLOOR_SHAPE
                else "tab:gray"
            )
            axis.scatter([position] * len(ratios), ratios, color=colour, alpha=0.5, s=18)
            axis.hlines(
                statistics.median(ratios), position - 0.3, position + 0.3, color=colour, lw=2
            )
        axis.axhline(1.0, color="black", lw=0.8)
        axis.axhline(RATIO_TARGET, color="tab:red", ls="--", lw=1, label=f"target {RATIO_TARGET}")
        axis.set_xticks(range(len(names)), names, rotation=20)
        axis.set_title(f"{label}\n(vs {cheaper})", fontsize=10)
        axis.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("client CPU per run / cheaper raw loop (per round)")
    figure.suptitle(f"Client CPU per run, {document['label']} ({document['machine']['commit']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
