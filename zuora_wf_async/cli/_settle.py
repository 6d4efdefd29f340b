"""``--wait`` for a batch: follow every started run to its end, journaling each ending."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from typing import TYPE_CHECKING

from zuora_wf_async import WorkflowClient, ZuoraError
from zuora_wf_async._journal import BatchJournal

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["describe", "settle"]

# Runs waited for together. wait_for_runs bounds the polls in flight by itself; chunks only
# bound the memory of a batch with a million runs to settle.
CHUNK = 1000
DEFAULT_WAIT_TIMEOUT = 3600.0


def describe(succeeded: bool, status: str) -> str:
    """How a run ended, in the words of the summary."""
    if succeeded:
        return "succeeded"
    if status == "Stopped":
        return "stopped"
    return "finished with failed tasks"


async def settle(
    client: WorkflowClient,
    journal: BatchJournal,
    out: Console,
    *,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT,
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
        results = await client.wait_for_runs(chunk, timeout=timeout, return_exceptions=True)
        for run_id, result in zip(chunk, results, strict=True):
            if isinstance(result, ZuoraError):
                journal.wait_failed(run_id, result)
                endings[f"wait failed: {type(result).__name__}"] += 1
                continue
            status = str(result.status)
            journal.settled(run_id, status, result.succeeded, tasks_error=result.tasks.error)
            endings[describe(result.succeeded, status)] += 1
    return endings
