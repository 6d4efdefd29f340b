"""The batch's flags, and the operator commands that read a journal: ``report`` and ``stop``
(``stop`` itself is in ``_batch_stop``).

``zuora-wf batch report JOURNAL`` reads a journal (without its lock, so beside a live
batch too) and prints counts, failures grouped by error and the slowest rows, or with
``--format csv|jsonl`` one line per row with its final outcome. ``zuora-wf batch stop
JOURNAL`` takes the journal's lock (so no batch is starting runs meanwhile), asks Zuora
for each run the journal started and has not seen end, and stops those still Queued or
Processing, journaling each answer. The journal's format is described in
:mod:`zuora_wf_async._batch.journal_lines`.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import attrs

from zuora_wf_async._batch.journal import key_digest
from zuora_wf_async._batch.journal_lines import read_journal

from ._batch_stop import cmd_stop
from ._config import UsageError, add_connection_options, add_tuning_options, number_argument

__all__ = ["JOURNAL_COMMANDS", "add_batch_options", "journal_parser"]

SLOWEST = 10
EXAMPLES = 5  # rows named per failure group
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


def add_batch_options(batch: argparse.ArgumentParser) -> None:
    """The flags of ``zuora-wf batch WORKFLOW_ID``."""
    batch.add_argument("workflow_id", type=number_argument(int, 1), metavar="WORKFLOW_ID")
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
        "--until-pending",
        action="store_true",
        help="with --wait, stop waiting on a run once it is pending (exit 4 if any is)",
    )
    batch.add_argument(
        "--wait-timeout",
        type=number_argument(float, 0),
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
    batch.add_argument(
        "--no-preflight",
        dest="preflight",
        action="store_false",
        help="skip checking once, before the first row, that the workflow is Active and "
        "its Callout trigger on",
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
#
# Memory stays near 100 bytes per key at a million: one pass keeps, per key digest, the
# line number of its last started/ok/failed event; details are kept only for rows failed
# now and for the slowest few. ``--format csv|jsonl`` reads the file a second time and
# prints the lines that pass found last.

ROW_EVENTS = ("started", "ok", "failed")
OUTCOMES = ("in flight", "ok", "failed")
CODES = {"in flight": 0, "ok": 1, "failed": 2}


@attrs.define
class _Failed:
    row: int | None
    error: str
    message: str | None
    retry_with: str | None


@attrs.define
class _Report:
    header: dict[str, Any] = attrs.field(factory=dict)
    # key digest -> 4 * the line of its last event + the outcome's code (CODES)
    last: dict[bytes, int] = attrs.field(factory=dict)
    outcomes: Counter[str] = attrs.field(factory=Counter)  # by the last event, kept current
    failed: dict[bytes, _Failed] = attrs.field(factory=dict)  # rows whose last event failed
    # Rows that had no key, by row number: each resume fails them again, count them once.
    keyless: dict[int | None, _Failed] = attrs.field(factory=dict)
    ended: dict[int, str] = attrs.field(factory=dict)  # run id -> how it ended
    stops: Counter[str] = attrs.field(factory=Counter)
    slowest: list[tuple[float, int, str, int | None, int | None, str]] = attrs.field(
        factory=list
    )  # a heap of (elapsed, line, outcome, row, attempts, key)

    def read(self, path: Path) -> None:
        for number, record in read_journal(path):
            if number == 1:
                self.header = record
            else:
                self._apply(number, record)

    def _apply(self, number: int, record: dict[str, Any]) -> None:
        kind = record["event"]
        if kind not in ROW_EVENTS:
            self._apply_run(record)
            return
        outcome = "in flight" if kind == "started" else kind
        key = record.get("key")
        failure = None
        if kind == "failed":
            failure = _Failed(
                record.get("row"), record["error"], record.get("message"), record.get("retry_with")
            )
        if key is None:
            if failure is not None:
                self.outcomes["failed"] += failure.row not in self.keyless
                self.keyless[failure.row] = failure
            return
        digest = key_digest(key)
        previous = self.last.get(digest)
        if previous is not None:
            self.outcomes[OUTCOMES[previous & 3]] -= 1
        self.last[digest] = number * 4 + CODES[outcome]
        self.outcomes[outcome] += 1
        if failure is not None:
            self.failed[digest] = failure
        else:
            self.failed.pop(digest, None)
        self._note_time(number, record, outcome, key)

    def _note_time(self, number: int, record: dict[str, Any], outcome: str, key: str) -> None:
        elapsed = record.get("elapsed")
        if not isinstance(elapsed, int | float) or isinstance(elapsed, bool):
            return
        entry = (float(elapsed), number, outcome, record.get("row"), record.get("attempts"), key)
        if len(self.slowest) < SLOWEST:
            heapq.heappush(self.slowest, entry)
        elif entry[0] > self.slowest[0][0]:
            heapq.heapreplace(self.slowest, entry)

    def _apply_run(self, record: dict[str, Any]) -> None:
        kind, run_id = record["event"], record["run_id"]
        if kind == "settled":
            if record["succeeded"]:
                self.ended[run_id] = "succeeded"
            elif record.get("ending") == "pending":
                self.ended[run_id] = "pending"
            else:
                self.ended[run_id] = f"{record.get('status')}, not succeeded"
        elif kind == "stopped":
            self.stops["stopped" if record["success"] else "stop declined"] += 1
            if record["success"]:
                self.ended[run_id] = "stopped by batch stop"
        else:  # wait_failed
            self.ended.setdefault(run_id, f"wait failed: {record['error']}")

    def rows(self, path: Path) -> Iterator[dict[str, Any]]:
        """Every row's final outcome, in the order of the lines that decided it."""
        seen: set[int | None] = set()  # keyless rows already printed (the first failure)
        for number, record in read_journal(path):
            if number == 1 or record["event"] not in ROW_EVENTS:
                continue
            key = record.get("key")
            if key is not None and self.last.get(key_digest(key), 0) >> 2 != number:
                continue
            if key is None and (record["event"] != "failed" or record.get("row") in seen):
                continue
            if key is None:
                seen.add(record.get("row"))
            ok = record["event"] == "ok"
            run_id = record.get("run_id") if ok else None
            yield {
                "key": key,
                "row": record.get("row"),
                "id": record.get("id"),
                "outcome": "in flight" if record["event"] == "started" else record["event"],
                "run_id": run_id,
                "run_name": record.get("run_name") if ok else None,
                "error": record.get("error"),
                "message": record.get("message"),
                "retry_with": record.get("retry_with"),
                "attempts": record.get("attempts"),
                "elapsed": record.get("elapsed"),
                "at": record["at"],
                "ended": self.ended.get(run_id) if run_id is not None else None,
            }


def _summary(report: _Report, path: Path, out: TextIO) -> int:
    header = report.header
    outcomes = report.outcomes
    total = sum(outcomes.values())
    batch_id = header.get("batch_id")
    named = "no batch id" if batch_id is None else f"batch id {batch_id}"
    out.write(
        f"journal {path}: workflow {header.get('workflow_id')}, keys by "
        f"{header.get('key_scheme')}, {named}, begun "
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
    groups: dict[str, list[_Failed]] = {}
    for failure in [*report.failed.values(), *report.keyless.values()]:
        groups.setdefault(failure.error, []).append(failure)
    if groups:
        out.write("failures by error:\n")
        for error, rows in sorted(groups.items(), key=lambda item: -len(item[1])):
            rows.sort(key=lambda failure: failure.row or 0)
            named = ", ".join(str(failure.row) for failure in rows[:EXAMPLES])
            more = ", ..." if len(rows) > EXAMPLES else ""
            retry = Counter(failure.retry_with for failure in rows if failure.retry_with)
            hint = f"; retry with {', '.join(retry)}" if retry else ""
            out.write(f"  {error}: {len(rows)} (rows {named}{more}{hint})\n")
            out.write(f"    e.g. {rows[0].message}\n")
    if report.slowest:
        out.write("slowest rows:\n")
        for elapsed, _line, outcome, row, attempts, key in sorted(report.slowest, reverse=True):
            out.write(
                f"  row {row}: {elapsed:.3f} s, {attempts} attempt(s), {outcome}, key {key}\n"
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
        for record in report.rows(args.journal):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        code = 0
    else:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for record in report.rows(args.journal):
            writer.writerow(record)
        code = 0
    out.flush()
    return code


JOURNAL_COMMANDS: Mapping[
    str, Callable[[argparse.Namespace, Callable[..., Any]], Awaitable[int]]
] = {"batch report": cmd_report, "batch stop": cmd_stop}
