"""``uv run --group bench python -m benchmarks [--quick] [--only cpu,memory,lag]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import _cpu, _lag, _memory
from ._measure import Row
from ._report import write

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {"cpu_runs": 5_000, "cpu_repetitions": 7, "memory_runs": 100_000, "lag_runs": 200}
QUICK = {"cpu_runs": 500, "cpu_repetitions": 3, "memory_runs": 3_000, "lag_runs": 40}
SECTIONS = ("cpu", "memory", "lag")


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where results are written (default: benchmarks/results, or results/quick)",
    )
    args = parser.parse_args(argv)
    settings: dict[str, int | str] = dict(QUICK if args.quick else FULL)
    settings["mode"] = "quick" if args.quick else "full"
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    started = time.perf_counter()
    rows: list[Row] = []
    if "cpu" in chosen:
        _log(f"client CPU: {settings['cpu_repetitions']} x {settings['cpu_runs']:,} runs each")
        rows += _cpu.run(
            count=int(settings["cpu_runs"]),
            repetitions=int(settings["cpu_repetitions"]),
            log=_log,
        )
    if "memory" in chosen:
        _log(f"memory: {settings['memory_runs']:,} runs per measurement, fresh processes")
        rows += _memory.run(count=int(settings["memory_runs"]), timeout=900.0, log=_log)
    if "lag" in chosen:
        _log(f"event-loop lag: {settings['lag_runs']} runs with ~1 MB parameters")
        rows += _lag.run(runs=int(settings["lag_runs"]), max_seconds=300.0, log=_log)
    seconds = time.perf_counter() - started
    paths = write(rows, settings, out, seconds=seconds)
    print()
    print(paths["md"].read_text())
    print(f"wrote {', '.join(str(path) for path in paths.values())}")


if __name__ == "__main__":
    main()
