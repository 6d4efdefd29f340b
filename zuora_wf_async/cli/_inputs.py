"""Batch input: one run per row of a ``.jsonl`` or ``.csv`` file, read lazily.

A row's number is its line number in the file, as an editor shows it: in a JSONL file the
first line is row 1 (blank lines are skipped but keep their numbers); in a CSV file the
header is line 1, so the first data row is row 2 (a quoted value spanning lines numbers
its row by the line it starts on). A bad row is not an exception: it is a :class:`Row`
with a ``problem``, so one typo fails one row, with its number, and never the batch.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from zuora_wf_async import InvalidRequestError
from zuora_wf_async._core.requests import encode_params

from ._config import UsageError

__all__ = ["InputFile", "Row", "canonical_json", "open_input"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@attrs.frozen
class Row:
    """One input row: its ``params``, or the ``problem`` that keeps it from being sent."""

    number: int
    params: dict[str, Any] | None = None
    problem: str | None = None


def canonical_json(params: dict[str, Any]) -> str:
    """The row's parameters as one stable text: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _checked(number: int, params: object) -> Row:
    if not isinstance(params, dict):
        return Row(number, problem=f"expected a JSON object, got {type(params).__name__}")
    try:
        # The library's own check: reserved names, size, values JSON cannot carry (NaN).
        encode_params(params)
    except InvalidRequestError as exc:
        return Row(number, problem=str(exc))
    return Row(number, params=params)


@attrs.frozen
class InputFile:
    """A readable, UTF-8 input file; :meth:`rows` may be called any number of times."""

    path: Path
    format: str
    sha256: str

    def rows(self) -> Iterator[Row]:
        if self.format == "jsonl":
            return self._jsonl_rows()
        return self._csv_rows()

    def count(self) -> int:
        """How many rows :meth:`rows` yields, for a progress total (one more cheap pass)."""
        if self.format == "jsonl":
            with self.path.open("rb") as file:
                return sum(1 for line in file if line.strip())
        with self.path.open(encoding="utf-8-sig", newline="") as file:
            return max(0, sum(1 for record in csv.reader(file) if record) - 1)

    def _jsonl_rows(self) -> Iterator[Row]:
        with self.path.open(encoding="utf-8-sig") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    params = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Row(number, problem=f"not valid JSON ({exc.msg} at column {exc.colno})")
                    continue
                except RecursionError:
                    yield Row(number, problem="not valid JSON (nested too deeply)")
                    continue
                yield _checked(number, params)

    def _csv_rows(self) -> Iterator[Row]:
        with self.path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            header: list[str] | None = None
            line = 0
            for record in reader:
                number, line = line + 1, reader.line_num
                if not record:
                    continue
                if header is None:
                    header = [name.strip() for name in record]
                    self._check_header(header)
                    continue
                if len(record) != len(header):
                    yield Row(
                        number,
                        problem=f"has {len(record)} values but the header has {len(header)}",
                    )
                    continue
                yield _checked(number, dict(zip(header, record, strict=True)))

    def _check_header(self, header: list[str]) -> None:
        if any(not name for name in header):
            raise UsageError(f"{self.path}: the CSV header has an empty column name")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise UsageError(f"{self.path}: the CSV header repeats {', '.join(duplicates)}")


def open_input(path: Path) -> InputFile:
    """Check ``path`` is a readable UTF-8 ``.jsonl``/``.csv`` file and fingerprint it.

    The SHA-256 goes into the journal's header, so a journal is never resumed against an
    input that changed (row numbers would then name different rows).
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path}: unknown input type; use a .jsonl (or .ndjson) or .csv file")
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                digest.update(line)
                try:
                    decoder.decode(line)
                except UnicodeDecodeError:
                    raise UsageError(f"{path}: line {number} is not UTF-8 text") from None
            decoder.decode(b"", final=True)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the file ends in the middle of a UTF-8 character") from None
    found = InputFile(path=path, format=kind, sha256=digest.hexdigest())
    if kind == "csv":
        next(found.rows(), None)  # a bad header is a usage error now, not mid-batch
    return found
