"""What the fake saw and did: requests received, runs created, faults injected.

These records are the evidence a test asserts on, so they are frozen: a test cannot
accidentally edit history. The fake replaces a request's record once its answer is known
(``status``), keeping its place in arrival order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, overload

import attrs

__all__ = ["Execution", "Headers", "Incoming", "InjectedFault", "RecordedRequest"]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive view of HTTP headers that keeps the names as sent.

    Iteration yields the original spelling; lookups ignore case. A header sent twice is
    joined with ``", "`` on lookup (RFC 9110 field combination); :meth:`getall` gives each.
    """

    __slots__ = ("_index", "_sent")

    def __init__(self, items: Mapping[str, str] | tuple[tuple[str, str], ...] = ()) -> None:
        pairs = tuple(items.items()) if isinstance(items, Mapping) else tuple(items)
        # Kept as a dict of strings when no name repeats exactly (the usual case), else as
        # the pairs. The fake keeps two of these per request it records, and a dict of
        # strings is invisible to the garbage collector, where a tuple per header is not
        # until a collection has looked at it: in a batch of thousands of requests those
        # tuples were most of what triggered the fake's collections, each a pause of every
        # request in flight.
        sent = dict(pairs)
        self._sent: dict[str, str] | tuple[tuple[str, str], ...] = (
            sent if len(sent) == len(pairs) else pairs
        )
        self._index: dict[str, str] | None = None

    @property
    def _items(self) -> tuple[tuple[str, str], ...]:
        sent = self._sent
        return tuple(sent.items()) if isinstance(sent, dict) else sent

    def _lookup(self) -> dict[str, str]:
        # Lower-cased and joined once, on the first lookup: the fake asks about ten headers
        # of every request, and scanning every pair for each was a good part of its time per
        # request. Joined strings, not a list per name: again nothing for the collector.
        index = self._index
        if index is None:
            index = {}
            sent = self._sent
            for key, value in sent.items() if isinstance(sent, dict) else sent:
                lower = key.lower()
                earlier = index.get(lower)
                index[lower] = value if earlier is None else f"{earlier}, {value}"
            self._index = index
        return index

    def getall(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def items_as_sent(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __getitem__(self, name: str) -> str:
        value = self._lookup().get(name.lower())
        if value is None:
            raise KeyError(name)
        return value

    @overload  # type: ignore[override]
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._lookup().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._items:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len({key.lower() for key, _ in self._items})

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return {k.lower(): v for k, v in self.items()} == {
                str(k).lower(): v for k, v in other.items()
            }
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to dicts, so it must not hash


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One HTTP request as received, including rejected and faulted ones.

    ``body`` is the decoded body: gunzipped when ``Content-Encoding: gzip``, then parsed as a
    form (``application/x-www-form-urlencoded``) or JSON; ``None`` when absent or undecodable.
    ``status`` is the status answered, ``None`` while in flight or when the connection was
    dropped on purpose; ``response_headers`` are the headers the fake set (``Content-Encoding``
    among them), ``None`` likewise. ``fault`` names the injected fault kind, if any.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    raw_body: bytes
    body: Any
    content_encoding: str | None
    received_at: float
    endpoint: str
    request_id: str
    status: int | None = None
    response_headers: Headers | None = None
    fault: str | None = None

    def header(self, name: str) -> str | None:
        """The header's value, matched without regard to case; ``None`` when absent."""
        return self.headers.get(name)


@attrs.frozen(kw_only=True)
class Execution:
    """A workflow run the fake actually created: the thing idempotency must not duplicate."""

    run_id: int
    workflow_id: int
    params: Mapping[str, Any]
    idempotency_key: str | None
    track_id: str | None
    created_at: float


@attrs.frozen(kw_only=True)
class InjectedFault:
    """One fault the fault plan injected, for chaos-test reports (see ``fault_counts()``)."""

    kind: str
    endpoint: str
    request_index: int
    at: float


@attrs.frozen(kw_only=True)
class Incoming:
    """A request as the fake received it, before anything was checked."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    raw_body: bytes
    # Every (name, value) in order: a repeated name (``tags[]``) appears once per value.
    query_pairs: tuple[tuple[str, str], ...] = ()
    # The event loop's time (``loop.time()``) when the request arrived: a run's ``latency``
    # counts from here, so the time spent reading and checking it is part of the latency,
    # not added to it. None: from when the run's work starts.
    arrived_at: float | None = None
