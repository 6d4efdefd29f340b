"""Two versions of the library measured by the same benchmark code, each in its own process.

A tree is an extracted copy of the repository (``git archive REV | tar -x -C DIR``), or a
git revision that :func:`resolve` extracts itself, never the working tree (which others
may be editing while a benchmark runs). :func:`snapshot` copies this ``benchmarks``
package once into a directory of its own: a child runs there, with ``PYTHONPATH`` at the
tree, so it imports the tree's ``zuora_wf_async`` and this snapshot's benchmark code,
whichever tree it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .goodput import cpu_idle_share

__all__ = [
    "Tree",
    "add_arguments",
    "child",
    "resolve",
    "snapshot",
    "trees_named",
    "wait_until_idle",
]

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parent


class Tree:
    """Where a version of the library is, and which commit it is."""

    def __init__(self, path: Path, commit: str) -> None:
        self.path = path
        self.commit = commit

    def env(self) -> dict[str, str]:
        # Bytecode is written and used, as after `pip install`: with PYTHONDONTWRITEBYTECODE
        # (set in this workplace's shell) every child would compile the tree's modules from
        # source, and import time would measure the compiler.
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {**environ, "PYTHONPATH": str(self.path), "BENCHMARK_COMMIT": self.commit}


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 -- fixed git arguments
        ["git", *args],  # noqa: S607 -- the repository's own git
        cwd=_REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def resolve(where: str, scratch: Path) -> Tree:
    """A directory holding ``zuora_wf_async``, or a revision extracted under ``scratch``."""
    path = Path(where)
    if (path / "zuora_wf_async").is_dir():
        marker = path / ".benchmark-commit"
        commit = marker.read_text().strip() if marker.exists() else f"tree {path}"
        return Tree(path.resolve(), commit)
    commit = _git("log", "-1", "--format=%h %s", where)
    if len(commit) > 100:  # this project's subjects run long; a results file names, not tells
        commit = commit[:99] + "…"
    target = scratch / f"tree-{commit.split()[0]}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(  # noqa: S603 -- a commit git itself named
            ["git", "archive", commit.split()[0]],  # noqa: S607
            cwd=_REPO,
            capture_output=True,
            check=True,
        ).stdout
        untar = ["tar", "-x", "-C", str(target)]
        subprocess.run(untar, input=archive, check=True)  # noqa: S603 -- fixed arguments
        (target / ".benchmark-commit").write_text(commit + "\n")
    return Tree(target, commit)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--before``, ``--after`` and ``--idle``, as every before-and-after benchmark takes them."""
    parser.add_argument("--before", help="a git revision or an extracted tree")
    parser.add_argument("--after", default="HEAD", help="the same (default: HEAD)")
    parser.add_argument(
        "--idle",
        type=float,
        metavar="SHARE",
        help="before each round of a measure the load can sway (lag, latency, import), wait"
        " (at most 30 s) until the CPUs are this idle over 2 s, e.g. 0.6",
    )


def trees_named(arguments: argparse.Namespace) -> dict[str, Tree]:
    """The trees that ``add_arguments``' options name, extracted where needed."""
    scratch = Path(tempfile.mkdtemp(prefix="benchmarks-trees-"))
    named = {"before": arguments.before, "after": arguments.after}
    return {name: resolve(where, scratch) for name, where in named.items() if where}


def wait_until_idle(wanted: float | None, most: float = 30.0) -> float | None:
    """Wait until the CPUs are at least ``wanted`` idle over 2 s, or ``most`` seconds have
    passed; the share seen last (``None``, at once, without ``wanted``).

    On a machine shared with test suites, a burst of someone else's work decides loop lag,
    latency and import time more than the client does; the CPU ratios, taken inside one
    child, do not need it."""
    if wanted is None:
        return None
    give_up = time.monotonic() + most
    while True:
        share = cpu_idle_share(2.0)
        if share >= wanted or time.monotonic() >= give_up:
            return share
        time.sleep(1.0)


def snapshot() -> Path:
    """A private copy of this benchmark package; children run with it as their directory."""
    root = Path(tempfile.mkdtemp(prefix="benchmarks-snapshot-"))
    shutil.copytree(
        _HERE, root / "benchmarks", ignore=shutil.ignore_patterns("results", "__pycache__")
    )
    return root


def child(tree: Tree, root: Path, module: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run ``python -m MODULE ARGS`` in ``root`` against ``tree``; its last stdout line as JSON."""
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", module, *args],
        cwd=root,
        env=tree.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} in {tree.path}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
