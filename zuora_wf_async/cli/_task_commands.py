"""``update-tasks FILE`` and ``rerun-failed RUN_ID``: the task commands that act on many.

``update-tasks`` reads updates (Zuora's ``UpdateTask``: ``id`` and the fields to change)
from a ``.json`` file (a list of objects), a ``.jsonl`` file (an object per line) or a
``.csv`` file (a header row naming the fields; an empty cell leaves the field as it is,
``tags`` are separated by ``;``), and sends them with ``update_tasks``, 50 to a request.
Each task Zuora answers with is printed as a JSON line. When a request fails after
others were applied, the tasks updated are still printed, and the one line on stderr
names the ids of the failed request with its error and the ids never sent (exit 1).

``rerun-failed`` reruns every task of a run that is in ``Error`` (``rerun_failed_tasks``):
each key names the failure, so running the command again after a network error
reruns nothing twice, while a task that failed again since is rerun. One JSON line per
task; exit 1 unless every rerun is ``ok``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from zuora_wf_async import (
    InvalidRequestError,
    TaskRerunOutcome,
    TaskUpdateError,
    WorkflowClient,
)

from ._commands import to_json
from ._config import UsageError
from ._exits import FAILED, OK, FailedError
from ._inputs import regular_file

__all__ = ["TASK_COMMANDS", "add_task_commands", "read_updates"]

Handler = Callable[[argparse.Namespace, WorkflowClient], Awaitable[int]]

FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
NUMBER_COLUMNS = ("id", "concurrent_limit", "workflow_id")  # CSV text sent as a number
_ENTRY = re.compile(r"^updates\[(\d+)\]")


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive id, got {text!r}")
    return int(text)


def add_task_commands(
    commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``update-tasks`` and ``rerun-failed``."""
    update = commands.add_parser(
        "update-tasks", help="update tasks from a .json, .jsonl or .csv file (50 per request)"
    )
    update.add_argument(
        "file", type=Path, metavar="FILE", help="updates: id and the fields to change"
    )
    rerun = commands.add_parser(
        "rerun-failed", help="rerun every failed task of a run, once per failure"
    )
    rerun.add_argument("run_id", type=_id, metavar="RUN_ID")
    rerun.add_argument(
        "--attempt",
        metavar="NAME",
        help="name this attempt in the keys instead of each failure's end time",
    )
    add_connection_options(update)
    add_connection_options(rerun)


# -- reading the updates ---------------------------------------------------------------


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"{where}: nested too deeply to read") from None
    except ValueError as exc:  # not JSON, or a number past the digit limit
        raise UsageError(f"{where}: not JSON ({exc})") from None


def _csv_updates(text: str, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    updates: list[dict[str, Any]] = []
    places: list[str] = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            place = f"line {reader.line_num}"
            if None in row:
                raise UsageError(f"{path} {place}: more values than the header has columns")
            update: dict[str, Any] = {}
            for column, cell in row.items():
                if cell is None or not cell.strip():
                    continue  # an empty cell: the field is left as Zuora has it
                value: Any = cell.strip()
                if column in NUMBER_COLUMNS and value.isascii() and value.isdigit():
                    value = int(value) if len(value) <= 18 else value  # refused by the client
                elif column == "tags":
                    value = [tag.strip() for tag in value.split(";") if tag.strip()]
                update[str(column)] = value
            updates.append(update)
            places.append(place)
    except csv.Error as exc:
        raise UsageError(f"{path} line {reader.line_num}: {exc}") from None
    return updates, places


def read_updates(path: Path) -> tuple[list[Any], list[str]]:
    """The updates in ``path``, and where each one is (``"line 3"``, ``"entry 2"``)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path}: name the file .json, .jsonl or .csv to say its format")
    regular_file(path, "FILE", must_exist=True)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    if kind == "csv":
        return _csv_updates(text, path)
    if kind == "jsonl":
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        loaded = [_loads(line, f"{path} line {n}") for n, line in numbered]
        return loaded, [f"line {n}" for n, _ in numbered]
    document = _loads(text, str(path))
    if not isinstance(document, list):
        raise UsageError(f'{path}: expected a JSON list of updates, like [{{"id": 2771}}]')
    return document, [f"entry {n}" for n in range(1, len(document) + 1)]


def _placed(exc: InvalidRequestError, path: Path, places: list[str]) -> UsageError:
    """The client's message, with the file's line or entry for ``updates[i]``."""
    found = _ENTRY.match(exc.field)
    if found and int(found[1]) < len(places):
        return UsageError(f"{path} {places[int(found[1])]}: {exc}")
    return UsageError(f"{path}: {exc}")


# -- the commands ---------------------------------------------------------------------------


def _ids(ids: tuple[int, ...]) -> str:
    return json.dumps(list(ids))


async def _update_tasks(args: argparse.Namespace, client: WorkflowClient) -> int:
    updates, places = read_updates(args.file)
    async with client:
        try:
            tasks = await client.update_tasks(updates)
        except InvalidRequestError as exc:  # before anything was sent
            raise _placed(exc, args.file, places) from None
        except TaskUpdateError as exc:
            # The tasks of the requests before are updated: print them, and say exactly
            # what failed and what was never sent, so the operator can resend just that.
            for task in exc.updated:
                sys.stdout.write(to_json(task) + "\n")
            sys.stdout.flush()
            raise FailedError(
                f"TaskUpdateError: {len(exc.updated)} task(s) updated; the request for ids "
                f"{_ids(exc.failed_ids)} failed ({type(exc.error).__name__}: {exc.error}); "
                f"never sent: {_ids(exc.unsent_ids)}; may have run: {exc.may_have_run}"
            ) from None
    for task in tasks:
        sys.stdout.write(to_json(task) + "\n")
    sys.stdout.flush()
    return OK


def outcome_json(outcome: TaskRerunOutcome) -> str:
    """One rerun's outcome as a JSON line: ``ok``, the key, the task or the error."""
    error = outcome.error
    data = {
        "task_id": outcome.task_id,
        "ok": outcome.ok,
        "idempotency_key": outcome.idempotency_key,
        "stale_replay": outcome.stale_replay,
        "status": None if outcome.task is None else str(outcome.task.status),
        "error": None if error is None else f"{type(error).__name__}: {error}",
    }
    return json.dumps(data, ensure_ascii=False)


async def _rerun_failed(args: argparse.Namespace, client: WorkflowClient) -> int:
    async with client:
        outcomes = await client.rerun_failed_tasks(args.run_id, attempt=args.attempt)
    for outcome in outcomes:
        sys.stdout.write(outcome_json(outcome) + "\n")
    sys.stdout.flush()
    return OK if all(outcome.ok for outcome in outcomes) else FAILED


TASK_COMMANDS: dict[str, Handler] = {
    "update-tasks": _update_tasks,
    "rerun-failed": _rerun_failed,
}
