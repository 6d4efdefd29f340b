"""``zuora-wf batch``: one run per input row, journaled so that a re-run resumes.

A row's Idempotency-Key comes from what the row *is* (:class:`~._inputs.KeyScheme`): the
values of its ``--key-column``s, its ``--key-template`` filled in, or by default the
workflow id and the canonical JSON of the row. Never its position: inserting, deleting or
reordering rows changes no other row's key, so a resume may use another input file
holding the same rows, and even a new journal for the same rows starts nothing new while
Zuora remembers the keys (24 hours). Rows that share a key are one run (``--dry-run``
lists them). The journal (:class:`zuora_wf_async._batch.journal.BatchJournal`) records the
scheme and refuses a resume under another one, and is locked by one process at a time.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from rich.console import Console

from zuora_wf_async import RetryEvent, RunOutcome, RunRequest, WorkflowClient
from zuora_wf_async._batch.journal import BatchJournal, JournalBusyError

from ._batch_rows import BatchOptions, dry_run, keyed
from ._config import UsageError
from ._exits import FAILED, WriteError, journal_write_error
from ._inputs import (
    InputFile,
    Row,
    check_params,
    open_input,
    regular_file,
)
from ._render import Tally, live_progress, table
from ._settle import exit_code, settle

__all__ = ["BatchOptions", "dry_run", "run_batch"]

SHOWN_FAILURES = 10
KEY_LIFETIME = timedelta(hours=24)  # Zuora's idempotency window
INVALID_ROW = "InvalidRow"


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

    def __init__(self, options: BatchOptions, source: InputFile, journal: BatchJournal) -> None:
        self.options = options
        self.source = source
        self.journal = journal
        self.tally = Tally()
        self.failures = _Failures()
        self.ok_now = self.ok_before = self.duplicates = 0
        self.sent: dict[int, int] = {}  # stream index -> row number, in flight
        # The first journal write that failed. It is raised where it happens, but that may
        # be inside the input generator stream_runs reads, which raises its own error then;
        # run_batch reports this one whatever comes out.
        self.write_error: WriteError | None = None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Journal writes: an ``OSError`` (a full disk) stops the batch, naming the journal."""
        try:
            yield
        except OSError as exc:
            if self.write_error is None:
                self.write_error = journal_write_error(self.journal.path, exc)
            raise self.write_error from exc

    def items(self) -> Iterator[RunRequest]:
        """Rows still to send, each journaled as ``started`` just before it is handed out.

        ``stream_runs`` reads this generator at most its window ahead of the outcomes, so
        ``started`` lines lead the requests actually sent by at most the window, and
        memory stays flat however long the input is.
        """
        index = 0
        for row in self.source.rows():
            request = self._next(row)
            if request is not None:
                self.sent[index] = row.number
                index += 1
                yield request

    def _next(self, row: Row) -> RunRequest | None:
        """The request for ``row``, journaled as started; None when it is not to be sent."""
        number = row.number
        item = keyed(row, self.options.keys)
        if item.key is None:  # unreadable, or no key: nothing to resume, fails each time
            self._fail(number, None, item.problem or "no parameters")
            return None
        plan = self.journal.plan(item.key, retry_failed=self.options.retry_failed)
        if plan.send_key is None:
            self.tally.done += 1
            self.tally.skipped += 1
            if plan.reason == "done":
                self.ok_before += 1
            elif plan.reason == "duplicate":
                self.duplicates += 1
            else:
                self.tally.failed += 1
                self.failures.add(number, "failed in an earlier run", "see the journal")
            return None
        assert row.params is not None  # noqa: S101 -- keyed rows have params
        problem = check_params(row.params)
        if problem is not None:
            self._fail(number, item.key, problem)
            return None
        shown = {} if self.options.keys.by_content else {"id": item.identity}
        with self.writing():
            self.journal.started(item.key, plan.send_key, row=number, **shown)
        return RunRequest(params=row.params, idempotency_key=plan.send_key)

    def _fail(self, number: int, key: str | None, problem: str) -> None:
        with self.writing():
            self.journal.failed(key, INVALID_ROW, message=problem, row=number)
        self._count_failure(number, INVALID_ROW, problem)

    def _count_failure(self, row: int, reason: str, message: str) -> None:
        self.tally.done += 1
        self.tally.failed += 1
        self.failures.add(row, reason, message)

    def record(self, outcome: RunOutcome) -> None:
        number = self.sent.pop(outcome.index)
        with self.writing():
            self.journal.record(outcome, row=number)
        if outcome.run is not None:
            self.ok_now += 1
            self.tally.done += 1
            return
        error = outcome.error
        self._count_failure(number, type(error).__name__, str(error))

    def summary(self, out: Console, elapsed: float, settled: Counter[str] | None) -> None:
        failed = sum(self.failures.reasons.values())
        reasons = ", ".join(f"{name} {n}" for name, n in self.failures.reasons.most_common())
        sent = self.tally.done - self.tally.skipped
        rate = sent / elapsed if elapsed > 0 else 0.0
        rows: list[tuple[str, str]] = [
            ("rows", f"{self.tally.done}"),
            ("ok", f"{self.ok_now + self.ok_before} ({self.ok_before} from earlier runs)"),
            ("failed", f"{failed}" + (f" ({reasons})" if reasons else "")),
            ("retries", f"{self.tally.retries}"),
            ("elapsed", f"{elapsed:.2f} s ({sent} row(s) sent, {rate:,.0f} rows/s)"),
        ]
        if self.duplicates:
            rows.append(("same key as an earlier row", f"{self.duplicates} (not sent)"))
        if settled is not None:
            # Pending is not failure: its own line, and exit code 4 rather than 1.
            ended = {name: n for name, n in settled.items() if name != "pending"}
            outcome = ", ".join(f"{name} {n}" for name, n in sorted(ended.items()))
            rows.append(("runs settled", outcome or "none"))
            if settled["pending"]:
                rows.append(("runs pending", f"{settled['pending']} (tasks waiting, none failed)"))
        out.print(table(f"zuora-wf batch {self.options.workflow_id}", rows))
        for line in self.failures.first:
            out.print(line, markup=False)
        if failed > len(self.failures.first):
            out.print(f"... and {failed - len(self.failures.first)} more", markup=False)


def _stale(journal: BatchJournal) -> int:
    """Rows in flight whose ``started`` is older than Zuora's 24-hour key lifetime."""
    limit = datetime.now(UTC) - KEY_LIFETIME
    return sum(1 for at in journal.in_flight_since() if datetime.fromisoformat(at) < limit)


def open_journal(
    options: BatchOptions,
    *,
    tool: str,
    info: dict[str, Any] | None = None,
    on_record: Callable[[dict[str, Any]], object] | None = None,
) -> BatchJournal:
    """The batch's journal, locked; a busy one is a usage error naming its holder."""
    assert options.journal is not None  # noqa: S101 -- argparse requires it without --dry-run
    regular_file(options.journal, "--journal", must_exist=False)
    try:
        return BatchJournal.open(
            options.journal,
            workflow_id=options.workflow_id,
            key_scheme=options.keys.name,
            batch_id=options.keys.batch_id,
            tool=tool,
            info=info,
            on_record=on_record,
        )
    except JournalBusyError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # the header could not be written
        raise journal_write_error(options.journal, exc) from None


def _announce(journal: BatchJournal, out: Console) -> None:
    # A path may hold a byte that is not UTF-8 ("\udcff"): shown escaped, not a crash.
    path = str(journal.path).encode("utf-8", "backslashreplace").decode("utf-8")
    if journal.dropped_bytes:
        out.print(
            f"{path}: dropped a torn last line ({journal.dropped_bytes} bytes, "
            "written when the process was killed); its row is redone with its key",
            markup=False,
        )
    if not journal.resumed:
        return
    counts = journal.counts
    out.print(
        f"resuming {path}: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['in_flight']} in flight (re-sent with their recorded keys)",
        markup=False,
    )
    stale = _stale(journal)
    if stale:
        out.print(
            f"warning: {stale} row(s) were in flight over 24 hours ago; Zuora may have "
            "forgotten their keys, so if those runs were created they will run again",
            markup=False,
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
    source = open_input(options.input)
    batch: _Batch | None = None

    def count_retry(_event: RetryEvent) -> None:
        if batch is not None:
            batch.tally.retries += 1

    # The client first: missing credentials must not leave a journal behind.
    client = make_client(on_retry=count_retry)
    info = {"input": str(options.input), "input_sha256": source.sha256()}
    journal = open_journal(options, tool=tool, info=info, on_record=on_record)
    batch = _Batch(options, source, journal)
    settled: Counter[str] | None = None
    try:
        _announce(journal, out)
        batch.tally.total = source.count()
        started = batch.tally.started_at = time.perf_counter()
        async with client:
            async with (
                live_progress(out, "batch", batch.tally),
                client.stream_runs(
                    options.workflow_id, batch.items(), preflight=options.preflight
                ) as stream,
            ):
                async for outcome in stream:
                    batch.record(outcome)
            if options.wait:
                with batch.writing():
                    settled = await settle(
                        client,
                        journal,
                        out,
                        timeout=options.wait_timeout,
                        until_pending=options.until_pending,
                    )
    except Exception:
        if batch.write_error is None:
            raise
        raise batch.write_error from None
    finally:
        with batch.writing():
            journal.close()
    batch.summary(out, time.perf_counter() - started, settled)
    if batch.failures.reasons:
        return FAILED
    return exit_code(settled or ())
