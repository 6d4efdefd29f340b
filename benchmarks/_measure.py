"""Small measuring helpers and the record every benchmark returns."""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "Row",
    "cpu_seconds",
    "peak_rss_bytes",
    "percentile",
    "reset_peak_rss",
    "rss_bytes",
    "wall_and_cpu",
]


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wall_and_cpu() -> tuple[float, float]:
    return time.perf_counter(), cpu_seconds()


def rss_bytes() -> int:
    """Resident set size now (Linux ``/proc/self/statm``)."""
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status_kib(field: str) -> int:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def peak_rss_bytes() -> int:
    """This process's peak RSS (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over from the parent's RSS at fork, so a child
    of a big process would report its parent's size.
    """
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Restart the peak-RSS high-water mark at the current RSS (Linux >= 4.0)."""
    try:
        with Path("/proc/self/clear_refs").open("w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; ``fraction`` in [0, 1]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@attrs.frozen(kw_only=True)
class Row:
    """One line of the results table.

    ``ratio`` is ``ours / baseline`` (or None when a baseline is only context);
    ``passed`` is None for rows reported without a target.
    """

    benchmark: str
    unit: str
    ours: float
    baseline: float
    baseline_name: str
    ratio: float | None
    target: str
    passed: bool | None
    target_value: float | None = None
    target_on: str = "ratio"
    raw: dict[str, Any] = attrs.field(factory=dict)
