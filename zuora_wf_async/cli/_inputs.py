"""Batch input: one run per row of a ``.jsonl`` or ``.csv`` file, read lazily, and its keys.

A row's number is its line number in the file, as an editor shows it: in a JSONL file the
first line is row 1 (blank lines are skipped but keep their numbers); in a CSV file the
header is line 1, so the first data row is row 2. Every row is one line, in CSV too: a
value may be quoted (``"A-1, Inc"``, a quote inside doubled) but cannot span lines. A row
that cannot be read (not UTF-8, not JSON, a ``"`` left open or stray, a value over csv's
field limit, text JSON cannot carry such as a lone surrogate ``"\\ud800"``) is not an
exception: it is a :class:`Row` with a ``problem``, so one bad row fails alone, with its
number, and never the batch nor the rows after it.

Keys (:class:`KeyScheme`) come from what a row *is*, never from where it sits: the
values of ``--key-column``s, a ``--key-template``, or by default the workflow id with the
row's whole content. Reordering, inserting or deleting rows changes no other row's key.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import stat
import string
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from zuora_wf_async import InvalidRequestError, derive_key
from zuora_wf_async._core.bodies import MAX_BODY_BYTES, encode_params

from ._config import UsageError

__all__ = [
    "InputFile",
    "KeyScheme",
    "Row",
    "canonical_json",
    "check_params",
    "open_input",
    "regular_file",
]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
KEY_NAMESPACE = "zuora-wf"


@attrs.define  # not frozen: built once per input row, and frozen inits cost twice
class Row:
    """One input row: its ``params``, or the ``problem`` that keeps it from being sent."""

    number: int
    params: dict[str, Any] | None = None
    problem: str | None = None


def canonical_json(params: object) -> str:
    """The row's parameters as one stable text: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_params(params: dict[str, Any]) -> str | None:
    """Why Zuora could not be sent ``params`` (the library's own check), or None."""
    try:
        # Reserved names, size, values JSON cannot carry (NaN, lone surrogates).
        encode_params(params)
    except InvalidRequestError as exc:
        return str(exc)
    except UnicodeError:
        return "holds text that is not valid Unicode (a lone surrogate such as \\ud800)"
    except (ValueError, TypeError, RecursionError) as exc:
        return f"cannot be encoded as JSON ({type(exc).__name__})"
    return None


def _as_row(number: int, params: object) -> Row:
    if not isinstance(params, dict):
        return Row(number, problem=f"expected a JSON object, got {type(params).__name__}")
    return Row(number, params=params)


class RowKeyError(Exception):
    """This row has no key under the scheme (a key column is missing or empty)."""


def _template_fields(template: str) -> tuple[str, ...]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"--key-template {template!r}: {exc}") from None
    fields: list[str] = []
    for _text, field, _spec, _conversion in parsed:
        if field is None:
            continue
        if not field or field.isdigit() or any(mark in field for mark in ".[]"):
            raise UsageError(
                f"--key-template {template!r}: {{{field}}} is not a column name; "
                'write columns as {accountId}, e.g. --key-template "{accountId}:{cycle}"'
            )
        fields.append(field)
    if not fields:
        raise UsageError(
            f"--key-template {template!r} names no column, so every row would share one "
            'key; e.g. --key-template "{accountId}:{cycle}"'
        )
    return tuple(fields)


def _text(value: object) -> str:
    return value if isinstance(value, str) else canonical_json(value)


@attrs.frozen(kw_only=True)
class KeyScheme:
    """How a row's Idempotency-Key is made: from columns, a template, or its content.

    ``key = derive_key("zuora-wf", [batch_id,] workflow_id, identity)``, where the
    identity is the key columns' values, the filled-in template, or (by default) the
    canonical JSON of the whole row. Rows with one identity are one run.
    """

    workflow_id: int
    batch_id: str | None = None
    columns: tuple[str, ...] = ()
    template: str | None = None

    @classmethod
    def from_flags(
        cls,
        workflow_id: int,
        batch_id: str | None,
        columns: Sequence[str] | None,
        template: str | None,
    ) -> KeyScheme:
        if columns and template is not None:
            raise UsageError("pass --key-column or --key-template, not both")
        names = tuple(name.strip() for name in columns or ())
        if any(not name for name in names):
            raise UsageError("--key-column needs a column name")
        if template is not None:
            _template_fields(template)
        return cls(workflow_id=workflow_id, batch_id=batch_id, columns=names, template=template)

    @property
    def name(self) -> str:
        """How the journal's header records the scheme: resumes must match it."""
        if self.columns:
            return "columns:" + ",".join(self.columns)
        if self.template is not None:
            return "template:" + self.template
        return "content"

    @property
    def by_content(self) -> bool:
        return not self.columns and self.template is None

    def identity(self, params: dict[str, Any]) -> str:
        """The row's business identity; :class:`RowKeyError` if the row lacks a part."""
        if self.columns:
            parts = []
            for column in self.columns:
                value = params.get(column)
                if value is None or value == "":
                    raise RowKeyError(f"has no value in key column {column!r}")
                parts.append(_text(value))
            return "\x1f".join(parts)
        if self.template is not None:
            try:
                return self.template.format_map({k: _text(v) for k, v in params.items()})
            except KeyError as exc:
                raise RowKeyError(f"has no {exc.args[0]!r} for --key-template") from None
            except (ValueError, TypeError) as exc:
                raise RowKeyError(f"cannot fill --key-template: {exc}") from None
        return canonical_json(params)

    def key(self, identity: str) -> str:
        namespace = (KEY_NAMESPACE, self.batch_id) if self.batch_id else (KEY_NAMESPACE,)
        # Joined and split on \x1f, the character derive_key joined parts with before it
        # encoded them unambiguously: every key a journal holds is derived again unchanged.
        parts = "\x1f".join((*namespace, str(self.workflow_id), identity)).split("\x1f")
        try:
            return derive_key(*parts)
        except (UnicodeError, InvalidRequestError):
            raise RowKeyError("holds text that is not valid Unicode (a lone surrogate)") from None

    def shown(self, identity: str) -> str:
        """The identity as an operator reads it (columns joined by commas)."""
        return identity.replace("\x1f", ", ")


@attrs.frozen
class InputFile:
    """A readable input file; :meth:`rows` may be called any number of times."""

    path: Path
    format: str

    def rows(self) -> Iterator[Row]:
        if self.format == "jsonl":
            return self._jsonl_rows()
        return self._csv_rows()

    def count(self) -> int:
        """How many rows :meth:`rows` yields, for a progress total (one more cheap pass)."""
        if self.format == "jsonl":
            with self.path.open("rb") as file:
                return sum(1 for line in file if line.strip())
        return max(0, sum(1 for _line in self._csv_lines()) - 1)

    def sha256(self) -> str:
        """The file's digest, recorded in the journal's header for the record only."""
        digest = hashlib.sha256()
        with self.path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def _jsonl_rows(self) -> Iterator[Row]:
        with self.path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    yield Row(number, problem="is not UTF-8 text")
                    continue
                try:
                    params = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Row(number, problem=f"not valid JSON ({exc.msg} at column {exc.colno})")
                    continue
                except RecursionError:
                    yield Row(number, problem="not valid JSON (nested too deeply)")
                    continue
                yield _as_row(number, params)

    def _csv_lines(self) -> Iterator[tuple[int, str | None]]:
        """Each non-blank line with its number; None for a line too long to be a row.

        The file is split into lines *before* csv reads them: csv's own reader lets a
        ``"`` that never closes swallow every line after it into one value (a 21-row
        file sent 4 runs). surrogateescape: a byte that is not UTF-8 becomes a marker the
        row check finds, so a bad line fails alone instead of ending the read.
        """
        with self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as file:
            number = 0
            while line := file.readline(MAX_LINE):
                number += 1
                if len(line) == MAX_LINE and not line.endswith(("\n", "\r")):
                    while (rest := file.readline(MAX_LINE)) and not rest.endswith(("\n", "\r")):
                        pass  # the rest of an overlong line: skipped, never held whole
                    yield number, None
                elif line not in BLANK_LINES:
                    yield number, line

    def _csv_rows(self) -> Iterator[Row]:
        header: list[str] | None = None
        for number, line in self._csv_lines():
            values = TOO_LONG if line is None else _csv_values(line)
            if header is None:
                header = self._check_header(number, values)
                continue
            if isinstance(values, str):
                yield Row(number, problem=values)
            elif len(values) != len(header):
                yield Row(
                    number, problem=f"has {len(values)} values but the header has {len(header)}"
                )
            elif any(_escaped(value) for value in values):
                yield Row(number, problem="is not UTF-8 text")
            else:
                yield Row(number, params=dict(zip(header, values, strict=True)))

    def _check_header(self, number: int, values: list[str] | str) -> list[str]:
        if isinstance(values, str):
            raise UsageError(f"{self.path}: line {number} (the CSV header) {values}")
        header = [name.strip() for name in values]
        if any(_escaped(name) for name in header):
            raise UsageError(f"{self.path}: the CSV header is not UTF-8 text")
        if any(not name for name in header):
            raise UsageError(f"{self.path}: the CSV header has an empty column name")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise UsageError(f"{self.path}: the CSV header repeats {', '.join(duplicates)}")
        return header


_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode

# A CSV line is values separated by commas, each either quoted ("...", a quote inside
# doubled) or holding no quote at all. Anything else (a quote left open, a quote inside an
# unquoted value, text after a closing quote) is refused, not guessed at. The pattern is
# unambiguous, so a line that fails it fails in linear time.
_VALUE = r'(?:"(?:[^"]|"")*"|[^",\r\n]*)'
_WELL_QUOTED = re.compile(rf"{_VALUE}(?:,{_VALUE})*(?:\r\n|\r|\n)?")
BLANK_LINES = ("\n", "\r\n", "\r")
QUOTE_PROBLEM = (
    'has a " that is not closed, or not doubled inside a quoted value: a value cannot '
    'span lines, and a " inside one is written "5"" screen"'
)
# A longer line would make a run body over Zuora's 5 MB limit (JSON adds to every value).
MAX_LINE = MAX_BODY_BYTES
TOO_LONG = f"is longer than {MAX_LINE:,} characters, over Zuora's 5 MB limit for a run"


def _csv_values(line: str) -> list[str] | str:
    """The values of one CSV line, or why it has none."""
    if '"' in line and _WELL_QUOTED.fullmatch(line) is None:
        return QUOTE_PROBLEM
    try:
        return next(csv.reader((line,)), [])
    except csv.Error:  # the line is well quoted, so only a value over the field limit
        return (
            f"has a value over {csv.field_size_limit():,} characters, more than a CSV value "
            "may hold here; put long values in a .jsonl input"
        )


def _escaped(text: str) -> bool:
    return _UNDECODED.search(text) is not None


def regular_file(path: Path, name: str, *, must_exist: bool) -> None:
    """:class:`UsageError` unless ``path`` is a regular file (or, if allowed, absent).

    The files checked are read whole or more than once, so a device (``/dev/zero`` never
    ends), a folder or a pipe cannot stand in for one.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if must_exist:
            raise UsageError(f"cannot read {name} {path}: no such file") from None
        return
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read {name} {path!r}: {reason}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"{name} {path}: not a regular file")


def open_input(path: Path) -> InputFile:
    """Check ``path`` is a readable ``.jsonl``/``.csv`` file (a CSV's header too).

    Rows are read later, one by one; a row that is not UTF-8 or not JSON fails alone.
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path}: unknown input type; use a .jsonl (or .ndjson) or .csv file")
    regular_file(path, "--input", must_exist=True)
    try:
        with path.open("rb"):
            pass
        found = InputFile(path=path, format=kind)
        if kind == "csv":
            next(found.rows(), None)  # a bad header is a usage error now, not mid-batch
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return found
