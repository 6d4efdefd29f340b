"""``zuora-wf batch stop JOURNAL``: stop the runs a batch started and has not seen end.

It takes the journal's lock (so no batch is starting runs meanwhile), asks Zuora for each
run the journal started and has not seen end, stops those still Queued or Processing, and
journals each answer; ``--deactivate`` first sets the workflow Inactive, so nothing new
starts. ``batch report`` and the batch's flags are in ``_journal``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zuora_wf_async import WorkflowClient, ZuoraError
from zuora_wf_async._batch.journal import BatchJournal, JournalBusyError
from zuora_wf_async._batch.journal_lines import read_journal

from ._config import UsageError

__all__ = ["cmd_stop"]

ACTIVE = ("Queued", "Processing")


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
