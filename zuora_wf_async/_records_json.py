"""``to_dict`` / ``from_dict``: every record to JSON-ready data and back, by the one converter.

A record becomes the JSON Zuora itself sends for it (``WorkflowRun`` keeps ``createdAt``,
``Task`` keeps ``start_time``), so ``from_dict`` reads it back with exactly the rules that
read Zuora's answers, and a service can hand a record to any JSON encoder (FastAPI's
included) after ``to_dict``. Timestamps become ISO-8601 text with their UTC offset, dates
ISO text, enums their value, tuples lists.

Why Zuora's shape rather than our attribute names: the package has one converter, whose
structure hooks read the wire names; giving it a second spelling of every record would be
a second set of rules to keep in step. The one place Zuora misspells a name
(``latest_inactive_verisons``) is written correctly: the reader takes both.

Outcome records (``RunOutcome``, ``TaskRerunOutcome``) hold an exception and do not round
trip; ``to_dict`` describes their error (type, message, ``may_have_run``) for logs and
answers, and ``from_dict`` refuses them, saying so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from zuora_wf_async._batch.outcomes import RunOutcome
from zuora_wf_async._converter import converter
from zuora_wf_async._errors import InvalidRequestError, ResponseDecodeError, ZuoraError
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

_CAMEL_CASE_WIRE_NAMES: Mapping[str, str] = {
    "original_workflow_id": "originalWorkflowId",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "finished_at": "finishedAt",
    "run_time": "runTime",
    "cpu_time": "cpuTime",
}
_WORKFLOW_WIRE_NAMES: Mapping[str, str] = {
    "callout_trigger": "calloutTrigger",
    "ondemand_trigger": "ondemandTrigger",
    "scheduled_trigger": "scheduledTrigger",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
}


def _renamed(cls: type, wire_names: Mapping[str, str]) -> Callable[[Any], dict[str, Any]]:
    names = {field.name for field in attrs.fields(cls)}
    renames = {name: override(rename=wire) for name, wire in wire_names.items() if name in names}
    # mypy cannot tell the renames from make_dict_unstructure_fn's own keyword flags.
    return make_dict_unstructure_fn(cls, converter, **renames)  # type: ignore[arg-type]


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _error_summary(error: ZuoraError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    # str(error) is already scrubbed of secrets: messages are built from scrubbed excerpts.
    return {
        "type": type(error).__name__,
        "message": str(error),
        "may_have_run": getattr(error, "may_have_run", None),
    }


def _register_unstructure_hooks() -> None:
    converter.register_unstructure_hook(dt.datetime, lambda value: value.isoformat())
    converter.register_unstructure_hook(dt.date, lambda value: value.isoformat())
    # Our enums are str subclasses, so a hook on Enum would lose to str's in the method
    # order; on their own base it wins, and the value (not the member) is plain JSON.
    converter.register_unstructure_hook(_OpenStrEnum, lambda value: value.value)
    # TaskUpdate.status takes a TaskStatus or any text; TaskStatus is open, so text Zuora
    # does not list still reads (with ``is_known`` False).
    converter.register_structure_hook(
        TaskStatus | str | None,
        lambda value, _: None if value is None else TaskStatus(_text(value)),
    )
    for camel_case in (WorkflowRun, WorkflowRunDetail):
        converter.register_unstructure_hook(
            camel_case, _renamed(camel_case, _CAMEL_CASE_WIRE_NAMES)
        )
    converter.register_unstructure_hook(Workflow, _renamed(Workflow, _WORKFLOW_WIRE_NAMES))
    converter.register_unstructure_hook(WorkflowExport, WorkflowExport.as_json)
    converter.register_unstructure_hook(
        TaskUsage,
        lambda usage: {"date": usage.date.isoformat(), "values": {"taskCount": usage.task_count}},
    )
    for outcome in _ONE_WAY:
        plain: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            outcome, converter, error=override(omit=True)
        )

        def with_error(value: Any, plain: Callable[[Any], dict[str, Any]] = plain) -> Any:
            return {**plain(value), "error": _error_summary(value.error)}

        converter.register_unstructure_hook(outcome, with_error)


_register_unstructure_hooks()


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
    except (
        ResponseDecodeError,
        cattrs.BaseValidationError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OverflowError,
        RecursionError,
    ) as error:
        # Any failure of the reader's rules is the caller's data; the cause is dropped
        # because it can quote the data, and the message already says what is wrong.
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
