"""The records Zuora's Workflow API returns, as frozen attrs classes.

Decoding policy (field names, timestamp formats, unknown values) lives only in
``_converter``; these classes describe data and never import cattrs.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = ["RunStatus", "WorkflowRun"]


class RunStatus(enum.StrEnum):
    """Status of a workflow run.

    Zuora documents five values. A value it adds later decodes to a pseudo-member that keeps
    the raw string (``RunStatus("Paused").value == "Paused"``, ``is_known`` False), so one
    unexpected status cannot crash a batch of thousands of runs.
    """

    QUEUED = "Queued"
    PROCESSING = "Processing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FINISHED = "Finished"

    @classmethod
    def _missing_(cls, value: object) -> RunStatus | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """False for a status Zuora sent that this version does not document."""
        return self._name_ != "UNKNOWN"

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
