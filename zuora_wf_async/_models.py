"""The records Zuora's Workflow API returns, as frozen attrs classes.

Decoding policy (field names, timestamp formats, unknown values) lives only in
``_converter``; these classes describe data and never import cattrs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

import attrs

__all__ = [
    "RunStatus",
    "Task",
    "TaskCounts",
    "TaskStatus",
    "WorkflowRun",
    "WorkflowRunDetail",
]


class _OpenStrEnum(enum.StrEnum):
    """A string enum that keeps values it does not know instead of refusing them.

    An unknown value becomes a pseudo-member named ``UNKNOWN`` holding the raw string, so a
    status Zuora adds later reads as ``Status("New").value == "New"``, ``is_known`` False.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """False for a value Zuora sent that this version does not document."""
        return self._name_ != "UNKNOWN"


class RunStatus(_OpenStrEnum):
    """Status of a workflow run.

    Zuora's API documents five values. ``Pending`` is a sixth that only Zuora's settings
    guide names ("Ignore Pending Status"): a run waiting on tasks pending for an approval,
    a delay or a callout retry (approvals can pend for 90 days). It is not terminal, but a
    waiter can choose to stop at it. A value Zuora adds later decodes to a pseudo-member
    that keeps the raw string (``RunStatus("Paused").value == "Paused"``, ``is_known``
    False), so one unexpected status cannot crash a batch of thousands of runs.
    """

    QUEUED = "Queued"
    PROCESSING = "Processing"
    PENDING = "Pending"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FINISHED = "Finished"

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change: Finished or Stopped."""
        return self in (RunStatus.FINISHED, RunStatus.STOPPED)


@attrs.frozen(kw_only=True)
class WorkflowRun:
    """A workflow run as ``POST /workflows/{workflow_id}/run`` returns it.

    ``id`` is the run's id (poll it with ``get_run``), ``name`` its run number such as
    ``"WF-396-00000003"`` and ``original_workflow_id`` the definition it was started from.
    ``type`` is ``"Workflow::Instance"`` in Zuora's samples but absent from its schema, so
    it may be None.
    """

    id: int
    name: str
    original_workflow_id: int
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    type: str | None = None


class TaskStatus(_OpenStrEnum):
    """Status of one task of a run (Zuora's ``UpdateTaskStatus`` values).

    Like :class:`RunStatus`, a value Zuora adds later keeps its raw string with ``is_known``
    False instead of failing the page it arrived on.
    """

    QUEUED = "Queued"
    PROCESSING = "Processing"
    PENDING = "Pending"
    SUCCESS = "Success"
    STOPPED = "Stopped"
    ERROR = "Error"


@attrs.frozen(kw_only=True)
class TaskCounts:
    """How many of a run's tasks are in each status (the ``tasks`` object of a run detail).

    A count Zuora leaves out reads as 0.
    """

    error: int = 0
    pending: int = 0
    processing: int = 0
    queued: int = 0
    stopped: int = 0
    success: int = 0
    total: int = 0


@attrs.frozen(kw_only=True)
class WorkflowRunDetail(WorkflowRun):
    """A workflow run as ``GET /workflows/workflow_runs/{id}`` returns it: the run's fields
    and how far it got.

    ``status`` is never ``Error``: a run whose tasks failed still ends ``Finished``, so read
    :attr:`succeeded` (or ``tasks.error``) rather than the status alone. ``finished_at`` is
    None until the run ends; ``run_time`` is seconds since creation, waiting included
    (None if Zuora leaves it out); ``cpu_time`` is Zuora's ``"HH:MM:SS"`` text as sent.
    ``messages`` (task messages) is only sent by Production tenants and is kept exactly as
    sent (an object per the schema; not typed further, so that an unexpected shape in a
    field we only pass through can never fail a poll); None when absent.
    """

    finished_at: datetime | None = None
    run_time: float | None = None
    cpu_time: str | None = None
    tasks: TaskCounts = attrs.field(factory=TaskCounts)
    messages: Any = None

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change: Finished or Stopped."""
        return self.status.is_terminal

    @property
    def is_pending(self) -> bool:
        """True when the run waits on pending tasks: status ``Pending``, or ``Finished``
        with tasks still pending ("When a workflow is finished, it might have tasks pending
        for retry or delay", says Zuora's schema)."""
        return self.status == RunStatus.PENDING or (
            self.status == RunStatus.FINISHED and self.tasks.pending > 0
        )

    @property
    def succeeded(self) -> bool:
        """Finished with no task in Error, Stopped or Pending.

        Zuora documents no ``Error`` run status; a failed task is only visible in the task
        counts, which is the reading taken here (inferred from the schema). A task still
        pending (for a retry, a delay or an approval) may yet fail, so it is not a success.
        """
        return (
            self.status == RunStatus.FINISHED
            and self.tasks.error == 0
            and self.tasks.stopped == 0
            and self.tasks.pending == 0
        )


@attrs.frozen(kw_only=True)
class Task:
    """One task as ``GET /workflows/tasks`` lists it (snake_case on the wire).

    For a run's tasks (``instance`` True), ``workflow_id`` is the run's id and
    ``original_workflow_id`` the definition's. ``status`` is None on task definitions.
    ``error``, ``error_class`` (such as ``"WorkflowError::Callout"``) and ``error_details``
    are set when ``status`` is Error. ``task_id`` is the parent task's id, None for the
    first task. ``parameters`` and ``data`` are kept as Zuora sent them.
    """

    id: int
    name: str | None = None
    workflow_id: int | None = None
    status: TaskStatus | None = None
    action_type: str | None = None
    call_type: str | None = None
    object: str | None = None
    object_id: str | None = None
    instance: bool | None = None
    original_task_id: int | None = None
    original_workflow_id: int | None = None
    task_id: int | None = None
    concurrent_limit: int | None = None
    tags: tuple[str, ...] = ()
    error: str | None = None
    error_class: str | None = None
    error_details: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    parameters: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    data: Mapping[str, Any] | None = attrs.field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        """True when the task ended in Error."""
        return self.status == TaskStatus.ERROR
