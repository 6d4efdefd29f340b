"""Results as Markdown, JSON and a PNG chart, with the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs

from ._measure import Row

__all__ = ["combine", "machine", "machine_lines", "write"]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open() as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _lscpu_model() -> str:
    try:
        text = subprocess.run(
            ["lscpu"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return _cpu_model()
    for line in text.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return _cpu_model()


def _git_commit() -> str:
    # Set when the measured library is a snapshot outside the checkout (a "before" run).
    if os.environ.get("BENCHMARK_COMMIT"):
        return os.environ["BENCHMARK_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
            cwd=root,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head or "unknown"


def machine() -> dict[str, Any]:
    """The machine, the software and how busy the machine was when the run started."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _lscpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "switch_interval_s": sys.getswitchinterval(),
        "aiohttp": _version("aiohttp"),
        "zuora-sdk": _version("zuora-sdk"),
        "zuora-wf-async": _version("zuora-wf-async"),
        "commit": _git_commit(),
    }


def machine_lines(info: dict[str, Any]) -> list[str]:
    """The Markdown bullet lines that say where and on what a result was measured."""
    load = ", ".join(f"{value:.2f}" for value in info["load_average_at_start"])
    return [
        f"- date: {info['date']}; commit: `{info['commit']}`",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['platform']});"
        f" load average at start (1/5/15 min): {load}",
        f"- Python {info['python']} (switch interval {info['switch_interval_s'] * 1000:g} ms),"
        f" aiohttp {info['aiohttp']}, zuora-sdk {info['zuora-sdk']}",
    ]


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def _verdict(row: Row) -> str:
    if row.passed is None:
        return "report"
    return "**pass**" if row.passed else "**FAIL**"


def markdown(rows: list[Row], info: dict[str, Any], settings: dict[str, Any]) -> str:
    lines = [
        "# Against zuora-sdk, and memory",
        "",
        *machine_lines(info),
        "- settings: " + ", ".join(f"{key}={value}" for key, value in settings.items()),
        "",
        "| benchmark | ours | baseline | ratio (ours / baseline) | target | result |",
        "|---|---:|---|---:|---|---|",
    ]
    lines.extend(
        f"| {row.benchmark} | {_number(row.ours, row.unit)} "
        f"| {_number(row.baseline, row.unit)} ({row.baseline_name}) "
        f"| {_number(row.ratio)} | {row.target} | {_verdict(row)} |"
        for row in rows
    )
    lines.append("")
    return "\n".join(lines)


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    # Each bar is "how much of its target a result uses": the measured ratio over a ratio
    # target, or the absolute value over an absolute target. Below 1.0 meets the target.
    charted = [row for row in rows if row.target_value]
    labels = [row.benchmark for row in charted]
    used = [_target_use(row) for row in charted]
    figure, axes = plt.subplots(figsize=(10, 0.7 * len(charted) + 1.6))
    colours = ["tab:green" if row.passed else "tab:red" for row in charted]
    axes.barh(labels, used, color=colours)
    axes.axvline(1.0, color="black", linestyle="--", label="target")
    for position, (row, value) in enumerate(zip(charted, used, strict=True)):
        measured = row.ratio if row.target_on == "ratio" else row.ours
        text = f"{_number(measured)}{'' if row.target_on == 'ratio' else ' ' + row.unit}"
        axes.text(value, position, f"  {text} ({row.target})", va="center", fontsize=8)
    axes.set_xlabel("measured / target (below 1 passes)")
    axes.set_xlim(0, max([*used, 1.0]) * 1.6)
    axes.invert_yaxis()
    axes.legend(loc="lower right")
    axes.set_title("zuora_wf_async: results against targets")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _target_use(row: Row) -> float:
    measured = row.ratio if row.target_on == "ratio" else row.ours
    if measured is None or not row.target_value:
        return 0.0
    return measured / row.target_value


def write(
    rows: list[Row],
    settings: dict[str, Any],
    directory: Path,
    *,
    seconds: float,
    info: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """The zuora-sdk and memory rows as ``others.md``/``.json``/``.png``.

    ``info`` is ``machine()`` taken when the run started (its load average is the start's).
    """
    directory.mkdir(parents=True, exist_ok=True)
    info = info or machine()
    paths = {
        "md": directory / "others.md",
        "json": directory / "others.json",
        "png": directory / "others.png",
    }
    text = markdown(rows, info, settings)
    paths["md"].write_text(text + f"\nTotal time of these benchmarks: {seconds:.0f} s.\n")
    document = {
        "machine": info,
        "settings": settings,
        "seconds": seconds,
        "rows": [attrs.asdict(row) for row in rows],
    }
    paths["json"].write_text(json.dumps(document, indent=2, default=str) + "\n")
    chart(rows, paths["png"])
    return paths


SECTION_FILES = ("cpu.md", "lag.md", "others.md")


def combine(directory: Path) -> Path:
    """``results.md``: every section's table found in ``directory``, one page."""
    parts = ["# zuora_wf_async benchmark results", ""]
    for name in SECTION_FILES:
        path = directory / name
        if path.exists():
            # Each section's own title becomes a second-level heading on the page.
            lines = path.read_text().splitlines()
            parts += [("#" + line if line.startswith("#") else line) for line in lines]
            parts.append("")
    target = directory / "results.md"
    target.write_text("\n".join(parts).rstrip() + "\n")
    return target
