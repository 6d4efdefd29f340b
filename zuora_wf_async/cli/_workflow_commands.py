"""The operator's Workflow commands: list, show, change, delete, tasks, usage, export/import.

``workflows``, ``workflow ID``, ``activate ID`` / ``deactivate ID``, ``update-workflow ID
[--name ...]``, ``delete-workflow ID --yes``, ``task ID``, ``rerun TASK_ID``, ``usage
--from --to``, ``export ID [--version V] [--output FILE]``, ``import FILE [--workflow ID
--version V --activate]``, ``versions ID`` and ``delete-version ID --yes``. Each is one call (or one
listing) printed as JSON lines, like ``get`` and ``tasks``; an export is printed (or
written) as the JSON document ``import`` reads back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from zuora_wf_async import WorkflowClient, WorkflowStatus

from ._commands import to_json
from ._config import UsageError
from ._exits import writing
from ._inputs import regular_file

__all__ = ["WORKFLOW_COMMANDS", "add_workflow_commands"]

Handler = Callable[[argparse.Namespace, WorkflowClient], Awaitable[int]]


def _emit(record: Any) -> None:
    sys.stdout.write(to_json(record) + "\n")
    sys.stdout.flush()


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive id, got {text!r}")
    return int(text)


def add_workflow_commands(
    commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register the Workflow commands on ``zuora-wf``'s sub-parsers."""
    listing = commands.add_parser("workflows", help="list workflow definitions, one JSON per line")
    listing.add_argument("--name", help="only workflows with this name")
    listing.add_argument(
        "--callout-trigger",
        choices=("on", "off"),
        help="only workflows whose Callout trigger is on (or off)",
    )
    single = {
        "workflow": ("WORKFLOW_ID", "print one workflow definition as JSON"),
        "activate": ("WORKFLOW_ID", "set a workflow Active (its runs are accepted again)"),
        "deactivate": ("WORKFLOW_ID", "set a workflow Inactive (Zuora refuses its runs)"),
        "versions": ("WORKFLOW_ID", "list a workflow's versions, one JSON per line"),
        "task": ("TASK_ID", "print one task as JSON"),
        "rerun": ("TASK_ID", "rerun one task and print it as JSON"),
    }
    parsers = {"workflows": listing}
    for name, (metavar, text) in single.items():
        parsers[name] = commands.add_parser(name, help=text)
        parsers[name].add_argument("id", type=_id, metavar=metavar)
    parsers["rerun"].add_argument("--idempotency-key", metavar="KEY", help="default: a UUID4")
    usage = parsers["usage"] = commands.add_parser("usage", help="task runs per day")
    usage.add_argument("--from", dest="start", type=_day, required=True, metavar="YYYY-MM-DD")
    usage.add_argument("--to", dest="end", type=_day, required=True, metavar="YYYY-MM-DD")
    export = parsers["export"] = commands.add_parser("export", help="export a workflow version")
    export.add_argument("id", type=_id, metavar="WORKFLOW_ID")
    export.add_argument(
        "--version",
        help="a version number, or latest (default: the active version, as Zuora exports it)",
    )
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="default: stdout")
    imported = parsers["import"] = commands.add_parser(
        "import", help="import an exported workflow (new, or a new version with --workflow)"
    )
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--workflow", type=_id, metavar="WORKFLOW_ID", help="add a version")
    imported.add_argument("--version", help="the new version's number, e.g. 0.0.2")
    imported.add_argument("--activate", action="store_true", help="make it the active version")
    _add_changes(commands, parsers)
    for parser in parsers.values():
        add_connection_options(parser)


def _add_changes(commands: Any, parsers: dict[str, argparse.ArgumentParser]) -> None:
    """``update-workflow``, ``delete-workflow`` and ``delete-version``."""
    update = parsers["update-workflow"] = commands.add_parser(
        "update-workflow", help="rename a workflow, or change its description, status or version"
    )
    update.add_argument("id", type=_id, metavar="WORKFLOW_ID")
    update.add_argument("--name", help="the new name")
    update.add_argument("--description", help="the new description")
    update.add_argument(
        "--status", choices=[s.value for s in WorkflowStatus], help="the new status"
    )
    update.add_argument(
        "--active-version-id", type=_id, metavar="VERSION_ID", help="the version runs use"
    )
    update.add_argument("--idempotency-key", metavar="KEY", help="default: a UUID4")
    for name, metavar, text in (
        ("delete-workflow", "WORKFLOW_ID", "delete a workflow and all its versions"),
        ("delete-version", "VERSION_ID", "delete one version (not the active one)"),
    ):
        parsers[name] = commands.add_parser(name, help=text)
        parsers[name].add_argument("id", type=_id, metavar=metavar)
        parsers[name].add_argument(
            "--yes", action="store_true", help="required: deleting cannot be undone"
        )


async def _workflows(args: argparse.Namespace, client: WorkflowClient) -> int:
    filters: dict[str, Any] = {"name": args.name}
    if args.callout_trigger is not None:
        filters["callout_trigger"] = args.callout_trigger == "on"
    async with client:
        async for workflow in client.iter_workflows(**filters):
            _emit(workflow)
    return 0


async def _workflow(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        _emit(await client.get_workflow(args.id))
    return 0


def _set_status(status: WorkflowStatus) -> Handler:
    async def handler(args: argparse.Namespace, client: WorkflowClient) -> int:
        async with client:
            _emit(await client.update_workflow(args.id, status=status))
        return 0

    return handler


async def _versions(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        for version in await client.list_workflow_versions(args.id):
            _emit(version)
    return 0


async def _task(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        _emit(await client.get_task(args.id))
    return 0


async def _rerun(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        _emit(await client.rerun_task(args.id, idempotency_key=args.idempotency_key))
    return 0


async def _usage(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        for day in await client.get_task_usage(args.start, args.end):
            _emit(day)
    return 0


async def _export(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        export = await client.export_workflow(args.id, version=args.version)
    text = json.dumps(export.as_json(), ensure_ascii=False, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        with writing("export output", args.output):
            args.output.write_text(text, encoding="utf-8")
    return 0


async def _import(args: argparse.Namespace, client: WorkflowClient) -> int:
    regular_file(args.file, "FILE", must_exist=True)
    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except RecursionError:
        raise UsageError(f"{args.file} is not a JSON export (nested too deeply)") from None
    except ValueError as exc:  # not UTF-8, not JSON, a number past the digit limit
        raise UsageError(f"{args.file} is not a JSON export ({exc})") from None
    activate = True if args.activate else None
    async with client:
        if args.workflow is None:
            workflow = await client.import_workflow(
                document, version=args.version, activate=activate
            )
        else:
            version = args.version or _next_version(
                await client.list_workflow_versions(args.workflow)
            )
            workflow = await client.import_workflow_version(
                args.workflow, document, version=version, activate=activate
            )
    _emit(workflow)
    return 0


def _next_version(versions: list[Any]) -> str:
    """One more than the highest ``x.y.z`` (Zuora wants a number above every existing one)."""
    numbers = [
        tuple(int(part) for part in v.version.split("."))
        for v in versions
        if v.version and all(part.isdigit() for part in v.version.split("."))
    ]
    if not numbers:
        return "0.0.1"
    highest = max(numbers)
    return ".".join(str(part) for part in (*highest[:-1], highest[-1] + 1))


async def _update_workflow(args: argparse.Namespace, client: WorkflowClient) -> int:
    changes = {
        "name": args.name,
        "description": args.description,
        "status": args.status,
        "active_version_id": args.active_version_id,
    }
    if all(value is None for value in changes.values()):
        raise UsageError(
            "update-workflow changes nothing: pass --name, --description, --status or "
            "--active-version-id"
        )
    async with client:
        _emit(
            await client.update_workflow(args.id, idempotency_key=args.idempotency_key, **changes)
        )
    return 0


def _delete(what: str) -> Handler:
    async def handler(args: argparse.Namespace, client: WorkflowClient) -> int:
        if not args.yes:  # checked after the connection flags, so those are checked too
            raise UsageError(
                f"delete-{what} {args.id} cannot be undone at Zuora: add --yes to delete it"
            )
        async with client:
            if what == "workflow":
                deleted = await client.delete_workflow(args.id)
            else:
                deleted = await client.delete_workflow_version(args.id)
        _emit(deleted)
        return 0

    return handler


WORKFLOW_COMMANDS: dict[str, Handler] = {
    "update-workflow": _update_workflow,
    "delete-workflow": _delete("workflow"),
    "delete-version": _delete("version"),
    "workflows": _workflows,
    "workflow": _workflow,
    "activate": _set_status(WorkflowStatus.ACTIVE),
    "deactivate": _set_status(WorkflowStatus.INACTIVE),
    "versions": _versions,
    "task": _task,
    "rerun": _rerun,
    "usage": _usage,
    "export": _export,
    "import": _import,
}
