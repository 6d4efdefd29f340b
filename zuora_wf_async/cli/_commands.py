"""``run``, ``get``, ``wait``, ``stop``, ``tasks``: one call each, printed as JSON.

Records print as one JSON object per line with the client's field names (snake_case),
timestamps in ISO-8601 and statuses as Zuora spells them, so the output feeds ``jq``.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from zuora_wf_async import WorkflowClient

from ._config import UsageError
from ._settle import ending, exit_code

__all__ = ["cmd_get", "cmd_run", "cmd_stop", "cmd_tasks", "cmd_wait", "parse_params", "to_json"]


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
            run.id, timeout=args.timeout, until_pending=args.until_pending
        )
    _emit(detail)
    return exit_code([ending(detail)])


async def cmd_get(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        detail = await client.get_run(args.run_id)
    _emit(detail)
    return 0


async def cmd_wait(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        detail = await client.wait_for_run(
            args.run_id, timeout=args.timeout, until_pending=args.until_pending
        )
    _emit(detail)
    return exit_code([ending(detail)])


async def cmd_stop(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        stopping = await client.stop_run(args.run_id)
    sys.stdout.write(json.dumps({"run_id": args.run_id, "success": stopping}) + "\n")
    return 0 if stopping else 1


async def cmd_tasks(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        async for task in client.iter_tasks(workflow_run_id=args.run_id):
            sys.stdout.write(to_json(task) + "\n")
    sys.stdout.flush()
    return 0
