"""Runs documentation examples, each in its own forked process, imports paid once.

Started by tests/docs/test_code_examples.py with the repository's interpreter. Importing
aiohttp, the library, FastAPI and pytest costs most of a second per interpreter on a busy
machine, far more than most examples take to run; this server imports them once and forks a
fresh process per example, so each example still runs isolated (own memory, own event loop,
own working directory) but starts in milliseconds.

Protocol: one JSON line on stdin, ``{"workers": N, "jobs": [{"id", "script", "cwd",
"stdout", "stderr"}, ...]}``. For each job this prints ``{"id", "pid"}`` when its process
starts and ``{"id", "status"}`` when it ends (status: the exit code, or minus the signal).
At most N examples run at once. The parent enforces timeouts by killing a pid.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import traceback
import warnings
from typing import Any

# What examples import; a module that is missing is simply not preloaded.
PRELOAD = (
    "asyncio",
    "aiohttp",
    "zuora_wf_async",
    "zuora_wf_async.testing",
    "zuora_wf_async.cli",
    "fastapi",
    "httpx",
    "pytest",
    "pytest_asyncio",
)


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def _child(job: dict[str, Any]) -> None:
    """In the forked process: run one script as __main__, then leave without cleanup."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
        os.chdir(job["cwd"])
        sys.argv = [job["script"]]
        sys.path[0] = os.path.dirname(job["script"])
        warnings.resetwarnings()
        warnings.simplefilter("error")  # as `python -W error`
        try:
            runpy.run_path(job["script"], run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except BaseException:  # noqa: BLE001 - report whatever the example raised
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    sys.stderr.write(f"{value}\n")
    return 1


def _report(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    request = json.loads(sys.stdin.readline())
    _preload()
    pending: list[dict[str, Any]] = list(request["jobs"])
    running: dict[int, Any] = {}
    workers = max(1, int(request["workers"]))
    while pending or running:
        while pending and len(running) < workers:
            job = pending.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = job["id"]
            _report({"id": job["id"], "pid": pid})
        pid, wait_status = os.wait()
        job_id = running.pop(pid, None)
        if job_id is not None:
            _report({"id": job_id, "status": os.waitstatus_to_exitcode(wait_status)})


if __name__ == "__main__":
    main()
