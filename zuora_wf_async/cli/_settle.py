"""``--wait`` for a batch: follow every started run to its end, journaling each ending."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from typing import TYPE_CHECKING

from zuora_wf_async import WorkflowClient, ZuoraError

from ._journal import Journal, JournalState

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
    journal: Journal,
    state: JournalState,
    out: Console,
    *,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT,
) -> Counter[str]:
    """Wait for every ``ok`` run not yet settled; how the runs ended, by kind."""
    endings: Counter[str] = Counter()
    for row, succeeded in state.settled.items():
        if row in state.ok:
            endings["succeeded" if succeeded else "did not succeed (earlier run)"] += 1
    todo = iter([(row, run_id) for row, run_id in state.ok.items() if row not in state.settled])
    total = len(state.ok) - len(state.settled)
    if total:
        out.print(f"waiting for {total} run(s) to end ...", markup=False)
    while chunk := list(islice(todo, CHUNK)):
        results = await client.wait_for_runs(
            [run_id for _, run_id in chunk], timeout=timeout, return_exceptions=True
        )
        for (row, run_id), result in zip(chunk, results, strict=True):
            if isinstance(result, ZuoraError):
                error = type(result).__name__
                journal.event(row, "wait_failed", run_id=run_id, error=error, message=str(result))
                endings[f"wait failed: {type(result).__name__}"] += 1
                continue
            status = str(result.status)
            journal.event(
                row,
                "settled",
                run_id=run_id,
                status=status,
                succeeded=result.succeeded,
                tasks_error=result.tasks.error,
            )
            state.settled[row] = result.succeeded
            endings[describe(result.succeeded, status)] += 1
    return endings
