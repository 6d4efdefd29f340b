"""A batch's options, each row with its key, and ``batch --dry-run``: no rich here.

The dry run draws nothing (a line per bad row and a verdict), so it runs where the
``[cli]`` extra is not installed; the batch itself (:mod:`._batch`) draws with rich.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from zuora_wf_async._batch.journal import key_digest

from ._inputs import KeyScheme, Row, RowKeyError, check_params, open_input

__all__ = ["BatchOptions", "Keyed", "dry_run", "keyed"]

SHOWN_DUPLICATES = 10


@attrs.frozen(kw_only=True)
class BatchOptions:
    workflow_id: int
    input: Path
    journal: Path | None
    keys: KeyScheme
    wait: bool = False
    wait_timeout: float | None = 3600.0
    until_pending: bool = False
    retry_failed: bool = False
    preflight: bool = True


@attrs.define
class Keyed:
    """A readable row with its identity and key, or the problem that leaves it without."""

    row: Row
    identity: str | None = None
    key: str | None = None
    problem: str | None = None


def keyed(row: Row, keys: KeyScheme) -> Keyed:
    if row.problem is not None or row.params is None:
        return Keyed(row, problem=row.problem or "no parameters")
    try:
        identity = keys.identity(row.params)
        return Keyed(row, identity, keys.key(identity))
    except RowKeyError as exc:
        return Keyed(row, problem=str(exc))
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. NaN in a content key
        return Keyed(row, problem=f"cannot make its key ({type(exc).__name__})")


def dry_run(options: BatchOptions, say: Callable[[str], object] = print) -> int:
    """Check every row as the client would, send nothing; 1 if any row is bad or shares a key.

    Rows that share a key would start one run between them; the report names them and
    asks for a key column that tells them apart.
    """
    source = open_input(options.input)
    keys = options.keys
    rows = problems = shared = 0
    first_row: dict[bytes, int] = {}  # key digest -> row: a million rows in tens of MB
    for row in source.rows():
        rows += 1
        item = keyed(row, keys)
        problem = item.problem
        if problem is None and item.row.params is not None:
            problem = check_params(item.row.params)
        if problem is not None:
            problems += 1
            say(f"row {row.number}: {problem}")
            continue
        assert item.key is not None  # noqa: S101
        assert item.identity is not None  # noqa: S101
        earlier = first_row.setdefault(key_digest(item.key), row.number)
        if earlier != row.number:
            shared += 1
            if shared <= SHOWN_DUPLICATES:
                who = "the same content" if keys.by_content else keys.shown(item.identity)
                say(
                    f"row {row.number}: shares its key with row {earlier} ({who}): "
                    "the two would start one run"
                )
    if shared > SHOWN_DUPLICATES:
        say(f"... and {shared - SHOWN_DUPLICATES} more rows sharing a key")
    if shared:
        advice = (
            "pass --key-column COL (repeatable) or --key-template naming what makes each "
            "row a separate run"
            if keys.by_content
            else f"the key ({keys.name}) does not tell them apart: add a --key-column"
        )
        say(f"{shared} row(s) share a key with an earlier row; {advice}")
    verdict = f"{problems} bad row(s)" if problems else "every row is valid"
    say(f"dry run: {rows} row(s) checked, {verdict}; nothing was sent")
    return 1 if problems or shared else 0
