"""The records of Zuora's workflow *definition* operations, as frozen attrs classes.

Runs and tasks live in ``_models``; this module holds what the definition, version,
export/import and usage operations return or take. The classes describe data only; the
rules that read them from Zuora's JSON are registered on the one converter by
``_records_json``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._models import Task, TaskStatus, _OpenStrEnum

__all__ = [
    "TaskRerunOutcome",
    "TaskUpdate",
    "TaskUsage",
    "Workflow",
    "WorkflowDeletion",
    "WorkflowExport",
    "WorkflowStatus",
    "WorkflowVersionRef",
]


class WorkflowStatus(_OpenStrEnum):
    """Status of a workflow definition or version: ``Active`` or ``Inactive``.

    Open like :class:`RunStatus`: a value Zuora adds later keeps its raw text
    (``is_known`` False). ``DetailedWorkflow.status`` is typed integer in Zuora's schema
    although its example shows ``"Active"``; an integer is kept as its text.
    """

    ACTIVE = "Active"
    INACTIVE = "Inactive"


@attrs.frozen(kw_only=True)
class WorkflowVersionRef:
    """The ``active_version`` summary of a definition: the version runs use."""

    id: int
    version: str | None = None
    status: WorkflowStatus | None = None
    type: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class Workflow:
    """A workflow definition, or one version of it.

    ``GET /workflows`` and ``GET/PATCH /workflows/{id}`` describe a *definition*: its
    ``id`` is what you run, ``status`` says whether it can run and ``active_version`` which
    version runs. ``GET /workflows/{id}/versions`` and ``POST /workflows/import`` describe
    *versions* (``version`` set, ``active_version`` None): a version's ``id`` is what
    ``delete_workflow_version`` takes. ``latest_inactive_versions`` (at most 10) is only
    filled by the list operation. Fields Zuora leaves out are None.
    """

    id: int
    name: str | None = None
    description: str | None = None
    status: WorkflowStatus | None = None
    type: str | None = None
    version: str | None = None
    callout_trigger: bool | None = None
    ondemand_trigger: bool | None = None
    scheduled_trigger: bool | None = None
    interval: str | None = None
    timezone: str | None = None
    priority: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    active_version: WorkflowVersionRef | None = None
    latest_inactive_versions: tuple[Workflow, ...] = ()

    @property
    def is_active(self) -> bool:
        """True when the definition is ``Active`` (a version record: its own status)."""
        return self.status == WorkflowStatus.ACTIVE


@attrs.frozen(kw_only=True)
class WorkflowExport:
    """One version of a workflow as ``GET /workflows/{id}/export`` returns it.

    ``workflow``, ``tasks`` and ``linkages`` are kept exactly as Zuora sent them, because
    the export's purpose is to be imported again (into another tenant, or as a new
    version) and every field must survive the round trip, including those this package
    does not model. :meth:`as_json` gives the body ``import_workflow`` sends.
    """

    workflow: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    tasks: tuple[Mapping[str, Any], ...] = attrs.field(default=(), repr=False)
    linkages: tuple[Mapping[str, Any], ...] = attrs.field(default=(), repr=False)

    @property
    def name(self) -> str | None:
        value = self.workflow.get("name")
        return value if isinstance(value, str) else None

    @property
    def version(self) -> str | None:
        value = self.workflow.get("version")
        return value if isinstance(value, str) else None

    def as_json(self) -> dict[str, Any]:
        """The document as plain JSON data: ``{"workflow", "tasks", "linkages"}``."""
        return {
            "workflow": dict(self.workflow),
            "tasks": [dict(task) for task in self.tasks],
            "linkages": [dict(linkage) for linkage in self.linkages],
        }


def _optional_tags(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen(kw_only=True)
class TaskUpdate:
    """One entry of ``PUT /workflows/tasks/batch_update`` (Zuora's ``UpdateTask``).

    Only ``id`` is required; fields left None are not sent, so Zuora keeps their values.
    """

    id: int
    name: str | None = None
    status: TaskStatus | str | None = None
    action_type: str | None = None
    call_type: str | None = None
    object: str | None = None
    object_id: str | None = None
    concurrent_limit: int | None = None
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tags)
    workflow_id: int | None = None


@attrs.frozen(kw_only=True)
class TaskUsage:
    """How many tasks ran on one day (``GET /workflows/metrics.json``, ``taskCount``)."""

    date: dt.date
    task_count: int


@attrs.frozen(kw_only=True)
class WorkflowDeletion:
    """Zuora's answer to ``delete_workflow`` and ``delete_workflow_version``
    (``DeleteWorkflowSuccess``): the ``id`` of the definition or version deleted, and
    ``success``. An answer with ``success: false`` is not returned: it is refused as a
    ``ResponseDecodeError``, since nothing was deleted."""

    id: int
    success: bool = True


@attrs.frozen(kw_only=True)
class TaskRerunOutcome:
    """What became of one failed task ``rerun_failed_tasks`` reran: the task as Zuora
    answered, or the error that ended its attempts.

    ``idempotency_key`` is the key used. It names the *failure*: the task id with its
    failed instance's ``end_time`` (or the caller's ``attempt``), so a retry of this rerun
    is deduplicated by Zuora while a later failure of the same task gets a rerun of its own.

    ``stale_replay`` is True when Zuora's answer is the replay of a rerun that started
    before this failure ended (an ``attempt`` id used again for a later failure): nothing
    was rerun and the task is still in ``Error``. ``ok`` is True only for a rerun Zuora
    accepted for this failure whose answer is not itself ``Error``.
    """

    task_id: int
    idempotency_key: str
    task: Task | None = None
    error: ZuoraError | None = None
    stale_replay: bool = False

    @property
    def ok(self) -> bool:
        if self.error is not None or self.task is None or self.stale_replay:
            return False
        return not self.task.failed
