"""The decisions of the two task operations that act on many tasks at once: whether a
rerun's answer is a replay of an older rerun (``rerun_failed_tasks``), and what an
``update_tasks`` that failed halfway applied, failed and never sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zuora_wf_async._errors import TaskUpdateError, ZuoraError
from zuora_wf_async._models import Task


def is_stale_replay(failed: Task, answer: Task) -> bool:
    """True when ``answer`` (to a rerun of ``failed``) describes a rerun that started
    before ``failed`` ended: Zuora replayed an earlier rerun stored under the same key, so
    nothing ran now. A rerun of this failure can only start after it ended. Without both
    times there is nothing to compare, and the answer is taken as it is."""
    if answer.start_time is None or failed.end_time is None:
        return False
    return answer.start_time < failed.end_time


def partial_update_error(
    chunks: Sequence[Sequence[Mapping[str, Any]]],
    failed_index: int,
    updated: Sequence[Task],
    error: ZuoraError,
) -> TaskUpdateError:
    """The error for request ``failed_index`` of ``chunks`` failing with ``error`` after
    the requests before it answered ``updated``."""
    failed = [entry["id"] for entry in chunks[failed_index]]
    unsent = [entry["id"] for chunk in chunks[failed_index + 1 :] for entry in chunk]
    total = len(updated) + len(failed) + len(unsent)
    return TaskUpdateError(
        f"update_tasks: {len(updated)} of {total} tasks updated; the request for the next "
        f"{len(failed)} failed ({type(error).__name__}: {error}); {len(unsent)} never sent. "
        "Resend failed_ids, then unsent_ids.",
        updated=updated,
        failed_ids=failed,
        error=error,
        unsent_ids=unsent,
    )
