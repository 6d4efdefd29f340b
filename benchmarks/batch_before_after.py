"""The batch, before and after a change, in interleaved rounds: CPU and memory.

``uv run python -m benchmarks.batch_before_after BEFORE_TREE AFTER_TREE [--rounds 5]``
where each tree is an extracted copy of the repository (``git archive REV | tar -x -C
DIR``). Each round runs, for each tree in turn (the order alternates from round to
round), a fresh child process inside that tree: it starts ``benchmarks._fastserver`` and
samples the raw aiohttp workers, ``run_many`` and the streaming batch (``stream_runs``, or
``iter_runs`` in a tree that predates it) on the same server, so each of ours is divided
by the raw loop's sample of the same child. Memory: peak RSS growth over ``--memory-runs``
runs of the streaming batch and of ``run_many`` in each tree (``benchmarks._memory``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

CHILD = """
import asyncio, json, sys
from benchmarks import _cpu, _shapes
from benchmarks._server import ServerProcess
count = int(sys.argv[1])
stream = "stream_runs" if "stream_runs" in _shapes.SHAPES else "iter_runs"
result = {}
with ServerProcess("benchmarks._fastserver") as server:
    for shape in ("raw_workers", "run_many", stream, "raw_workers_again"):
        name = shape.replace("_again", "")
        sample = _cpu._sample(server, "with_headers", name, count)
        result.setdefault(name if name != stream else "stream", []).append(sample)
print(json.dumps(result))
"""

MEMORY_CHILD = """
import json, sys
from benchmarks import _memory
mode = sys.argv[1]
print(json.dumps(_memory.measure(mode, int(sys.argv[2]), timeout=1800)))
"""


def _child(tree: Path, code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 -- our own interpreter and code
        [sys.executable, "-c", code, *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5_000)
    parser.add_argument("--memory-runs", type=int, default=100_000)
    args = parser.parse_args()
    trees = {"before": args.before, "after": args.after}
    ratios: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    for index in range(args.rounds):
        order = list(trees) if index % 2 == 0 else list(reversed(trees))
        for name in order:
            samples = _child(trees[name], CHILD, str(args.runs))
            raw = statistics.mean(s["cpu_us_per_run"] for s in samples["raw_workers"])
            for shape in ("run_many", "stream"):
                ratio = samples[shape][0]["cpu_us_per_run"] / raw
                ratios[name].setdefault(shape, []).append(ratio)
            print(
                f"round {index + 1} {name}: "
                + json.dumps(
                    {shape: round(values[-1], 3) for shape, values in ratios[name].items()}
                ),
                flush=True,
            )
    for name in trees:
        for shape, values in ratios[name].items():
            print(
                f"cpu {name} {shape}: median {statistics.median(values):.2f} "
                f"[{min(values):.2f}-{max(values):.2f}] x raw workers"
            )
    if args.memory_runs:
        for name, tree in trees.items():
            stream = "stream_runs" if (tree / "zuora_wf_async" / "_batch").exists() else "iter_runs"
            for mode in (stream, "raw_stream", "run_many"):
                result = _child(tree, MEMORY_CHILD, mode, str(args.memory_runs))
                print(
                    f"memory {name} {mode}: peak RSS growth {result['growth_bytes'] / 2**20:.1f} MB"
                    f" over {args.memory_runs:,} runs in {result['seconds']:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
