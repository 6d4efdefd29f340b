"""``uv run python -m benchmarks [--quick] [--only cpu,lag,sdk,memory] [--label L] [--out DIR]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import _cpu, _lag, _memory, _sdk
from ._measure import Row
from ._report import combine, machine, write

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "cpu_runs": 5_000,
    "cpu_rounds": 7,
    "sdk_runs": 2_000,
    "sdk_repetitions": 5,
    "memory_runs": 100_000,
    "lag_runs": 200,
    "lag_rounds": 3,
}
QUICK = {
    "cpu_runs": 500,
    "cpu_rounds": 2,
    "sdk_runs": 300,
    "sdk_repetitions": 2,
    "memory_runs": 3_000,
    "lag_runs": 40,
    "lag_rounds": 1,
}
SECTIONS = ("cpu", "lag", "sdk", "memory")


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--label", default="current", help="names the run in titles")
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

    out: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    started = time.perf_counter()
    at_start = machine()
    if "cpu" in chosen:
        _log(f"client CPU: {settings['cpu_rounds']} rounds x {settings['cpu_runs']:,} runs")
        _cpu.run(
            count=int(settings["cpu_runs"]),
            rounds=int(settings["cpu_rounds"]),
            out=out,
            label=args.label,
            log=_log,
        )
        print((out / "cpu.md").read_text())
    if "lag" in chosen:
        _log(f"event-loop lag: {settings['lag_rounds']} rounds x {settings['lag_runs']} runs")
        _lag.run(
            runs=int(settings["lag_runs"]),
            rounds=int(settings["lag_rounds"]),
            max_seconds=300.0,
            out=out,
            label=args.label,
            log=_log,
        )
        print((out / "lag.md").read_text())
    rows: list[Row] = []
    if "sdk" in chosen:
        _log(f"zuora-sdk: {settings['sdk_repetitions']} x {settings['sdk_runs']:,} runs")
        rows += _sdk.run(
            count=int(settings["sdk_runs"]),
            repetitions=int(settings["sdk_repetitions"]),
            log=_log,
        )
    if "memory" in chosen:
        _log(f"memory: {settings['memory_runs']:,} runs per measurement, fresh processes")
        rows += _memory.run(count=int(settings["memory_runs"]), timeout=900.0, log=_log)
    if rows:
        paths = write(rows, settings, out, seconds=time.perf_counter() - started, info=at_start)
        print(paths["md"].read_text())
    print(f"results in {combine(out)}")


if __name__ == "__main__":
    main()
