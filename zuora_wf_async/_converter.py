"""``make_converter()``: every rule for turning Zuora's JSON into our records.

- field names: Zuora's run records are camelCase (``originalWorkflowId``); ours are snake_case;
- timestamps: ``"2019-09-19 18:25:33 UTC"`` on runs, ISO-8601 (``"...T12:35:43.942Z"``) on
  tasks; both decode to aware UTC datetimes;
- ids Zuora types inconsistently (``originalWorkflowId`` is a string in one schema and an
  integer in another) decode from either;
- numbers (``runTime``) decode from a JSON number or numeric text, never from a bool; bools
  (a task's ``instance``) only from JSON booleans;
- unknown extra fields are ignored; an unknown status keeps its raw string.

``decode`` reads the two records every run returns (``WorkflowRun`` from a run POST,
``WorkflowRunDetail`` from a poll) by a direct fast path when the body has exactly the
common shape (every field of its documented JSON type); anything else (ids as text,
numbers as text, a missing or wrongly typed field, a hook registered for the record
since) goes through the cattrs converter, which is the one authority on the rules above.
Both give the same record for every body the fast path takes (tested on Zuora's official
examples and on odd inputs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._models import (
    RunStatus,
    TaskCounts,
    TaskStatus,
    WorkflowRun,
    WorkflowRunDetail,
)

__all__ = ["converter", "decode", "make_converter", "parse_timestamp"]

T = TypeVar("T")

# Set on the hooks make_converter generates for the camelCase records.
_OWN_HOOK_MARK = "_zuora_wf_async_own_hook"
# Records whose wire names are camelCase; the rest (tasks) use snake_case on the wire.
_CAMEL_CASE_RECORDS: frozenset[type] = frozenset({WorkflowRun, WorkflowRunDetail})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_timestamp(value: object) -> datetime:
    """An aware UTC datetime from Zuora's ``"YYYY-MM-DD HH:MM:SS UTC"`` or ISO-8601 text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise TypeError(f"expected a timestamp string, got {type(value).__name__}")
    return _parse_timestamp_text(value)


# Zuora's timestamps have one-second resolution, so a batch decodes the same few strings
# over and over (createdAt usually equals updatedAt); datetimes are immutable, so sharing
# them is safe.
@functools.lru_cache(maxsize=4096)
def _parse_timestamp_text(value: str) -> datetime:
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    elif text.endswith("Z"):
        text = text[:-1]
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: object, _type: object = None) -> int:
    # bool is an int subclass but never an id; a numeric string is how Zuora sometimes types ids.
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _float(value: object, _type: object = None) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value)  # ValueError on non-numeric text, reported with the field path
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _bool(value: object, _type: object = None) -> bool:
    # cattrs' default is bool(value), which reads the string "false" as True.
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {value!r}")


def _str(value: object, _type: object = None) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def make_converter() -> cattrs.Converter:
    """A converter holding every decoding hook this package uses."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))
    converter.register_structure_hook(int, _int)
    converter.register_structure_hook(str, _str)
    converter.register_structure_hook(float, _float)
    converter.register_structure_hook(bool, _bool)
    converter.register_structure_hook(RunStatus, lambda value, _: RunStatus(_str(value)))
    converter.register_structure_hook(TaskStatus, lambda value, _: TaskStatus(_str(value)))

    def camel_case_hook(cls: type[Any]) -> Callable[[Mapping[str, Any], Any], Any]:
        renames = {
            field.name: override(rename=_camel(field.name))
            for field in attrs.fields(cls)
            if _camel(field.name) != field.name
        }
        # mypy cannot tell the renames from make_dict_structure_fn's own keyword flags.
        hook = make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]
        # Marks the hook as this module's, so decode's fast path knows it stands in for
        # exactly this hook (cattrs regenerates hooks whenever any hook is registered).
        setattr(hook, _OWN_HOOK_MARK, True)
        return hook

    converter.register_structure_hook_factory(
        lambda cls: cls in _CAMEL_CASE_RECORDS, camel_case_hook
    )
    return converter


# The package's one converter: every record is decoded by it (or, for the two run records,
# by a fast path that agrees with it). Other modules register their records' hooks on it.
converter: cattrs.Converter = make_converter()


# -- the fast path for the common run shapes -------------------------------------------

_RUN_FIELDS = ("id", "name", "originalWorkflowId", "status", "createdAt", "updatedAt")
_TASK_COUNT_FIELDS = tuple(field.name for field in attrs.fields(TaskCounts))
_NO_COUNTS = TaskCounts()
_run_status = RunStatus._value2member_map_.get


def _status(value: str) -> RunStatus:
    known = _run_status(value)
    return known if known is not None else RunStatus(value)  # type: ignore[return-value]


def _fast_run(data: Any) -> WorkflowRun | None:
    """``data`` as a ``WorkflowRun`` if it has exactly the common shape, else None."""
    if type(data) is not dict:
        return None
    get = data.get
    run_id, name, workflow_id, status, created, updated = map(get, _RUN_FIELDS)
    kind = get("type")
    if not (
        type(run_id) is int
        and type(name) is str
        and type(workflow_id) is int
        and type(status) is str
        and type(created) is str
        and type(updated) is str
        and (kind is None or type(kind) is str)
    ):
        return None
    try:
        created_at = _parse_timestamp_text(created)
        updated_at = created_at if updated == created else _parse_timestamp_text(updated)
    except ValueError:
        return None
    return WorkflowRun(
        id=run_id,
        name=name,
        original_workflow_id=workflow_id,
        status=_status(status),
        created_at=created_at,
        updated_at=updated_at,
        type=kind,
    )


def _fast_counts(tasks: Any) -> TaskCounts | None:
    if tasks is None:
        return _NO_COUNTS
    if type(tasks) is not dict:
        return None
    counts = [tasks.get(name, 0) for name in _TASK_COUNT_FIELDS]
    if any(type(count) is not int for count in counts):
        return None
    return TaskCounts(**dict(zip(_TASK_COUNT_FIELDS, counts, strict=True)))


def _fast_run_detail(data: Any) -> WorkflowRunDetail | None:
    """``data`` as a ``WorkflowRunDetail`` if it has exactly the common shape, else None."""
    run = _fast_run(data)
    if run is None:
        return None
    get = data.get
    finished, run_time, cpu_time = get("finishedAt"), get("runTime"), get("cpuTime")
    if "tasks" in data and data["tasks"] is None:
        return None  # cattrs refuses a null tasks object; let it say so
    counts = _fast_counts(get("tasks"))
    if (
        counts is None
        or not (finished is None or type(finished) is str)
        or not (run_time is None or type(run_time) is float or type(run_time) is int)
        or not (cpu_time is None or type(cpu_time) is str)
    ):
        return None
    try:
        finished_at = None if finished is None else _parse_timestamp_text(finished)
    except ValueError:
        return None
    return WorkflowRunDetail(
        id=run.id,
        name=run.name,
        original_workflow_id=run.original_workflow_id,
        status=run.status,
        created_at=run.created_at,
        updated_at=run.updated_at,
        finished_at=finished_at,
        run_time=None if run_time is None else float(run_time),
        cpu_time=cpu_time,
        tasks=counts,
        type=run.type,
        messages=get("messages"),
    )


_FAST_PATHS: dict[type, Callable[[Any], Any]] = {
    WorkflowRun: _fast_run,
    WorkflowRunDetail: _fast_run_detail,
}


def _fast_path(cls: type) -> Callable[[Any], Any] | None:
    """The fast path for ``cls``, unless another module registered its own hook for it."""
    fast = _FAST_PATHS.get(cls)
    if fast is None or not getattr(converter.get_structure_hook(cls), _OWN_HOOK_MARK, False):
        return None
    return fast


def decode_slow(data: Any, cls: type[T], *, status: int = 200) -> T:
    """``decode`` through the cattrs converter only (the reference the fast path matches)."""
    # The error is raised after the except blocks, not inside them: ``from None`` only
    # hides the context, and cattrs' exception (which quotes the offending value, maybe a
    # token a hostile server put in a field) would stay reachable as __context__.
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path=cls.__name__)
        first = problems[0] if problems else str(exc)
        field = first.rsplit("@ ", 1)[-1] if "@ " in first else cls.__name__
        message = f"Zuora's response does not fit {cls.__name__}: {'; '.join(problems)}"
    except (TypeError, ValueError, AttributeError) as exc:
        field = "body"
        message = f"Zuora's response does not fit {cls.__name__}: {exc}"
    raise ResponseDecodeError(message, field=field, status=status)


def decode(data: Any, cls: type[T], *, status: int = 200) -> T:
    """``data`` as a ``cls`` record, or ``ResponseDecodeError`` naming the first bad field."""
    fast = _fast_path(cls)
    if fast is not None:
        record = fast(data)
        if record is not None:
            return record  # type: ignore[no-any-return]
    return decode_slow(data, cls, status=status)
