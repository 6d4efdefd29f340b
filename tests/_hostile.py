"""Caller values that raise when read, shared by the hostile-input tests (``tests`` is on
pytest's ``pythonpath``, so a test imports this as ``_hostile``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class RaisingMapping(Mapping[str, Any]):
    """A mapping whose iteration raises (a lazy view over a closed database, say)."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("the cursor is closed")


class RaisingList(list[Any]):
    """A list whose iteration raises."""

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("the cursor is closed")
