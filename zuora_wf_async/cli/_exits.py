"""``zuora-wf``'s exit codes, and the error that a file the command writes could not be.

===  ================================================================================
0    everything asked for succeeded
1    a run or a row failed (the summary, the journal or the JSON output says which)
2    a usage error: bad flags or values, unreadable input, missing credentials
3    a file the command writes could not be written (a full disk under the batch
     journal, an ``export --output`` folder that does not exist); the line names it
4    nothing failed, but a run is pending: its tasks wait on an approval, a delay or a
     callout retry (``run --wait``, ``wait``, ``batch --wait``); not a failure, not done
130  interrupted
===  ================================================================================

Each failure is one line on stderr, never a traceback. A journal that cannot be written
is not a failed row: the batch stops at once, since what it sends from then on could not
be resumed, and running the same command again (once the disk has room) resumes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "FAILED",
    "INTERRUPTED",
    "OK",
    "PENDING",
    "USAGE",
    "WRITE_FAILED",
    "FailedError",
    "WriteError",
    "journal_write_error",
    "writing",
]

OK = 0
FAILED = 1
USAGE = 2
WRITE_FAILED = 3
PENDING = 4
INTERRUPTED = 130


class FailedError(Exception):
    """What was asked for failed, part of it perhaps done; one line for stderr (exit 1)."""


class WriteError(Exception):
    """A file the command writes could not be written; one line for stderr (exit 3)."""

    def __init__(self, what: str, path: Path, error: Exception, advice: str = "") -> None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        super().__init__(f"cannot write the {what} {path}: {reason}{advice}")
        self.path = path


def journal_write_error(path: Path, error: OSError) -> WriteError:
    return WriteError(
        "journal",
        path,
        error,
        "; the batch stopped. Make room (or fix the disk), then run the same command again "
        "to resume: rows in flight are re-sent with their recorded keys",
    )


@contextlib.contextmanager
def writing(what: str, path: Path) -> Iterator[None]:
    """Turn an ``OSError`` of the body (or a NUL in the path) into a :class:`WriteError`."""
    try:
        yield
    except (OSError, ValueError) as exc:
        raise WriteError(what, path, exc) from exc
