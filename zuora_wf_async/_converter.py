"""``make_converter()``: every rule for turning Zuora's JSON into our records.

- field names: Zuora's run records are camelCase (``originalWorkflowId``); ours are snake_case;
- timestamps: ``"2019-09-19 18:25:33 UTC"`` on runs, ISO-8601 (``"...T12:35:43.942Z"``) on
  tasks; both decode to aware UTC datetimes;
- ids Zuora types inconsistently (``originalWorkflowId`` is a string in one schema and an
  integer in another) decode from either;
- numbers (``runTime``) decode from a JSON number or numeric text, never from a bool; bools
  (a task's ``instance``) only from JSON booleans;
- unknown extra fields are ignored; an unknown status keeps its raw string.
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
from zuora_wf_async._models import RunStatus, TaskStatus, WorkflowRun, WorkflowRunDetail

__all__ = ["decode", "make_converter", "parse_timestamp"]

T = TypeVar("T")

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
        return make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]

    converter.register_structure_hook_factory(
        lambda cls: cls in _CAMEL_CASE_RECORDS, camel_case_hook
    )
    return converter


@functools.cache
def _default_converter() -> cattrs.Converter:
    return make_converter()


def decode(data: Any, cls: type[T], *, status: int = 200) -> T:
    """``data`` as a ``cls`` record, or ``ResponseDecodeError`` naming the first bad field."""
    try:
        return _default_converter().structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path=cls.__name__)
        first = problems[0] if problems else str(exc)
        field = first.rsplit("@ ", 1)[-1] if "@ " in first else cls.__name__
        raise ResponseDecodeError(
            f"Zuora's response does not fit {cls.__name__}: {'; '.join(problems)}",
            field=field,
            status=status,
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ResponseDecodeError(
            f"Zuora's response does not fit {cls.__name__}: {exc}", status=status
        ) from None
