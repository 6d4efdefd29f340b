"""``zuora-wf``: the command line, a thin shell over the public API.

Commands: ``demo``, ``run``, ``get``, ``wait``, ``stop``, ``tasks``, ``batch`` and
``fake-server`` (``zuora-wf COMMAND --help`` for each). Exit codes (:mod:`._exits`): 0
when everything asked for succeeded, 1 when a run or a row failed, 4 when none failed but
a run is pending (``--wait``; not a failure), 2 for a usage error
(bad flags, unreadable input, missing credentials), 3 when a file the command writes (the
batch journal) could not be written, always as one line on stderr, never a traceback; 130
when interrupted. rich draws the progress bar and tables of ``demo`` and ``batch``;
it comes with the ``cli`` extra (``pip install 'zuora-wf-async[cli]'``), and the library
itself never imports it.

For workflow definitions (``_workflow_commands``): ``workflows``, ``workflow``,
``activate``, ``deactivate``, ``update-workflow``, ``delete-workflow``, ``versions``,
``delete-version``, ``task``, ``rerun``, ``usage``, ``export`` and ``import``; for many
tasks (``_task_commands``): ``update-tasks`` and ``rerun-failed``. Every method of
``WorkflowClient`` has its command (``_coverage.OPERATIONS``). ``--wait-timeout`` is a
wait limit and ``--request-timeout`` an HTTP attempt's, everywhere; ``--timeout`` is their
deprecated old name (``_flags``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NoReturn

from zuora_wf_async import InvalidRequestError, ZuoraError, __version__

from ._batch_rows import BatchOptions, dry_run
from ._commands import add_tasks_command, cmd_get, cmd_run, cmd_stop, cmd_tasks, cmd_wait
from ._config import UsageError, add_connection_options, make_client, number_argument
from ._exits import FAILED, INTERRUPTED, USAGE, WRITE_FAILED, FailedError, WriteError
from ._flags import add_renamed, deprecation_warnings
from ._inputs import KeyScheme
from ._journal import JOURNAL_COMMANDS, add_batch_options, journal_parser
from ._task_commands import TASK_COMMANDS, add_task_commands
from ._tenant import add_tenant_command, cmd_tenant
from ._workflow_commands import WORKFLOW_COMMANDS, add_workflow_commands

__all__ = ["main", "run_command"]

TOOL = f"zuora-wf {__version__}"
RICH_MISSING = (
    "zuora-wf: this command draws with rich, which is not installed; "
    "install the CLI extra: pip install 'zuora-wf-async[cli]'"
)
# A pending run (an approval may pend for 90 days) would otherwise hold the wait to its end.
_UNTIL_PENDING = "stop waiting once the run is pending (its tasks wait); exit 4"
_CALLS = {"run": cmd_run, "get": cmd_get, "wait": cmd_wait, "stop": cmd_stop, "tasks": cmd_tasks}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


_count, _seconds = number_argument(int, 1), number_argument(float, 0)


@functools.cache  # parse_args leaves it as it was; built once, not per call of run_command
def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zuora-wf", description="Run Zuora workflows from the command line.")
    parser.add_argument("--version", action="version", version=TOOL)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="runs against an embedded local Zuora (no network)")
    demo.add_argument("--runs", type=_count, default=2000, help="how many runs (2000)")
    demo.add_argument(
        "--concurrency", type=_count, default=40, help="requests in flight (40, a tenant's limit)"
    )

    run = commands.add_parser("run", help="start one run and print it as JSON")
    run.add_argument("workflow_id", type=_count, metavar="WORKFLOW_ID")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable); KEY:=JSON for a non-string value",
    )
    run.add_argument("--params-json", metavar="JSON", help="parameters as one JSON object")
    run.add_argument("--idempotency-key", metavar="KEY", help="default: a fresh UUID4")
    run.add_argument("--wait", action="store_true", help="follow the run to its end")
    run.add_argument("--until-pending", action="store_true", help=_UNTIL_PENDING)
    add_renamed(
        run,
        "--wait-timeout",
        "--timeout",
        dest="wait_timeout",
        type=_seconds,
        default=3600.0,
        help="seconds --wait waits for the run to end (3600)",
    )
    add_connection_options(run)

    for name, text in (
        ("get", "print a run's current state as JSON"),
        ("wait", "wait for runs to end and print each final state"),
        ("stop", "ask Zuora to stop a run"),
    ):
        call = commands.add_parser(name, help=text)
        if name == "wait":  # one run: wait_for_run; several: wait_for_runs, side by side
            call.add_argument("run_id", type=_count, nargs="+", metavar="RUN_ID")
            add_renamed(
                call,
                "--wait-timeout",
                "--timeout",
                dest="wait_timeout",
                type=_seconds,
                default=3600.0,
                help="seconds to wait for each run to end (3600)",
            )
            call.add_argument("--until-pending", action="store_true", help=_UNTIL_PENDING)
        else:
            call.add_argument("run_id", type=_count, metavar="RUN_ID")
        add_connection_options(call)
    add_tasks_command(commands, add_connection_options)

    batch = commands.add_parser(
        "batch",
        help="one run per input row, resumable via a journal",
        epilog="also: zuora-wf batch report JOURNAL, zuora-wf batch stop JOURNAL",
    )
    add_batch_options(batch)
    add_connection_options(batch)

    fake = commands.add_parser("fake-server", help="serve FakeZuora on 127.0.0.1")
    fake.add_argument(
        "--port", type=number_argument(int, 0), default=0, help="default: a free port"
    )
    fake.add_argument("--faults", metavar="SPEC", help="e.g. error_before_record:503:p=0.05")
    fake.add_argument("--seed", type=int, default=0, help="seed of the fault plan (0)")
    fake.add_argument("--latency", type=_seconds, default=0.0, help="seconds per run request")
    fake.add_argument("--queued-seconds", type=_seconds, default=0.0, help="runs stay Queued")
    fake.add_argument("--processing-seconds", type=_seconds, default=0.0, help="then Processing")
    fake.add_argument(
        "--concurrency-limit",
        type=number_argument(int, 1),
        default=40,
        metavar="N",
        help="the tenant's requests in flight at once; over it, a 429 (40, as at Zuora)",
    )
    fake.add_argument(
        "--workflow",
        type=number_argument(int, 1),
        action="append",
        default=[],
        metavar="ID",
        help="also serve this workflow definition (repeatable; the fake's own set: "
        "1-9, 42, 286, 396, 476)",
    )
    fake.add_argument("--client-id", help="36 characters (default: random)")
    fake.add_argument("--client-secret", help="the fake's own secret (default: random)")
    fake.add_argument(
        "--report",
        action="store_true",
        help="on exit, print executions per idempotency key as JSON lines",
    )

    # The Workflow API's operator commands (workflows, activate, export, ...).
    add_workflow_commands(commands, add_connection_options)
    add_task_commands(commands, add_connection_options)  # update-tasks, rerun-failed
    add_tenant_command(commands, add_connection_options)  # who holds the shared slots
    return parser


async def _dispatch(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    on_journal_record: Callable[[dict[str, Any]], object] | None,
) -> int:
    if args.command == "fake-server":
        from ._fake_server import serve

        return await serve(args)
    if args.command in _CALLS:
        return await _CALLS[args.command](args, make_client(args, environ))
    if args.command in WORKFLOW_COMMANDS:
        return await WORKFLOW_COMMANDS[args.command](args, make_client(args, environ))
    if args.command in TASK_COMMANDS:
        return await TASK_COMMANDS[args.command](args, make_client(args, environ))
    if args.command == "tenant":
        return await cmd_tenant(args, make_client(args, environ), environ)
    if args.command in JOURNAL_COMMANDS:  # batch report / batch stop
        from ._inputs import regular_file

        regular_file(args.journal, "JOURNAL", must_exist=False)
        return await JOURNAL_COMMANDS[args.command](args, partial(make_client, args, environ))
    if args.command == "batch" and args.dry_run:  # draws nothing: no rich needed
        return dry_run(_batch_options(args))
    try:
        from ._batch import run_batch
        from ._demo import run_demo
        from ._render import console
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "rich":
            raise UsageError(RICH_MISSING.removeprefix("zuora-wf: ")) from None
        raise
    if args.command == "demo":
        out = console()
        out.print(f"zuora-wf demo: {args.runs:,} runs against a local FakeZuora that misbehaves")
        report = await run_demo(runs=args.runs, concurrency=args.concurrency, out=out)
        return 0 if report.clean else 1
    if args.journal is None:
        raise UsageError("batch needs --journal PATH to record and resume (or use --dry-run)")
    return await run_batch(
        _batch_options(args),
        partial(make_client, args, environ),
        console(),
        tool=TOOL,
        on_record=on_journal_record,
    )


def _batch_options(args: argparse.Namespace) -> BatchOptions:
    return BatchOptions(
        workflow_id=args.workflow_id,
        input=args.input,
        journal=args.journal,
        keys=KeyScheme.from_flags(
            args.workflow_id, args.batch_id, args.key_column, args.key_template
        ),
        wait=args.wait,
        wait_timeout=args.wait_timeout,
        until_pending=args.until_pending,
        retry_failed=args.retry_failed,
        preflight=args.preflight,
    )


def _fail(message: str) -> None:
    sys.stdout.flush()
    # One line whatever the message quotes (a path or a value holding a newline), and
    # printable whatever it holds (a path with a byte that is not UTF-8 is "\udcff").
    line = f"zuora-wf: {message}".replace("\r", "\\r").replace("\n", "\\n")
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    line = line.encode(encoding, "backslashreplace").decode(encoding)
    print(line, file=sys.stderr, flush=True)


async def run_command(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    on_journal_record: Callable[[dict[str, Any]], object] | None = None,
) -> int:
    """``zuora-wf`` inside a running event loop; returns the exit code.

    ``environ`` stands in for ``os.environ``; ``on_journal_record`` sees each batch journal
    line just after it is written (for tests and for embedding).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:2] in (["batch", "report"], ["batch", "stop"]):
            args = journal_parser(_Parser, argv[1]).parse_args(argv[2:])
        else:
            args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    for warning in deprecation_warnings(args):  # an old flag name: works, and says so
        _fail(warning)
    try:
        return await _dispatch(args, os.environ if environ is None else environ, on_journal_record)
    except (UsageError, InvalidRequestError) as exc:
        _fail(str(exc))
        return USAGE
    except FailedError as exc:  # e.g. update-tasks failing part way: what was done
        _fail(str(exc))
        return FAILED
    except WriteError as exc:  # the journal's disk filled up; --output cannot be written
        _fail(str(exc))
        return WRITE_FAILED
    except ZuoraError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
        return FAILED
    except OSError as exc:  # a file vanished mid-batch
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """The ``zuora-wf`` console script."""
    # Text that UTF-8 cannot carry (a lone surrogate in a server's JSON, a file name that
    # is not UTF-8) is printed escaped instead of ending the command with a traceback.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        return asyncio.run(run_command(argv))
    except KeyboardInterrupt:
        _fail("interrupted; a batch resumes where it stopped when run again with the same journal")
        return INTERRUPTED
