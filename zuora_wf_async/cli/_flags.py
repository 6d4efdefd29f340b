"""Flags renamed so that one name has one meaning; the old spelling works for one release.

``--timeout`` meant the wait limit in ``run`` and ``wait`` but seconds per HTTP attempt in
``batch`` (which waited with ``--wait-timeout``). Now the wait limit is ``--wait-timeout``
and the attempt limit ``--request-timeout`` everywhere; ``--timeout`` still works, with
its old meaning in each command, and warns with one line on stderr when used.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ["add_renamed", "deprecation_warnings", "spelled"]

# The namespace attribute where each renamed flag records the spelling it was given as.
_SPELLINGS = "_flag_spellings"
GOES = "the old name goes in the next release"


class _Renamed(argparse.Action):
    """Stores the value like ``store`` and remembers which spelling was typed."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        spellings = dict(getattr(namespace, _SPELLINGS, {}))
        spellings[self.dest] = (option_string, self.option_strings[0])
        setattr(namespace, _SPELLINGS, spellings)


def add_renamed(
    parser: argparse.ArgumentParser | Any, name: str, old: str, *, help: str, **options: Any
) -> None:
    """``name`` with ``old`` as its deprecated alias (documented in the help text)."""
    parser.add_argument(
        name,
        old,
        action=_Renamed,
        help=f"{help}; {old} is its deprecated old name ({GOES})",
        **options,
    )


def spelled(args: argparse.Namespace, dest: str) -> str | None:
    """The option string ``dest`` was given as (None when it was not given)."""
    given = getattr(args, _SPELLINGS, {}).get(dest)
    return given[0] if given else None


def deprecation_warnings(args: argparse.Namespace) -> list[str]:
    """One line per deprecated spelling used, naming the new one."""
    return [
        f"warning: {typed} is deprecated, use {name} (same meaning here); {GOES}"
        for typed, name in getattr(args, _SPELLINGS, {}).values()
        if typed != name
    ]
