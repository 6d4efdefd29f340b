"""Workflow definitions' settings, the runs created from them, and each run's lifecycle.

Definitions and runs share one id space, as at Zuora: running a run's id is a 409. A
workflow nobody configured runs with callout on and nothing required (the definitions that
exist are kept in ``_definitions``); runs are numbered from 10000 upward, skipping ids used
as definitions. A run's status is judged from the clock whenever it is read:
``Queued`` for ``queued_seconds``, ``Processing`` for ``processing_seconds``, then
``Finished``; a stopped run is ``Stopping`` for ``stopping_seconds``, then ``Stopped``.
Each run has ``task_count`` tasks (listed by ``GET /workflows/tasks``, see ``_tasks``) whose
statuses follow the run's and agree with its ``tasks`` counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from ._replies import forced, not_found_run
from ._task_ops import TaskBook
from ._tasks import list_tasks, run_tasks
from ._wire import Reply, errors_body, format_timestamp, json_reply

__all__ = ["FIRST_RUN_ID", "RESERVED_PARAMS", "Lifecycle", "Run", "RunStore", "WorkflowConfig"]

RESERVED_PARAMS: Final = ("controller", "action", "id", "user_email", "user_token", "format")
FIRST_RUN_ID: Final = 10_000
FIRST_TASK_ID: Final = 1


def _names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(kw_only=True)
class WorkflowConfig:
    """How one workflow definition behaves when run.

    ``force_status`` answers every run request with that status (``force_body`` overrides the
    default body) so a client's mapping of each error can be tested. ``task_count`` and
    ``failed_tasks`` shape the tasks of a run: once it is ``Finished`` (still ``Finished``
    with failed tasks, as at Zuora) its last ``failed_tasks`` tasks are in ``Error`` with
    ``task_error_class`` and ``task_error``, the others in ``Success``. ``task_tags`` are
    the filter tags every task of the workflow carries. ``pending_tasks`` more (before the
    failed ones) stay ``Pending`` once the run is over, as tasks waiting on an approval, a
    delay or a callout retry do; the run then reads ``Finished`` with ``tasks.pending`` set
    (the schema: "it might have tasks pending"), or with ``pending_status`` the ``Pending``
    run status Zuora's settings guide describes (not in the API's enum; no ``finishedAt``).
    ``rerun_failures``: the first that many reruns of each task of a run fail again (the
    rerun answers ``Processing``; the task is then in ``Error``, ended at the rerun).
    """

    callout_enabled: bool = True
    required_params: tuple[str, ...] = attrs.field(default=(), converter=_names)
    force_status: int | None = None
    force_body: Any = None
    task_count: int = 1
    failed_tasks: int = 0
    pending_tasks: int = 0
    pending_status: bool = False
    task_tags: tuple[str, ...] = attrs.field(default=(), converter=_names)
    task_error_class: str = "WorkflowError::Callout"
    task_error: str = "Callout response was 500 after 1 tries."
    rerun_failures: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.failed_tasks <= self.task_count:
            raise ValueError("failed_tasks must be between 0 and task_count")
        if self.pending_tasks < 0 or self.failed_tasks + self.pending_tasks > self.task_count:
            raise ValueError("failed_tasks + pending_tasks must be at most task_count")
        if self.rerun_failures < 0:
            raise ValueError("rerun_failures must be at least 0")
        if self.force_status is not None and not 100 <= self.force_status <= 599:
            raise ValueError(f"force_status must be an HTTP status, got {self.force_status}")


# Frozen, so one instance serves every workflow nobody configured.
_DEFAULT_CONFIG: Final = WorkflowConfig()


@attrs.frozen(kw_only=True)
class Lifecycle:
    queued_seconds: float = 0.0
    processing_seconds: float = 0.0
    stopping_seconds: float = 0.0


@attrs.define
class Run:
    id: int
    workflow_id: int
    name: str
    created_at: float
    config: WorkflowConfig
    stopped_at: float | None = None
    first_task_id: int = 1

    def phase(self, now: float, life: Lifecycle) -> tuple[str, float]:
        """The status at ``now`` and the clock time it was entered."""
        if self.stopped_at is not None:
            stopped = self.stopped_at + life.stopping_seconds
            return ("Stopping", self.stopped_at) if now < stopped else ("Stopped", stopped)
        processing = self.created_at + life.queued_seconds
        finished = processing + life.processing_seconds
        if now < processing:
            return "Queued", self.created_at
        if now < finished:
            return "Processing", processing
        return "Finished", finished


@attrs.define
class RunStore:
    life: Lifecycle
    wall: Callable[[float], datetime]
    _configs: dict[int, WorkflowConfig] = attrs.field(factory=dict, init=False)
    _definitions: set[int] = attrs.field(factory=set, init=False)
    _runs: dict[int, Run] = attrs.field(factory=dict, init=False)
    _sequences: dict[int, int] = attrs.field(factory=dict, init=False)
    _next_id: int = attrs.field(default=FIRST_RUN_ID, init=False)
    _next_task_id: int = attrs.field(default=FIRST_TASK_ID, init=False)
    _last_stamp: tuple[datetime | None, str] = attrs.field(default=(None, ""), init=False)
    book: TaskBook = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.book = TaskBook(self.wall)

    def configure(self, workflow_id: int, config: WorkflowConfig) -> None:
        self._configs[workflow_id] = config
        self._definitions.add(workflow_id)

    def reserve(self, workflow_id: int) -> None:
        """Keep ``workflow_id`` for a definition: no run will be given that id."""
        self._definitions.add(workflow_id)

    def get(self, run_id: int) -> Run | None:
        return self._runs.get(run_id)

    def _stamp(self, clock_time: float) -> str:
        # The text changes once a second, and a batch stamps thousands of runs a second.
        moment = self.wall(clock_time)
        second = moment.replace(microsecond=0)
        if self._last_stamp[0] != second:
            self._last_stamp = (second, format_timestamp(second))
        return self._last_stamp[1]

    def config_of(self, workflow_id: int) -> WorkflowConfig:
        return self._configs.get(workflow_id, _DEFAULT_CONFIG)

    def is_run(self, some_id: int) -> bool:
        return some_id in self._runs

    def allocate_definition_id(self) -> int:
        """A fresh id for a new definition or version, from the id space runs use too."""
        while self._next_id in self._definitions or self._next_id in self._runs:
            self._next_id += 1
        self._definitions.add(self._next_id)
        return self._next_id

    def run_reply(
        self,
        workflow_id: int,
        params: dict[str, Any],
        now: float,
        *,
        callout_enabled: bool | None = None,
        active: bool = True,
    ) -> tuple[Reply, Run | None]:
        """``POST /workflows/{id}/run`` after the body is decoded; the checks in their order.

        ``callout_enabled`` and ``active`` come from the definition (its active version's
        Callout trigger, its status); without them the workflow's config decides.
        """
        config = self._configs.get(workflow_id, _DEFAULT_CONFIG)
        callout = config.callout_enabled if callout_enabled is None else callout_enabled
        if config.force_status is not None:
            return forced(config.force_status, config.force_body, workflow_id, params), None
        instance = self._runs.get(workflow_id)
        if instance is not None:
            # Title from the official example; errors[].status is the HTTP status (409), as
            # elsewhere, though that example shows 406.
            title = f"Workflow {instance.name} with Id {instance.id} is an instance/run."
            return json_reply(409, errors_body(409, title)), None
        reserved = [name for name in RESERVED_PARAMS if name in params]
        if reserved:
            title = f"Parameter name(s) {', '.join(map(repr, reserved))} are reserved."
            return json_reply(400, errors_body(400, title)), None
        if not active:
            # UNCONFIRMED wording: Zuora says only that runs of an inactive workflow fail.
            title = f"Workflow {workflow_id} is inactive; activate it before running it."
            return json_reply(400, errors_body(400, title)), None
        if not callout:
            title = "Callout mode is not turned on in this workflow."
            return json_reply(400, errors_body(400, title)), None
        missing = [name for name in config.required_params if name not in params]
        if missing:
            errors = [
                errors_body(
                    406,
                    f"Required field for Workflow-{name} does not have a set value. "
                    f"Ensure parameter '{name}' is present.",
                )["errors"][0]
                for name in missing
            ]
            return json_reply(406, {"errors": errors, "parameters": params}), None
        run = self._create(workflow_id, config, now)
        stamp = self._stamp(now)
        body = {
            "id": run.id,
            "name": run.name,
            "originalWorkflowId": workflow_id,
            "status": "Queued",
            "type": "Workflow::Instance",
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        return json_reply(200, body), run

    def _create(self, workflow_id: int, config: WorkflowConfig, now: float) -> Run:
        self._definitions.add(workflow_id)
        while self._next_id in self._definitions or self._next_id in self._runs:
            self._next_id += 1
        run_id = self._next_id
        self._next_id += 1
        sequence = self._sequences.get(workflow_id, 0) + 1
        self._sequences[workflow_id] = sequence
        run = Run(
            run_id,
            workflow_id,
            f"WF-{workflow_id}-{sequence:08d}",
            now,
            config,
            first_task_id=self._next_task_id,
        )
        self._next_task_id += config.task_count
        self._runs[run_id] = run
        return run

    def detail_reply(self, run_id: str, now: float) -> Reply:
        run = self._runs.get(int(run_id)) if run_id.isdigit() else None
        if run is None:
            return not_found_run(run_id)
        status, since = run.phase(now, self.life)
        counts = _counts(self.tasks_now(now, run_id=run.id))
        if status == "Finished" and run.config.pending_status and counts["pending"]:
            status = "Pending"  # UNCONFIRMED on the API: the settings guide names it
        terminal = status in {"Finished", "Stopped"}
        end = since if terminal else now
        body: dict[str, Any] = {
            "id": run.id,
            "name": run.name,
            # A string here, as GetWorkflowResponse types it (the run POST's is an integer).
            "originalWorkflowId": str(run.workflow_id),
            "status": status,
            "type": "Workflow::Instance",
            "createdAt": self._stamp(run.created_at),
            "updatedAt": self._stamp(since),
            "runTime": round(max(0.0, end - run.created_at), 6),
            "cpuTime": "00:00:00" if status == "Queued" else "00:00:01",
            "tasks": counts,
        }
        if terminal:
            body["finishedAt"] = self._stamp(since)
        return json_reply(200, body)

    def stop_reply(self, run_id: str, now: float) -> Reply:
        """Stop a run; a Finished run cannot be stopped and answers ``{"success": false}``."""
        run = self._runs.get(int(run_id)) if run_id.isdigit() else None
        if run is None:
            return not_found_run(run_id)
        status, _ = run.phase(now, self.life)
        if status == "Finished":
            return json_reply(200, {"success": False})
        if run.stopped_at is None:
            run.stopped_at = now
        return json_reply(200, {"success": True})

    def base_tasks(self, now: float, run_id: int | None = None) -> list[dict[str, Any]]:
        """Every run's tasks as their runs' phases make them, before any caller's change."""
        runs = self._runs.values() if run_id is None else [self._runs[run_id]]
        return [
            task
            for run in runs
            for task in run_tasks(run, *run.phase(now, self.life), self.life, self.wall)
        ]

    def rerun_failures(self, task: dict[str, Any]) -> int:
        """How many reruns of ``task`` fail again (its run's ``rerun_failures``)."""
        run = self._runs.get(task.get("workflow_id") or 0)
        return 0 if run is None else run.config.rerun_failures

    def tasks_now(self, now: float, run_id: int | None = None) -> list[dict[str, Any]]:
        """The tasks as a caller sees them: reruns and batch updates applied."""
        return self.book.apply(self.base_tasks(now, run_id))

    def tasks_reply(self, query: Sequence[tuple[str, str]], now: float, origin: str) -> Reply:
        """``GET /workflows/tasks``: every run's tasks as of ``now``, filtered and paged."""
        return list_tasks(self.tasks_now(now), query, origin)


def _counts(tasks: Sequence[dict[str, Any]]) -> dict[str, int]:
    """A run detail's ``tasks`` object, counted from the tasks themselves."""
    counts = dict.fromkeys(("error", "pending", "processing", "queued", "stopped", "success"), 0)
    for task in tasks:
        key = str(task.get("status") or "").lower()
        if key in counts:
            counts[key] += 1
    return {**counts, "total": len(tasks)}
