"""The batch's flags, and the operator commands that read a journal: ``report`` and ``stop``.

``zuora-wf batch report JOURNAL`` reads a journal (without its lock, so beside a live
batch too) and prints counts, failures grouped by error and the slowest rows, or with
``--format csv|jsonl`` one line per row with its final outcome. ``zuora-wf batch stop
JOURNAL`` takes the journal's lock (so no batch is starting runs meanwhile), asks Zuora
for each run the journal started and has not seen end, and stops those still Queued or
Processing, journaling each answer. The journal's format is described in
:mod:`zuora_wf_async._journal`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import heapq
import json
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import attrs

from zuora_wf_async import WorkflowClient, ZuoraError
from zuora_wf_async._journal import BatchJournal, JournalBusyError, read_journal

from ._config import UsageError, add_connection_options, add_tuning_options

__all__ = ["JOURNAL_COMMANDS", "add_batch_options", "journal_parser"]

SLOWEST = 10
EXAMPLES = 5  # rows named per failure group
ACTIVE = ("Queued", "Processing")
COLUMNS = (
    "key",
    "row",
    "id",
    "outcome",
    "run_id",
    "run_name",
    "error",
    "message",
    "retry_with",
    "attempts",
    "elapsed",
    "at",
    "ended",
)


def _positive(kind: type[int] | type[float], minimum: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {text}")
        return value

    return parse


def add_batch_options(batch: argparse.ArgumentParser) -> None:
    """The flags of ``zuora-wf batch WORKFLOW_ID``."""
    batch.add_argument("workflow_id", type=_positive(int, 1), metavar="WORKFLOW_ID")
    batch.add_argument(
        "--input",
        type=Path,
        required=True,
        metavar="PATH",
        help="rows of parameters: a .jsonl or .csv file",
    )
    batch.add_argument(
        "--journal",
        type=Path,
        metavar="PATH",
        help="JSONL journal; re-running the command resumes from it (one process at a time)",
    )
    keys = batch.add_argument_group(
        "keys",
        "each row's Idempotency-Key comes from what the row is, never its position: by "
        "default the workflow id and the whole row; rows with one key are one run",
    )
    keys.add_argument(
        "--key-column",
        action="append",
        metavar="COL",
        help="a column that identifies a row's run, e.g. accountId (repeatable)",
    )
    keys.add_argument(
        "--key-template",
        metavar="TEMPLATE",
        help='the identity of a row\'s run from its columns, e.g. "{accountId}:{cycle}"',
    )
    keys.add_argument(
        "--batch-id", metavar="NAME", help="part of every key: a new name runs the same rows again"
    )
    batch.add_argument("--wait", action="store_true", help="wait for every run to end")
    batch.add_argument(
        "--wait-timeout",
        type=_positive(float, 0),
        default=3600.0,
        help="per run, with --wait (3600 s)",
    )
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="check every row and list rows sharing a key; send nothing",
    )
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-send rows the journal records as failed (same key when the run may exist)",
    )
    add_tuning_options(batch)


def journal_parser(
    parser_class: type[argparse.ArgumentParser], name: str
) -> argparse.ArgumentParser:
    """The parser of ``zuora-wf batch report`` or ``zuora-wf batch stop``."""
    parser = parser_class(prog=f"zuora-wf batch {name}")
    parser.set_defaults(command=f"batch {name}")
    parser.add_argument("journal", type=Path, metavar="JOURNAL")
    if name == "report":
        parser.description = "What a batch journal records: counts, failures, slowest rows."
        parser.add_argument(
            "--format",
            choices=("text", "csv", "jsonl"),
            default="text",
            help="text: a summary (default); csv/jsonl: every row's final outcome",
        )
        return parser
    parser.description = (
        "Stop every run the journal started that is still Queued or Processing. Takes the "
        "journal's lock: stop the batch process first."
    )
    parser.add_argument(
        "--deactivate",
        action="store_true",
        help="first switch the journal's workflow off (status Inactive): nothing new starts",
    )
    add_connection_options(parser)
    return parser


# -- report --------------------------------------------------------------------------------


@attrs.define
class _Row:
    """What the journal says about one key, as it stands after the last line read."""

    row: int | None = None
    id: str | None = None
    outcome: str = "in flight"
    run_id: int | None = None
    run_name: str | None = None
    error: str | None = None
    message: str | None = None
    retry_with: str | None = None
    attempts: int | None = None
    elapsed: float | None = None
    at: str | None = None


@attrs.define
class _Report:
    header: dict[str, Any] = attrs.field(factory=dict)
    rows: dict[str, _Row] = attrs.field(factory=dict)
    invalid: list[_Row] = attrs.field(factory=list)  # rows that had no key
    ended: dict[int, str] = attrs.field(factory=dict)  # run id -> how it ended
    stops: Counter[str] = attrs.field(factory=Counter)

    def read(self, path: Path) -> None:
        for number, record in read_journal(path):
            if number == 1:
                self.header = record
            else:
                self._apply(record)

    def _apply(self, record: dict[str, Any]) -> None:
        kind = record["event"]
        if kind == "settled":
            self.ended[record["run_id"]] = (
                "succeeded" if record["succeeded"] else f"{record.get('status')}, not succeeded"
            )
            return
        if kind == "stopped":
            self.stops["stopped" if record["success"] else "stop declined"] += 1
            if record["success"]:
                self.ended[record["run_id"]] = "stopped by batch stop"
            return
        if kind == "wait_failed":
            self.ended.setdefault(record["run_id"], f"wait failed: {record['error']}")
            return
        key = record.get("key")
        row = _Row() if key is None else self.rows.setdefault(key, _Row())
        if key is None:
            self.invalid.append(row)
        row.row = record.get("row", row.row)
        row.id = record.get("id", row.id)
        if kind == "started":
            row.outcome = "in flight"
            return
        row.outcome = kind
        row.at = record["at"]
        row.attempts = record.get("attempts")
        row.elapsed = record.get("elapsed")
        if kind == "ok":
            row.run_id, row.run_name = record["run_id"], record.get("run_name")
            row.error = row.message = row.retry_with = None
        else:
            row.error, row.message = record["error"], record.get("message")
            row.retry_with = record.get("retry_with")

    def every_row(self) -> Iterable[tuple[str | None, _Row]]:
        yield from self.rows.items()
        for row in self.invalid:
            yield None, row

    def as_dict(self, key: str | None, row: _Row) -> dict[str, Any]:
        fields = attrs.asdict(row)
        ended = self.ended.get(row.run_id) if row.run_id is not None else None
        return {"key": key, **fields, "ended": ended}


def _summary(report: _Report, path: Path, out: TextIO) -> int:
    header = report.header
    outcomes = Counter(row.outcome for _, row in report.every_row())
    total = sum(outcomes.values())
    out.write(
        f"journal {path}: workflow {header.get('workflow_id')}, keys by "
        f"{header.get('key_scheme')}, batch id {header.get('batch_id')}, begun "
        f"{header.get('at')} by {header.get('tool')}\n"
    )
    parts = ", ".join(f"{name} {outcomes[name]}" for name in ("ok", "failed", "in flight"))
    out.write(f"rows: {total} ({parts})\n")
    if report.ended or report.stops:
        ended = Counter(report.ended.values())
        waited = ", ".join(f"{name} {n}" for name, n in ended.most_common())
        out.write(f"runs ended: {waited or 'none'}\n")
    if report.stops:
        out.write("batch stop: " + ", ".join(f"{k} {n}" for k, n in report.stops.items()) + "\n")
    groups: dict[str, list[_Row]] = {}
    for _, row in report.every_row():
        if row.outcome == "failed":
            groups.setdefault(row.error or "?", []).append(row)
    if groups:
        out.write("failures by error:\n")
        for error, rows in sorted(groups.items(), key=lambda item: -len(item[1])):
            named = ", ".join(str(row.row) for row in rows[:EXAMPLES])
            more = ", ..." if len(rows) > EXAMPLES else ""
            retry = Counter(row.retry_with for row in rows if row.retry_with)
            hint = f"; retry with {', '.join(retry)}" if retry else ""
            out.write(f"  {error}: {len(rows)} (rows {named}{more}{hint})\n")
            out.write(f"    e.g. {rows[0].message}\n")
    timed = ((row.elapsed, key, row) for key, row in report.every_row() if row.elapsed is not None)
    slowest = heapq.nlargest(SLOWEST, timed, key=lambda item: item[0])
    if slowest:
        out.write("slowest rows:\n")
        for elapsed, key, row in slowest:
            out.write(
                f"  row {row.row}: {elapsed:.3f} s, {row.attempts} attempt(s), "
                f"{row.outcome}, key {key}\n"
            )
    return 0


async def cmd_report(args: argparse.Namespace, _make_client: Callable[..., Any]) -> int:
    report = _Report()
    report.read(args.journal)
    if not report.header:
        raise UsageError(f"{args.journal} is empty: no header line")
    out = sys.stdout
    if args.format == "text":
        code = _summary(report, args.journal, out)
    elif args.format == "jsonl":
        for key, row in report.every_row():
            out.write(json.dumps(report.as_dict(key, row), ensure_ascii=False) + "\n")
        code = 0
    else:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for key, row in report.every_row():
            writer.writerow(report.as_dict(key, row))
        code = 0
    out.flush()
    return code


# -- stop ----------------------------------------------------------------------------------


def _open_locked(path: Path) -> BatchJournal:
    header: dict[str, Any] | None = None
    for _number, record in read_journal(path):
        header = record
        break
    if header is None:
        raise UsageError(f"{path} is empty or missing: no header line")
    try:
        return BatchJournal.open(
            path,
            workflow_id=header["workflow_id"],
            key_scheme=header["key_scheme"],
            batch_id=header.get("batch_id"),
        )
    except JournalBusyError as exc:
        raise UsageError(f"{exc}; stop that batch before its runs") from None


async def _stop_one(
    client: WorkflowClient, journal: BatchJournal, run_id: int, tally: Counter[str]
) -> None:
    try:
        detail = await client.get_run(run_id)
        status = str(detail.status)
        if status not in ACTIVE:
            if detail.is_terminal:
                journal.settled(run_id, status, detail.succeeded)
            tally[f"already {status}"] += 1
            return
        success = await client.stop_run(run_id)
    except ZuoraError as exc:
        tally[f"error: {type(exc).__name__}"] += 1
        return
    journal.stopped(run_id, success, status)
    tally["stopped" if success else f"stop declined ({status})"] += 1


async def _deactivate(client: WorkflowClient, workflow_id: int, tally: Counter[str]) -> None:
    try:
        # Setting Inactive twice is harmless, so a key that lets the PATCH be retried is safe.
        await client.update_workflow(
            workflow_id, status="Inactive", idempotency_key=str(uuid.uuid4())
        )
    except ZuoraError as exc:
        tally[f"error: deactivate failed: {type(exc).__name__}"] += 1
        return
    sys.stdout.write(f"workflow {workflow_id} is now Inactive: no new run starts\n")


async def cmd_stop(args: argparse.Namespace, make_client: Callable[..., WorkflowClient]) -> int:
    client = make_client()
    journal = _open_locked(args.journal)
    tally: Counter[str] = Counter()
    try:
        run_ids = journal.unsettled_runs()
        in_flight = journal.counts["in_flight"]
        async with client:
            if args.deactivate:
                await _deactivate(client, journal.header["workflow_id"], tally)
            gate = asyncio.Semaphore(client.max_concurrency)

            async def stop(run_id: int) -> None:
                async with gate:
                    await _stop_one(client, journal, run_id, tally)

            # Chunks bound the tasks alive at once for a journal of a million runs.
            for start in range(0, len(run_ids), 1000):
                await asyncio.gather(*(stop(run_id) for run_id in run_ids[start : start + 1000]))
    finally:
        journal.close()
    parts = ", ".join(f"{name} {n}" for name, n in sorted(tally.items())) or "nothing to stop"
    sys.stdout.write(f"batch stop {args.journal}: {len(run_ids)} run(s) checked: {parts}\n")
    if in_flight:
        sys.stdout.write(
            f"{in_flight} row(s) were in flight with no run id recorded: if Zuora started "
            "them, find them with zuora-wf tasks or in Zuora's workflow run list\n"
        )
    sys.stdout.flush()
    return 1 if any(name.startswith("error") for name in tally) else 0


JOURNAL_COMMANDS: Mapping[
    str, Callable[[argparse.Namespace, Callable[..., Any]], Awaitable[int]]
] = {"batch report": cmd_report, "batch stop": cmd_stop}
