"""How records meet JSON: the reading rules of the definition records, and ``to_dict`` /
``from_dict``, all on the package's one converter.

``_converter`` reads runs and tasks. The records of ``_workflow_models`` have rules of
their own, registered here: Zuora's mixed camelCase and snake_case names, the misspelt
``latest_inactive_verisons`` (the right spelling is read too), ``DetailedWorkflow.status``
typed integer, an export kept exactly as sent, a day's usage nested in ``values``.

``to_dict`` writes a record as the JSON Zuora sends for it, by the renames its reader uses
(cattrs keeps them on each generated reader as ``overrides``), so ``from_dict`` reads it
back by exactly the rules that read Zuora's answers, and a service can hand it to any JSON
encoder (FastAPI's included). Timestamps become ISO-8601 text with their UTC offset,
dates ISO text, enums their value. Outcome records (``RunOutcome``, ``TaskRerunOutcome``)
hold an exception and do not round trip: ``to_dict`` describes their error (type,
message, ``may_have_run``) and ``from_dict`` refuses them, saying so.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from zuora_wf_async._batch.outcomes import RunOutcome
from zuora_wf_async._converter import converter
from zuora_wf_async._errors import InvalidRequestError, ZuoraError
from zuora_wf_async._models import (
    Task,
    TaskCounts,
    TaskStatus,
    WorkflowRun,
    WorkflowRunDetail,
    _OpenStrEnum,
)
from zuora_wf_async._workflow_models import (
    TaskRerunOutcome,
    TaskUpdate,
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
    WorkflowVersionRef,
)

__all__ = ["RECORDS", "from_dict", "to_dict"]

T = TypeVar("T")

# The records that round trip: every record the client returns from Zuora's answers, and
# the one it sends (TaskUpdate).
RECORDS: tuple[type, ...] = (
    WorkflowRun,
    WorkflowRunDetail,
    TaskCounts,
    Task,
    Workflow,
    WorkflowVersionRef,
    WorkflowExport,
    TaskUpdate,
    TaskUsage,
    WorkflowDeletion,
)
_ONE_WAY: tuple[type, ...] = (RunOutcome, TaskRerunOutcome)

# A definition's wire names that differ from ours.
_WORKFLOW_WIRE_NAMES = {
    "callout_trigger": "calloutTrigger",
    "ondemand_trigger": "ondemandTrigger",
    "scheduled_trigger": "scheduledTrigger",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
}
_WORKFLOW_RENAMES = {name: override(rename=wire) for name, wire in _WORKFLOW_WIRE_NAMES.items()}
# mypy cannot tell the renames from make_dict_structure_fn's own keyword flags.
_read_workflow = make_dict_structure_fn(Workflow, converter, **_WORKFLOW_RENAMES)  # type: ignore[arg-type]


@functools.wraps(_read_workflow)  # which also carries its ``overrides``, for to_dict
def _workflow(value: Any, _type: object = None) -> Workflow:
    if isinstance(value, Mapping) and "latest_inactive_verisons" in value:  # sic, Zuora's
        value = {**value, "latest_inactive_versions": value["latest_inactive_verisons"]}
    return _read_workflow(value, Workflow)


def _text(value: object, what: str = "a string") -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected {what}, got {type(value).__name__}")


def _workflow_status(value: object, _type: object = None) -> WorkflowStatus:
    # DetailedWorkflow.status is typed integer in Zuora's schema: an integer keeps its text.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return WorkflowStatus(_text(value, "a status string"))


def _date(value: object, _type: object = None) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return dt.date.fromisoformat(_text(value, "a date string").strip()[:10])


def _export(value: object, _type: object = None) -> WorkflowExport:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    workflow = value.get("workflow") or {}
    tasks = value.get("tasks") or []
    linkages = value.get("linkages") or []
    if not isinstance(workflow, Mapping):
        raise TypeError("workflow: expected an object")
    for name, items in (("tasks", tasks), ("linkages", linkages)):
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise TypeError(f"{name}: expected a list of objects")
    return WorkflowExport(workflow=workflow, tasks=tuple(tasks), linkages=tuple(linkages))


def _usage(value: object, _type: object = None) -> TaskUsage:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    values = value.get("values")
    count = values.get("taskCount", 0) if isinstance(values, Mapping) else 0
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"values.taskCount: expected an integer, got {count!r}")
    return TaskUsage(date=_date(value.get("date")), task_count=count)


def _writer(cls: type) -> Callable[[Any], dict[str, Any]]:
    """``cls`` written by the renames its reader uses; an outcome with its error described."""
    if cls in _ONE_WAY:
        plain: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, converter, error=override(omit=True)
        )
        return lambda value: {**plain(value), "error": _error_summary(value.error)}
    overrides = getattr(converter.get_structure_hook(cls), "overrides", {})
    return make_dict_unstructure_fn(cls, converter, **overrides)


def _error_summary(error: ZuoraError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    # str(error) is already scrubbed of secrets: messages are built from scrubbed excerpts.
    return {
        "type": type(error).__name__,
        "message": str(error),
        "may_have_run": error.may_have_run,
    }


_READERS: dict[Any, Callable[[Any, Any], Any]] = {
    Workflow: _workflow,
    WorkflowStatus: _workflow_status,
    WorkflowExport: _export,
    TaskUsage: _usage,
    dt.date: _date,
    # TaskUpdate.status takes a TaskStatus or any text (TaskStatus is open: text Zuora does
    # not list still reads, with ``is_known`` False).
    TaskStatus | str | None: lambda value, _: None if value is None else TaskStatus(_text(value)),
}
for _type, _reader in _READERS.items():
    converter.register_structure_hook(_type, _reader)
# A datetime is a date: one hook writes both, each by its own isoformat.
converter.register_unstructure_hook(dt.date, lambda value: value.isoformat())
# Our enums are str subclasses, so a hook on Enum would lose to str's in the method order;
# on their own base it wins, and the value (not the member) is plain JSON.
converter.register_unstructure_hook(_OpenStrEnum, lambda value: value.value)
converter.register_unstructure_hook(WorkflowExport, WorkflowExport.as_json)
converter.register_unstructure_hook(
    TaskUsage,
    lambda usage: {"date": usage.date.isoformat(), "values": {"taskCount": usage.task_count}},
)
converter.register_unstructure_hook_factory(lambda cls: cls in RECORDS + _ONE_WAY, _writer)


def to_dict(record: object) -> dict[str, Any]:
    """``record`` as JSON-ready data: the JSON Zuora sends for it.

    ``json.dumps(to_dict(run))`` works, and so does returning it from a FastAPI handler;
    :func:`from_dict` reads it back into an equal record.

    Raises:
        InvalidRequestError: ``record`` is not one of this package's records.
    """
    cls = type(record)
    if cls not in RECORDS and cls not in _ONE_WAY:
        raise InvalidRequestError(
            "record",
            f"to_dict takes one of this package's records, got {cls.__name__}",
            f"pass one of {_names(RECORDS + _ONE_WAY)}",
        )
    data: dict[str, Any] = converter.unstructure(record)
    return data


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """The record of type ``cls`` that ``data`` (as :func:`to_dict` or Zuora wrote it) holds.

    Raises:
        InvalidRequestError: ``cls`` is not a record that round trips, or ``data`` does not
            hold one; the message names each field that is wrong and why.
    """
    if cls not in RECORDS:
        why = " (it holds an exception, which does not round trip)" if cls in _ONE_WAY else ""
        raise InvalidRequestError(
            "cls",
            f"{getattr(cls, '__name__', type(cls).__name__)} is not a record from_dict reads{why}",
            f"pass one of {_names(RECORDS)}",
        )
    try:
        record: T = converter.structure(data, cls)
    except Exception as error:  # noqa: BLE001 -- whatever the reader refuses is the caller's data
        # The cause is dropped: it can quote the data, and the message says what is wrong.
        raise InvalidRequestError(
            "data",
            f"does not hold a {cls.__name__}: {_why(error)}",
            f"pass the mapping to_dict made (or Zuora's own JSON for a {cls.__name__})",
        ) from None
    return record


def _why(error: Exception) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error))[:500]
    return f"{type(error).__name__}: {error}"[:500]


def _names(classes: tuple[type, ...]) -> str:
    return ", ".join(cls.__name__ for cls in classes)
