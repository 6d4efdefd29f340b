"""What callers do to tasks after a run: get one, rerun one, update many, count usage.

Run tasks are computed from their run's phase (see ``_tasks``); a :class:`TaskBook` keeps
what callers changed on top of that: the fields a ``batch_update`` set and the reruns. A
rerun makes the task run again at once and succeed (``Success``, error fields cleared,
new start and end times), unless ``WorkflowConfig.rerun_failures`` says the first reruns
of each task fail again (the answer says ``Processing``, the task is then ``Error`` again
with that rerun's times), and counts as one more task run in the usage metrics, which
count every task that started, on the day it started.

Bodies follow the official examples: ``batch_update`` answers a ``TasksResponse`` with
``"pagination": {"page": null, "page_length": null}``; its 400 ("Data not present or not in
array.", or more than 50 tasks, the schema's limit) and 404 ("Missing ids for tasks.") use
``{"errors": [{"code": "Task", "status": <int>, "title"}]}`` (the schema says ``Errors``
with a string status; the examples win).
UNCONFIRMED: the 404 of an unknown task id on get and rerun (the run-404 shape is reused);
that ``metrics.json`` answers only the days with at least one task run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from ._wire import Reply, errors_body, json_reply

__all__ = ["TaskBook"]

# The fields of Zuora's UpdateTask that batch_update may change (id selects the task).
UPDATABLE: Final = (
    "name",
    "status",
    "action_type",
    "call_type",
    "object",
    "object_id",
    "concurrent_limit",
    "tags",
    "workflow_id",
)
MAX_UPDATES: Final = 50
STATUSES: Final = frozenset({"Queued", "Processing", "Pending", "Success", "Stopped", "Error"})


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _task_error(status: int, title: str) -> Reply:
    return json_reply(status, errors_body(status, title, "Task"))


def _not_found(task_id: str) -> Reply:
    return json_reply(404, errors_body(404, f"Task '{task_id}' is not found", "Invalid"))


@attrs.define
class TaskBook:
    """Changes made to run tasks by rerun and batch_update, and the reruns for usage."""

    wall: Callable[[float], dt.datetime]
    _changes: dict[int, dict[str, Any]] = attrs.field(factory=dict, init=False)
    _reruns: list[float] = attrs.field(factory=list, init=False)
    _rerun_counts: dict[int, int] = attrs.field(factory=dict, init=False)

    def apply(self, tasks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``tasks`` with every recorded change laid over them."""
        return [{**task, **self._changes.get(task["id"], {})} for task in tasks]

    def get_reply(self, tasks: list[dict[str, Any]], param: str) -> Reply:
        found = _find(tasks, param)
        return _not_found(param) if found is None else json_reply(200, found)

    def rerun_reply(
        self,
        tasks: list[dict[str, Any]],
        param: str,
        now: float,
        failures: Callable[[dict[str, Any]], int] = lambda task: 0,
    ) -> Reply:
        """Rerun a task: it succeeds at once, unless it is one of the first ``failures(task)``
        reruns of that task, which answer ``Processing`` (the rerun started) and leave the
        task in ``Error`` again, ended now: a rerun that fails after its answer."""
        found = _find(tasks, param)
        if found is None:
            return _not_found(param)
        stamp = _iso(self.wall(now))
        count = self._rerun_counts.get(found["id"], 0) + 1
        self._rerun_counts[found["id"]] = count
        self._reruns.append(now)
        if count <= failures(found):
            failed = {"status": "Error", "start_time": stamp, "end_time": stamp}
            self._changes.setdefault(found["id"], {}).update(failed)
            answer = {**found, "status": "Processing", "start_time": stamp}
            answer.update(error=None, error_class=None, error_details=None)
            answer.pop("end_time", None)
            return json_reply(200, answer)
        change = {
            "status": "Success",
            "error": None,
            "error_class": None,
            "error_details": None,
            "start_time": stamp,
            "end_time": stamp,
        }
        self._changes.setdefault(found["id"], {}).update(change)
        return json_reply(200, {**found, **change})

    def batch_update_reply(self, tasks: list[dict[str, Any]], body: Any) -> Reply:
        entries = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(entries, list) or not entries:
            return _task_error(400, "Data not present or not in array.")
        if len(entries) > MAX_UPDATES:
            # The schema's "maximum: 50"; UNCONFIRMED: the title. Nothing is applied.
            return _task_error(400, f"At most {MAX_UPDATES} tasks can be updated in one request.")
        by_id = {task["id"]: task for task in tasks}
        if not all(isinstance(e, Mapping) and e.get("id") in by_id for e in entries):
            return _task_error(404, "Missing ids for tasks.")
        for entry in entries:
            status = entry.get("status")
            if status is not None and status not in STATUSES:
                return _task_error(400, f"Status '{status}' is not valid.")
        updated = []
        for entry in entries:
            change = {name: entry[name] for name in UPDATABLE if name in entry}
            self._changes.setdefault(entry["id"], {}).update(change)
            updated.append({**by_id[entry["id"]], **change})
        return json_reply(200, {"data": updated, "pagination": {"page": None, "page_length": None}})

    def usage_reply(self, tasks: list[dict[str, Any]], query: Mapping[str, str]) -> Reply:
        for name in ("startDate", "endDate", "metrics"):
            if not query.get(name):
                return json_reply(400, errors_body(400, f"{name} is required."))
        if query["metrics"] != "taskCount":
            return json_reply(400, errors_body(400, "Only the taskCount metric is supported."))
        try:
            start = dt.date.fromisoformat(query["startDate"])
            end = dt.date.fromisoformat(query["endDate"])
        except ValueError:
            return json_reply(400, errors_body(400, "startDate and endDate must be YYYY-MM-DD."))
        counts: dict[dt.date, int] = {}
        for task in tasks:
            if task.get("start_time"):
                day = dt.date.fromisoformat(task["start_time"][:10])
                counts[day] = counts.get(day, 0) + 1
        for moment in self._reruns:
            day = self.wall(moment).date()
            counts[day] = counts.get(day, 0) + 1
        metrics = [
            {"date": day.isoformat(), "values": {"taskCount": count}}
            for day, count in sorted(counts.items())
            if start <= day <= end
        ]
        return json_reply(200, {"metrics": metrics})


def _find(tasks: list[dict[str, Any]], param: str) -> dict[str, Any] | None:
    if not param.isdigit():
        return None
    wanted = int(param)
    return next((task for task in tasks if task["id"] == wanted), None)
