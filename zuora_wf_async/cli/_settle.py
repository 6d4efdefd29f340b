"""``--wait`` for a batch: follow every started run to its end, journaling each ending."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING

from zuora_wf_async import WorkflowClient, WorkflowRunDetail, ZuoraError
from zuora_wf_async._batch.journal import BatchJournal

from ._exits import FAILED, OK, PENDING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["describe", "ending", "exit_code", "settle"]

# Runs waited for together. wait_for_runs bounds the polls in flight by itself; chunks only
# bound the memory of a batch with a million runs to settle.
CHUNK = 1000
DEFAULT_WAIT_TIMEOUT = 3600.0


def ending(detail: WorkflowRunDetail) -> str:
    """How a run ended, as the journal records it: ``succeeded``, ``pending`` (tasks wait
    on an approval, a delay or a retry, and none failed: not a failure, not done either),
    ``stopped`` or ``failed``."""
    if detail.succeeded:
        return "succeeded"
    if detail.is_pending and detail.tasks.error == 0 and detail.tasks.stopped == 0:
        return "pending"
    return "stopped" if str(detail.status) == "Stopped" else "failed"


def exit_code(endings: Iterable[str]) -> int:
    """1 if any run failed or stopped, else 4 if any is pending, else 0."""
    found = set(endings)
    if found - {"succeeded", "pending"}:
        return FAILED
    return PENDING if "pending" in found else OK


def describe(succeeded: bool, status: str, *, pending: bool = False) -> str:
    """How a run ended, in the words of the summary."""
    if succeeded:
        return "succeeded"
    if pending:
        return "pending"
    if status == "Stopped":
        return "stopped"
    return "finished with failed tasks"


async def settle(
    client: WorkflowClient,
    journal: BatchJournal,
    out: Console,
    *,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    until_pending: bool = False,
) -> Counter[str]:
    """Wait for every ``ok`` run not yet settled; how the runs ended, by kind.

    Runs that ended before (an earlier ``--wait``) are not polled again; ``batch report``
    tells how they ended.
    """
    endings: Counter[str] = Counter()
    run_ids = journal.unsettled_runs()
    if run_ids:
        out.print(f"waiting for {len(run_ids)} run(s) to end ...", markup=False)
    todo = iter(run_ids)
    while chunk := list(islice(todo, CHUNK)):
        results = await client.wait_for_runs(
            chunk, timeout=timeout, until_pending=until_pending, return_exceptions=True
        )
        for run_id, result in zip(chunk, results, strict=True):
            if isinstance(result, ZuoraError):
                journal.wait_failed(run_id, result)
                endings[f"wait failed: {type(result).__name__}"] += 1
                continue
            status, ended = str(result.status), ending(result)
            journal.settled(
                run_id,
                status,
                result.succeeded,
                ending=ended,
                tasks_error=result.tasks.error,
                tasks_pending=result.tasks.pending,
            )
            endings[describe(result.succeeded, status, pending=ended == "pending")] += 1
    return endings
