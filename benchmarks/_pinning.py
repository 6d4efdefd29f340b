"""Client and server on CPUs of their own, for the CPU benchmarks.

Left to the scheduler on a two-CPU machine, the client and the server keep landing on the
same CPU, waking each other across CPUs and evicting each other's caches; which of them a
sample catches doing that is luck, and the spread of the raw loop's own CPU per run was
about +-15% (107-130 µs in one 9-round run). With the server on one CPU and the client on
another, the same run gave 103-111 µs. Every shape of a round runs under the same
placement, so a ratio compares like with like either way; pinning only narrows the spread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["pinned_apart"]


@contextmanager
def pinned_apart(server_pid: int) -> Iterator[str]:
    """Pin the server to the first allowed CPU and this process to the next one.

    Yields what was done, for the results file. With one CPU, or where affinity cannot be
    set, nothing is pinned. This process's own affinity is restored on exit; the server's
    is left as it is (the server ends with the benchmark).
    """
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no CPU affinity on this platform)"
        return
    everything = os.sched_getaffinity(0)
    cpus = sorted(everything)
    if len(cpus) < 2:
        yield "not pinned (one CPU)"
        return
    try:
        os.sched_setaffinity(server_pid, {cpus[0]})
        os.sched_setaffinity(0, {cpus[1]})
    except OSError as exc:
        os.sched_setaffinity(0, everything)
        yield f"not pinned ({exc.strerror})"
        return
    try:
        yield f"server on CPU {cpus[0]}, client on CPU {cpus[1]}"
    finally:
        os.sched_setaffinity(0, everything)
