"""``make_converter()``: every rule for turning Zuora's JSON into our records.

- field names: Zuora's run records are camelCase (``originalWorkflowId``); ours are snake_case;
- timestamps: ``"2019-09-19 18:25:33 UTC"`` on runs, ISO-8601 (``"...T12:35:43.942Z"``) on
  tasks; both decode to aware UTC datetimes;
- ids Zuora types inconsistently (``originalWorkflowId`` is a string in one schema and an
  integer in another) decode from either;
- numbers (``runTime``) decode from a JSON number or numeric text, never from a bool; bools
  (a task's ``instance``) only from JSON booleans;
- unknown extra fields are ignored; an unknown status keeps its raw string.

Odd values are read the way a caller can act on: a ``runTime`` that is no duration
(``"NaN"``, infinite, negative) is missing (None), and a negative task count is a count
Zuora left out (0). ``decode`` turns the converter's refusals into ``ResponseDecodeError``
naming the field; there is no second decode path beside it.
"""

from __future__ import annotations

import functools
import math
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

T = TypeVar("T")

_SCALARS = frozenset({int, float, bool, str, datetime, RunStatus, TaskStatus})
# Records whose wire names are camelCase; the rest (tasks) use snake_case on the wire.
_CAMEL_CASE_RECORDS: frozenset[type] = frozenset({WorkflowRun, WorkflowRunDetail})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# Zuora's timestamps have one-second resolution, so a batch decodes the same few strings
# over and over (createdAt usually equals updatedAt); datetimes are immutable, so sharing
# them is safe.
@functools.lru_cache(maxsize=4096)
def _timestamp(value: str) -> datetime:
    """Zuora's ``"YYYY-MM-DD HH:MM:SS UTC"`` or ISO-8601 text as an aware UTC datetime."""
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    elif text.endswith("Z"):
        text = text[:-1]
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _scalar(value: Any, cls: type[Any]) -> Any:
    """``value`` as the leaf type ``cls``, from what JSON would send for it and nothing else.

    One hook for every leaf (cattrs passes the field's type), so a record is read through
    one function of ours, not one per type. A bool is never a number (it is an ``int``
    subclass); a number may come as numeric text (Zuora types some ids as strings); a bool
    only from a JSON boolean (cattrs' default reads "false" as True); a string, a status or
    a timestamp only from text.
    """
    if cls is bool or isinstance(value, bool):
        if cls is bool and isinstance(value, bool):
            return value
        raise TypeError(f"expected {cls.__name__}, got {type(value).__name__}")
    if cls is int:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif cls is float:
        if isinstance(value, int | float | str):
            return float(value)  # ValueError on non-numeric text, reported with the field path
    elif isinstance(value, str):
        return _timestamp(value) if cls is datetime else cls(value)
    raise TypeError(f"expected {cls.__name__}, got {type(value).__name__}")


def _seconds(value: object, _type: object = None) -> float | None:
    """``runTime``: seconds, or None for what is no duration (NaN, infinite, negative)."""
    if value is None:
        return None
    try:
        seconds: float = _scalar(value, float)
    except OverflowError:  # an integer too large for a float: no duration either
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _count(value: object, _type: object = None) -> int:
    """A task count; a negative one is read as a count Zuora left out (0)."""
    count: int = _scalar(value, int)
    return max(count, 0)


# Fields read by a hook of their own rather than their type's.
_FIELD_HOOKS: dict[tuple[type, str], Callable[[object, object], object]] = {
    (WorkflowRunDetail, "run_time"): _seconds,
    **{(TaskCounts, field.name): _count for field in attrs.fields(TaskCounts)},
}


def make_converter() -> cattrs.Converter:
    """A converter holding every decoding hook this package uses."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    for leaf in _SCALARS:
        converter.register_structure_hook(leaf, _scalar)

    def record_hook(cls: type[Any]) -> Callable[[Mapping[str, Any], Any], Any]:
        overrides = {}
        for field in attrs.fields(cls):
            wire = _camel(field.name) if cls in _CAMEL_CASE_RECORDS else field.name
            hook = _FIELD_HOOKS.get((cls, field.name))
            if wire != field.name or hook is not None:
                overrides[field.name] = override(
                    rename=None if wire == field.name else wire, struct_hook=hook
                )
        # mypy cannot tell the overrides from make_dict_structure_fn's own keyword flags.
        return make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    converter.register_structure_hook_factory(
        lambda cls: cls in _CAMEL_CASE_RECORDS or cls is TaskCounts, record_hook
    )
    return converter


# The package's one converter: every record is decoded by it. Other modules register their
# records' hooks on it.
converter: cattrs.Converter = make_converter()


def decode(data: Any, cls: type[T], *, status: int = 200) -> T:
    """``data`` as a ``cls`` record, or ``ResponseDecodeError`` naming the first bad field.

    Only cattrs' own verdicts are turned into the error here (they carry the field's
    path); anything else a body makes fail propagates to the pipeline's one door for
    answers (``_core.responses.read_answer``), which makes it the same ``ResponseDecodeError``.
    """
    # The error is raised after the except block, not inside it: ``from None`` only hides
    # the context, and cattrs' exception (which quotes the offending value, maybe a token
    # a hostile server put in a field) would stay reachable as __context__.
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ResponseDecodeError(
            f"Zuora's response does not fit {cls.__name__}: expected a JSON object, got "
            f"{type(data).__name__}",
            status=status,
        )
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path=cls.__name__)
        first = problems[0] if problems else str(exc)
        field = first.rsplit("@ ", 1)[-1] if "@ " in first else cls.__name__
        message = f"Zuora's response does not fit {cls.__name__}: {'; '.join(problems)}"
    raise ResponseDecodeError(message, field=field, status=status)
