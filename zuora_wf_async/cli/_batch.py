"""``zuora-wf batch``: one run per input row, journaled so that a re-run resumes.

Each row's Idempotency-Key is ``derive_key("zuora-wf", [batch_id,] workflow_id, row
number, canonical JSON of the row)``: the same on every machine and every re-run, and
different for an edited row (so an edit is a new run, never a 422 for a reused key).
The row number is part of it so that two identical rows are two runs, as the file says.
On a resume the key recorded in the journal is used as it is; a row with no journal line
gets its derived key, which is the key it would have had. Zuora keeps keys for 24 hours,
so resume within a day: after that a row that was in flight may run again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from zuora_wf_async import (
    BadRequestError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    MissingParametersError,
    NotFoundError,
    RetryEvent,
    RunOutcome,
    RunRequest,
    WorkflowClient,
    WorkflowIdIsRunError,
    derive_key,
)

from ._inputs import InputFile, Row, canonical_json, open_input
from ._journal import Header, Journal, JournalState
from ._render import Tally, live_progress, table
from ._settle import settle

__all__ = ["BatchOptions", "dry_run", "row_key", "run_batch"]

SHOWN_FAILURES = 10
KEY_LIFETIME = timedelta(hours=24)  # Zuora's idempotency window
# Zuora judged these requests and created no run; it stores the answer under the key and
# replays it, so --retry-failed sends such a row under a new key. Every other failure
# (no answer, 5xx, 429, a key still in progress) may hide a run: same key.
REFUSALS = (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    MissingParametersError,
    WorkflowIdIsRunError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
)


@attrs.frozen(kw_only=True)
class BatchOptions:
    workflow_id: int
    input: Path
    journal: Path | None
    concurrency: int = 32
    wait: bool = False
    wait_timeout: float | None = 3600.0
    retry_failed: bool = False
    batch_id: str | None = None


def row_key(workflow_id: int, batch_id: str | None, row: Row) -> str:
    assert row.params is not None  # noqa: S101 -- bad rows are never sent
    namespace = ("zuora-wf", batch_id) if batch_id else ("zuora-wf",)
    return derive_key(*namespace, workflow_id, row.number, canonical_json(row.params))


def dry_run(options: BatchOptions, out: Console) -> int:
    """Check every row as the client would, send nothing; 1 if any row is bad."""
    source = open_input(options.input)
    rows = problems = 0
    for row in source.rows():
        rows += 1
        if row.problem is not None:
            problems += 1
            out.print(f"row {row.number}: {row.problem}", markup=False)
    verdict = f"{problems} bad row(s)" if problems else "every row is valid"
    out.print(f"dry run: {rows} row(s) checked, {verdict}; nothing was sent", markup=False)
    return 1 if problems else 0


@attrs.define
class _Failures:
    """Failure reasons by count, and the first few rows, for the summary."""

    reasons: Counter[str] = attrs.field(factory=Counter)
    first: list[str] = attrs.field(factory=list)

    def add(self, row: int, reason: str, message: str) -> None:
        self.reasons[reason] += 1
        if len(self.first) < SHOWN_FAILURES:
            self.first.append(f"row {row}: {reason}: {message}")


class _Batch:
    """One batch run: the input generator, the outcome recorder and the summary."""

    def __init__(self, options: BatchOptions, source: InputFile, journal: Journal) -> None:
        self.options = options
        self.source = source
        self.journal = journal
        self.tally = Tally()
        self.failures = _Failures()
        self.ok_now = self.ok_before = 0
        self.sent: dict[int, tuple[int, str]] = {}  # stream index -> (row, key), in flight

    def items(self, state: JournalState) -> Iterator[RunRequest]:
        """Rows still to send, each journaled as ``started`` just before it is handed out.

        ``iter_runs`` reads this generator only as slots free up, so ``started`` lines
        trail the requests actually in flight by at most the window, and memory stays
        flat however long the input is.
        """
        index = 0
        for row in self.source.rows():
            number = row.number
            if number in state.ok:
                self.ok_before += 1
                self.tally.done += 1
                self.tally.skipped += 1
                continue
            if number in state.failed and not self.options.retry_failed:
                self.tally.done += 1
                self.tally.failed += 1
                self.tally.skipped += 1
                self.failures.add(number, "failed in an earlier run", "see the journal")
                continue
            if row.problem is not None or row.params is None:
                problem = row.problem or "no parameters"
                self.journal.event(number, "failed", key=None, error="InvalidRow", message=problem)
                self._count_failure(number, "InvalidRow", problem)
                continue
            key = state.key_for(number) or row_key(
                self.options.workflow_id, self.options.batch_id, row
            )
            self.journal.event(number, "started", key=key)
            self.sent[index] = (number, key)
            index += 1
            yield RunRequest(params=row.params, idempotency_key=key)

    def _count_failure(self, row: int, reason: str, message: str) -> None:
        self.tally.done += 1
        self.tally.failed += 1
        self.failures.add(row, reason, message)

    def record(self, outcome: RunOutcome) -> int:
        number, key = self.sent.pop(outcome.index)
        timing = {"attempts": outcome.attempts, "elapsed": round(outcome.elapsed, 3)}
        if outcome.run is not None and outcome.error is None:
            run = outcome.run
            self.journal.event(
                number,
                "ok",
                key=key,
                run_id=run.id,
                run_name=run.name,
                status=str(run.status),
                **timing,
            )
            self.ok_now += 1
            self.tally.done += 1
            return number
        error = outcome.error
        reason = type(error).__name__
        self.journal.event(
            number,
            "failed",
            key=key,
            error=reason,
            status=getattr(error, "status", None),
            message=str(error),
            request_id=getattr(error, "request_id", None),
            **timing,
            retry_with="new-key" if isinstance(error, REFUSALS) else "same-key",
        )
        self._count_failure(number, reason, str(error))
        return number

    def summary(self, out: Console, elapsed: float, settled: Counter[str] | None) -> None:
        failed = sum(self.failures.reasons.values())
        reasons = ", ".join(f"{name} {n}" for name, n in self.failures.reasons.most_common())
        rows: list[tuple[str, str]] = [
            ("rows", f"{self.tally.done}"),
            ("ok", f"{self.ok_now + self.ok_before} ({self.ok_before} from earlier runs)"),
            ("failed", f"{failed}" + (f" ({reasons})" if reasons else "")),
            ("retries", f"{self.tally.retries}"),
            ("elapsed", f"{elapsed:.2f} s"),
        ]
        if settled is not None:
            outcome = ", ".join(f"{name} {n}" for name, n in sorted(settled.items()))
            rows.append(("runs settled", outcome or "none"))
        out.print(table(f"zuora-wf batch {self.options.workflow_id}", rows))
        for line in self.failures.first:
            out.print(line, markup=False)
        if failed > len(self.failures.first):
            out.print(f"... and {failed - len(self.failures.first)} more", markup=False)


def _stale(state: JournalState) -> int:
    """Rows in flight whose ``started`` is older than Zuora's 24-hour key lifetime."""
    limit = datetime.now(UTC) - KEY_LIFETIME
    return sum(
        1 for _key, at in state.in_flight.values() if at and datetime.fromisoformat(at) < limit
    )


async def run_batch(
    options: BatchOptions,
    make_client: Callable[..., WorkflowClient],
    out: Console,
    *,
    tool: str,
    on_record: Callable[[dict[str, Any]], object] | None = None,
) -> int:
    """Send every row not yet final in the journal; 0 only if every row succeeded."""
    assert options.journal is not None  # noqa: S101 -- argparse requires it without --dry-run
    source = open_input(options.input)
    header = Header(
        workflow_id=options.workflow_id,
        input=str(options.input),
        input_sha256=source.sha256,
        batch_id=options.batch_id,
        tool=tool,
    )
    batch: _Batch | None = None

    def count_retry(_event: RetryEvent) -> None:
        if batch is not None:
            batch.tally.retries += 1

    # The client first: missing credentials must not leave a journal behind.
    client = make_client(max_concurrency=options.concurrency, on_retry=count_retry)
    journal, state, resumed = Journal.open(options.journal, header, on_record=on_record)
    batch = _Batch(options, source, journal)
    settled: Counter[str] | None = None
    started = time.perf_counter()
    try:
        batch.tally.total = source.count()
        if resumed:
            out.print(
                f"resuming {options.journal}: {len(state.ok)} ok, {len(state.failed)} failed, "
                f"{len(state.in_flight)} in flight (re-sent with their recorded keys)",
                markup=False,
            )
            stale = _stale(state)
            if stale:
                out.print(
                    f"warning: {stale} row(s) were in flight over 24 hours ago; Zuora may have "
                    "forgotten their keys, so if those runs were created they will run again",
                    markup=False,
                )
        async with client:
            async with (
                live_progress(out, "batch", batch.tally),
                client.iter_runs(options.workflow_id, batch.items(state)) as stream,
            ):
                async for outcome in stream:
                    number = batch.record(outcome)
                    if outcome.run is not None:
                        state.ok[number] = outcome.run.id
            if options.wait:
                settled = await settle(client, journal, state, out, timeout=options.wait_timeout)
    finally:
        journal.close()
    batch.summary(out, time.perf_counter() - started, settled)
    all_ok = not batch.failures.reasons
    if settled is not None:
        all_ok = all_ok and set(settled) <= {"succeeded"}
    return 0 if all_ok else 1
