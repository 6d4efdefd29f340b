"""What importing the package adds to importing aiohttp, in fresh interpreters.

``uv run python -m benchmarks.import_time --before TREE --after TREE [--repeat 15]``,
each tree an extracted copy of the repository or a git revision (``benchmarks._trees``).

Each repetition starts, for each tree in an order that alternates, two fresh interpreters
with ``PYTHONPATH`` at the tree: one times ``import aiohttp``, the other ``import
zuora_wf_async`` (which imports aiohttp), each with ``time.perf_counter`` around the import
statement (so the interpreter's own start-up is not counted). The package's cost is the
second minus the first of the same repetition; the median over repetitions is reported,
with the medians of each. One more interpreter per tree runs ``python -X importtime -c
"import zuora_wf_async"``: the package's own modules' self time, and the slowest of them.
Each tree's modules are compiled (``__pycache__`` written) by a first import, not timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from ._trees import add_arguments, trees_named, wait_until_idle

__all__ = ["compare", "markdown"]

PACKAGE = "zuora_wf_async"
TARGET_MS = 80.0
_TIMED = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def _run(tree: Any, code: str, *options: str) -> subprocess.CompletedProcess[str]:
    # A directory of its own: the current directory comes first on sys.path, and a
    # checkout's package there would be imported instead of the tree's.
    with tempfile.TemporaryDirectory() as empty:
        return subprocess.run(  # noqa: S603 -- our own interpreter
            [sys.executable, *options, "-c", code],
            cwd=empty,
            env=tree.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )


def _timed(tree: Any, module: str) -> float:
    return float(_run(tree, _TIMED.format(module=module)).stdout.strip()) * 1000


def _own_modules(tree: Any) -> dict[str, Any]:
    """``-X importtime``: the package's modules' self time, the top ones, and aiohttp's."""
    stderr = _run(tree, f"import {PACKAGE}", "-X", "importtime").stderr
    own: dict[str, float] = {}
    cumulative: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        cumulative[module] = int(cumulative_us) / 1000
        if module == PACKAGE or module.startswith(PACKAGE + "."):
            own[module] = int(self_us) / 1000
    top = sorted(own.items(), key=lambda item: item[1], reverse=True)[:8]
    return {
        "own_self_ms": sum(own.values()),
        "own_modules": len(own),
        "top_self_ms": top,
        "package_cumulative_ms": cumulative.get(PACKAGE, 0.0),
        "aiohttp_cumulative_ms": cumulative.get("aiohttp", 0.0),
    }


def compare(
    trees: dict[str, Any], *, repeat: int, idle: float | None = None, log: Any = print
) -> dict[str, Any]:
    """Each tree (a ``benchmarks._trees.Tree``) ``repeat`` times, interleaved."""
    for tree in trees.values():
        _timed(tree, PACKAGE)  # compile the tree's modules once, untimed
    samples: dict[str, dict[str, list[float]]] = {
        name: {"aiohttp_ms": [], "package_ms": [], "added_ms": []} for name in trees
    }
    idle_shares = []
    for index in range(repeat):
        idle_shares.append(wait_until_idle(idle))
        order = list(trees) if index % 2 == 0 else list(reversed(trees))
        for name in order:
            first, second = ("aiohttp", PACKAGE) if index % 4 < 2 else (PACKAGE, "aiohttp")
            times = {first: _timed(trees[name], first), second: _timed(trees[name], second)}
            samples[name]["aiohttp_ms"].append(times["aiohttp"])
            samples[name]["package_ms"].append(times[PACKAGE])
            samples[name]["added_ms"].append(times[PACKAGE] - times["aiohttp"])
    summary: dict[str, Any] = {}
    for name, tree in trees.items():
        values = samples[name]
        summary[name] = {
            key: {
                "median": statistics.median(column),
                "min": min(column),
                "max": max(column),
            }
            for key, column in values.items()
        }
        profiles = [_own_modules(tree) for _ in range(3)]
        best = sorted(profiles, key=lambda profile: profile["own_self_ms"])[1]
        summary[name]["importtime"] = best
        summary[name]["passed"] = summary[name]["added_ms"]["median"] <= TARGET_MS
        log(
            f"  import {name}: aiohttp {summary[name]['aiohttp_ms']['median']:.0f} ms, "
            f"{PACKAGE} {summary[name]['package_ms']['median']:.0f} ms, added "
            f"{summary[name]['added_ms']['median']:.0f} ms (own modules' self time "
            f"{best['own_self_ms']:.0f} ms in {best['own_modules']})"
        )
    settings = {"repeat": repeat, "idle": idle, "idle_at_start": idle_shares}
    return {"settings": settings, "summary": summary, "samples": samples}


def markdown(document: dict[str, Any], commits: dict[str, str]) -> list[str]:
    lines = [
        f"Fresh interpreters, {document['settings']['repeat']} interleaved repetitions, the"
        " import statement timed inside the interpreter; added: the package's import minus"
        " aiohttp's in the same repetition, median [min-max]; own modules: `-X importtime`"
        " self time of the package's modules (median of 3);"
        f" target: added at most {TARGET_MS:g} ms.",
        "",
        "| tree | `import aiohttp` ms | `import zuora_wf_async` ms | added ms | own modules' self"
        " ms (count) | slowest own modules (self ms) | target |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name, entry in document["summary"].items():

        def fmt(key: str, entry: dict[str, Any] = entry) -> str:
            spread = entry[key]
            return f"{spread['median']:.0f} [{spread['min']:.0f}-{spread['max']:.0f}]"

        profile = entry["importtime"]
        slowest = ", ".join(
            f"`{module.removeprefix(PACKAGE + '.')}` {ms:.1f}"
            for module, ms in profile["top_self_ms"][:4]
        )
        lines.append(
            f"| {name} (`{commits[name].split()[0]}`) | {fmt('aiohttp_ms')} | {fmt('package_ms')}"
            f" | {fmt('added_ms')} | {profile['own_self_ms']:.0f} ({profile['own_modules']})"
            f" | {slowest} | {'met' if entry['passed'] else '**not met**'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add_arguments(parser)
    parser.add_argument("--repeat", type=int, default=15)
    arguments = parser.parse_args()
    measured = trees_named(arguments)
    document = compare(measured, repeat=arguments.repeat, idle=arguments.idle)
    print("\n".join(markdown(document, {name: tree.commit for name, tree in measured.items()})))
    print(json.dumps(document["summary"], indent=1))


if __name__ == "__main__":
    main()
