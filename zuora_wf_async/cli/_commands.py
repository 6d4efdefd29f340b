"""``run``, ``get``, ``wait``, ``stop``, ``tasks``: one call each (``wait`` of several runs:
``wait_for_runs``), printed as JSON.

Records print as one JSON object per line with the client's field names (snake_case),
timestamps in ISO-8601 and statuses as Zuora spells them, so the output feeds ``jq``.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from zuora_wf_async import WorkflowClient, ZuoraError

from ._config import UsageError
from ._settle import ending, exit_code

__all__ = [
    "add_tasks_command",
    "cmd_get",
    "cmd_run",
    "cmd_stop",
    "cmd_tasks",
    "cmd_wait",
    "parse_params",
    "to_json",
]


def _plain(_instance: object, _field: object, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def to_json(record: Any) -> str:
    """One attrs record as a line of JSON."""
    data = attrs.asdict(record, value_serializer=_plain)
    return json.dumps(data, ensure_ascii=False, default=str)


def _emit(record: Any) -> None:
    sys.stdout.write(to_json(record) + "\n")
    sys.stdout.flush()


def _write(data: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _json(text: str, flag: str) -> Any:
    """``text`` as JSON, or a :class:`UsageError` naming ``flag`` and what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} is not valid JSON ({exc.msg})") from None
    except RecursionError:  # 30,000 nested lists: deeper than Python's parser goes
        raise UsageError(f"{flag} is nested too deeply to read") from None
    except ValueError as exc:  # a number past Python's 4,300-digit limit
        raise UsageError(f"{flag}: {exc}") from None


def parse_params(pairs: Sequence[str], params_json: str | None) -> dict[str, Any]:
    """``--params-json`` first, then each ``--param``: ``key=text`` or ``key:=json``."""
    params: dict[str, Any] = {}
    if params_json is not None:
        loaded = _json(params_json, "--params-json")
        if not isinstance(loaded, dict):
            raise UsageError('--params-json must be a JSON object, like \'{"accountId": "A-1"}\'')
        params.update(loaded)
    for pair in pairs:
        name, raw_json, value = pair.partition(":=") if ":=" in pair else ("", "", "")
        if raw_json:
            params[name] = _json(value, f"--param {name}:=")
            continue
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise UsageError(f"--param {pair!r}: expected key=value (or key:=json)")
        params[name] = value
    return params


async def cmd_run(args: argparse.Namespace, client: WorkflowClient) -> int:
    params = parse_params(args.param, args.params_json)
    async with client:
        run = await client.run_workflow(
            args.workflow_id, params, idempotency_key=args.idempotency_key
        )
        _emit(run)
        if not args.wait:
            return 0
        detail = await client.wait_for_run(
            run.id, timeout=args.wait_timeout, until_pending=args.until_pending
        )
    _emit(detail)
    return exit_code([ending(detail)])


async def cmd_get(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        detail = await client.get_run(args.run_id)
    _emit(detail)
    return 0


async def cmd_wait(args: argparse.Namespace, client: WorkflowClient) -> int:
    """One run: ``wait_for_run``. Several: ``wait_for_runs``, waited for side by side; a
    run that cannot be waited for (unknown, timed out) is a line with its error, and the
    others are still printed."""
    if len(args.run_id) == 1:
        async with client:
            detail = await client.wait_for_run(
                args.run_id[0], timeout=args.wait_timeout, until_pending=args.until_pending
            )
        _emit(detail)
        return exit_code([ending(detail)])
    async with client:
        details = await client.wait_for_runs(
            args.run_id,
            timeout=args.wait_timeout,
            until_pending=args.until_pending,
            return_exceptions=True,
        )
    endings = []
    for run_id, waited in zip(args.run_id, details, strict=True):
        if isinstance(waited, ZuoraError):
            _write({"run_id": run_id, "error": f"{type(waited).__name__}: {waited}"})
            endings.append("error")
        else:
            _emit(waited)
            endings.append(ending(waited))
    return exit_code(endings)


async def cmd_stop(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        stopping = await client.stop_run(args.run_id)
    sys.stdout.write(json.dumps({"run_id": args.run_id, "success": stopping}) + "\n")
    return 0 if stopping else 1


# ``tasks``' filters: flag -> (iter_tasks keyword, help). Every filter iter_tasks takes.
TASK_FILTERS: Mapping[str, tuple[str, str]] = {
    "--id": ("id", "only the task with this id"),
    "--name": ("name", "only tasks with this name"),
    "--action-type": ("action_type", "only tasks of this action type, e.g. Export, Callout"),
    "--object": ("object", "only tasks on this object, e.g. Account"),
    "--object-id": ("object_id", "only tasks on the object with this id"),
    "--call-type": ("call_type", "only tasks of this call type, e.g. SOAP"),
    "--workflow-id": ("workflow_id", "Zuora's workflow_id filter (instead of RUN_ID)"),
}


def add_tasks_command(
    commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """``tasks [RUN_ID]`` with every filter of ``iter_tasks``."""
    tasks = commands.add_parser(
        "tasks", help="print tasks (a run's, or any matching the filters), one JSON per line"
    )
    tasks.add_argument("run_id", type=_positive, nargs="?", metavar="RUN_ID")
    filters = tasks.add_argument_group("filters", "each narrows the list; all must match")
    for flag, (_keyword, text) in TASK_FILTERS.items():
        filters.add_argument(flag, metavar="VALUE", help=text)
    filters.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help="tasks with this tag (repeatable: a task with any of them matches)",
    )
    filters.add_argument(
        "--instance", choices=("true", "false"), help="only instance tasks (or only not)"
    )
    filters.add_argument(
        "--page-length", type=_positive, default=100, metavar="N", help="tasks per request"
    )
    add_connection_options(tasks)


def _positive(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return int(text)


def task_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``iter_tasks`` that the flags give (None: not given)."""
    given: dict[str, Any] = {
        keyword: getattr(args, flag[2:].replace("-", "_"))
        for flag, (keyword, _text) in TASK_FILTERS.items()
    }
    given["tags"] = args.tag
    given["instance"] = None if args.instance is None else args.instance == "true"
    return {keyword: value for keyword, value in given.items() if value is not None}


async def cmd_tasks(args: argparse.Namespace, client: WorkflowClient) -> int:
    filters = task_filters(args)
    async with client:
        tasks = client.iter_tasks(
            workflow_run_id=args.run_id, page_length=args.page_length, **filters
        )
        async for task in tasks:
            sys.stdout.write(to_json(task) + "\n")
    sys.stdout.flush()
    return 0
