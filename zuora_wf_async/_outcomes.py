"""What batch calls take and give back: ``RunRequest`` in, ``RunOutcome`` out."""

from __future__ import annotations

import hashlib
import operator
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from zuora_wf_async._errors import InvalidRequestError, ZuoraError
from zuora_wf_async._models import WorkflowRun, WorkflowRunDetail

__all__ = [
    "BatchError",
    "PackedOutcomes",
    "Progress",
    "RunOutcome",
    "RunRequest",
    "derive_key",
    "raise_for_failures",
]

# A fixed namespace so that derive_key gives the same key on every machine, forever.
_KEY_NAMESPACE = uuid.UUID("6f1c2a7e-0d55-4f1e-9a51-3c1c7f0b2a90")
# uuid5's hash with the namespace already fed in; each key copies it (SHA-1 is what UUID
# version 5 is defined with, not a security choice).
_NAMESPACE_SHA1 = hashlib.sha1(_KEY_NAMESPACE.bytes, usedforsecurity=False)
# RFC 4122's variant keeps the two low bits of this digit and sets the top two to 10.
_VARIANT_DIGITS = "89ab"


# Parts are joined with this character in the encoding every key so far was made with.
_SEPARATOR = "\x1f"
# The first byte of the unambiguous encoding: never the first byte of valid UTF-8, so it
# can equal no text the first encoding hashed (which is always valid UTF-8).
_TAGGED = b"\xff"
_DERIVE_FIX = (
    "pass the batch's name and the item's identity, e.g. derive_key('backfill', account_id)"
)


def _part_text(part: object, index: int) -> str | None:
    """The text a part is known by, or None for the parts without one (None, bools)."""
    if part is None or isinstance(part, bool):
        return None
    if isinstance(part, str):
        text = str.__str__(part)  # the characters themselves, whatever a subclass says
    else:
        try:
            text = str(part)
        except Exception as exc:  # noqa: BLE001 -- the caller's own __str__
            problem = f"str() of this {type(part).__name__} raised {type(exc).__name__}"
            raise InvalidRequestError(f"parts[{index}]", problem, _DERIVE_FIX) from None
        text = str.__str__(text)  # str() returns a str, maybe a subclass of it
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"parts[{index}]",
            "contains a lone surrogate (not valid UTF-8), so no key can be derived from it",
            "replace it with valid text (it comes from decoding bytes with "
            "errors='surrogateescape' or from a broken JSON escape)",
        ) from None
    return text


def _tagged(parts: tuple[object, ...], texts: list[str | None]) -> bytes:
    """Each part as a type tag, its length and its bytes: no two part lists alike."""
    pieces = [_TAGGED]
    for part, text in zip(parts, texts, strict=True):
        if text is None:
            pieces.append(b"n;" if part is None else b"t;" if part else b"f;")
        else:
            data = text.encode()
            pieces.append(b"s%d:%s" % (len(data), data))
    return b"".join(pieces)


def derive_key(*parts: object) -> str:
    """A deterministic Idempotency-Key from the parts that identify one logical run.

    ``derive_key("backfill-2026-11", account_id)`` is the same string whenever and
    wherever it is computed, so a batch re-run after a crash sends the keys it sent
    before, and Zuora answers with the earlier runs instead of starting new ones.

    A part is known by its text: a str as it is, anything else as ``str(part)``, so
    ``42`` and ``"42"`` name the same item (an account number read from a CSV as text
    and from a database as an int). ``None``, ``True`` and ``False`` have no text of
    their own and are told apart from ``"None"``, ``"True"`` and ``"False"``. Different
    lists of parts give different keys, also when a part holds the ``\x1f`` character.
    Raises ``InvalidRequestError`` for no parts or a part with a lone surrogate.
    """
    if not parts:
        raise InvalidRequestError("parts", "derive_key needs at least one part", _DERIVE_FIX)
    texts = [_part_text(part, index) for index, part in enumerate(parts)]
    if all(text is not None and _SEPARATOR not in text for text in texts):
        # The encoding every key so far was derived with: unambiguous for these parts,
        # and kept so that keys already sent (and recorded in journals) stay the same.
        data = _SEPARATOR.join(texts).encode()  # type: ignore[arg-type]  # no None left
    else:
        data = _tagged(parts, texts)
    digest = hashlib.sha256(data).hexdigest()
    # str(uuid.uuid5(_KEY_NAMESPACE, digest)) without building a UUID (that was 45 % of
    # walking past the done rows of a resumed journal): SHA-1 of namespace + name, its
    # first 32 hex digits with the version digit set to 5 and the variant bits to 10.
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(digest.encode())
    x = sha1.hexdigest()
    variant = _VARIANT_DIGITS[int(x[16], 16) & 0x3]
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{variant}{x[17:20]}-{x[20:32]}"


@attrs.frozen(kw_only=True)
class RunRequest:
    """One item of a batch, when it needs its own key or track id."""

    params: Mapping[str, Any] = attrs.field(factory=dict)
    idempotency_key: str | None = None
    track_id: str | None = None


@attrs.frozen(kw_only=True)
class RunOutcome:
    """What became of one batch item: a run, or the error that ended its attempts.

    ``idempotency_key`` is the key that was sent (or would have been): store it, and a
    later attempt at the same item can reuse it. ``attempts`` counts tries, ``elapsed``
    is seconds from the first try to the end, waits included. ``detail`` is the run's
    final state when the batch was started with ``wait=True``.
    """

    index: int
    params: Mapping[str, Any] = attrs.field(repr=False)
    idempotency_key: str | None
    run: WorkflowRun | None = None
    error: ZuoraError | None = None
    detail: WorkflowRunDetail | None = None
    attempts: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """The run was started (and, when waited for, followed to its end) without error."""
        return self.error is None and self.run is not None

    @property
    def succeeded(self) -> bool:
        """``ok``, and when the run was waited for, it finished with no failed task."""
        return self.ok and (self.detail is None or self.detail.succeeded)


class _RunPacked:
    """Marks an outcome whose ``WorkflowRun`` is packed as its seven fields."""


_RUN_PACKED: Final = _RunPacked()
# Values per outcome: the eight of RunOutcome (``run`` is _RUN_PACKED, or the run itself
# when it is not a plain WorkflowRun) and the seven of its WorkflowRun (None when unpacked).
_PACKED_WIDTH: Final = 15
_BY_INDEX: Final = operator.attrgetter("index")
#: Records ``PackedOutcomes.build`` makes between two yields to the event loop: ~2-3 ms.
RECORDS_PER_STEP: Final = 1_000


class PackedOutcomes:
    """``run_many``'s outcomes kept as plain values until the batch ends, then built into
    records in input order.

    Why not keep the records: every record a batch keeps is a new object for the garbage
    collector, and ``collect()``-ing 5,000 runs with two kept per run (a ``RunOutcome``
    and its ``WorkflowRun``) triggered about 11 gen-0 collections per 1,000 runs instead
    of ~2. Each ran while some 60 requests were in flight, so each traversed their ~5,700
    young objects (~0.8 ms): ~7 µs per run, 5 % of the client's CPU. The collector counts
    allocations minus deallocations since its last run, clamped at 0, and the requests in
    flight swing that count by ~450 on their own, so kept records only had to add the
    other ~250 (~110 runs) to trigger one. Kept as values (ints, strings, datetimes, the
    caller's own ``params``: nothing new for the collector), the batch collects like
    ``iter_runs``; building the records at the end still costs their 2 x 1,000 / 700 =
    2.9 collections per 1,000 runs, but each traverses ~700 objects, not ~5,700. (A
    failed item's error and a ``wait=True`` run's detail stay objects: failures are few,
    and a waited-for batch spends its time polling.)

    The field lists below are spelled out (a loop over ``attrs.fields`` costs twice as
    much per run); ``tests/client/test_fanout_packed.py`` fails when a record gains a
    field they do not carry.
    """

    __slots__ = ("_built", "_values")

    def __init__(self) -> None:
        self._values: list[Any] = []
        self._built: list[RunOutcome] = []

    def __len__(self) -> int:
        return len(self._values) // _PACKED_WIDTH

    def add(self, outcome: RunOutcome) -> None:
        self._pack(
            index=outcome.index,
            params=outcome.params,
            idempotency_key=outcome.idempotency_key,
            error=outcome.error,
            detail=outcome.detail,
            attempts=outcome.attempts,
            elapsed=outcome.elapsed,
            run=outcome.run,
        )

    def add_run(
        self,
        *,
        index: int,
        params: Mapping[str, Any],
        idempotency_key: str | None,
        run: WorkflowRun,
        detail: WorkflowRunDetail | None,
        attempts: int,
        elapsed: float,
    ) -> None:
        """An item whose run started (and, if waited for, ended) without error, packed
        without building its ``RunOutcome`` first: the path of nearly every item, where a
        record built only to be packed would cost more than the packing (~1.4 µs)."""
        self._pack(
            index=index,
            params=params,
            idempotency_key=idempotency_key,
            error=None,
            detail=detail,
            attempts=attempts,
            elapsed=elapsed,
            run=run,
        )

    def _pack(
        self,
        *,
        index: int,
        params: Mapping[str, Any],
        idempotency_key: str | None,
        error: ZuoraError | None,
        detail: WorkflowRunDetail | None,
        attempts: int,
        elapsed: float,
        run: WorkflowRun | None,
    ) -> None:
        # The eight values of a RunOutcome, then its run's seven (see _PACKED_WIDTH).
        self._values += (index, params, idempotency_key, error, detail, attempts, elapsed)
        if type(run) is WorkflowRun:  # not a subclass: it could carry more than seven fields
            self._values += (
                _RUN_PACKED,
                run.id,
                run.name,
                run.original_workflow_id,
                run.status,
                run.created_at,
                run.updated_at,
                run.type,
            )
        else:
            self._values += (run, None, None, None, None, None, None, None)

    def build_in_steps(self) -> Iterator[int]:
        """Build the records from the packed values, last finished first, pausing after
        every ``RECORDS_PER_STEP`` with how many are left: a caller on an event loop
        yields to it there, since a batch's records built in one go would hold the loop
        for ~2-3 µs per run (15 ms for 5,000 runs). Empties the store as it goes, so the
        values and the records are not both held in full at once."""
        while self._values:
            self._build(RECORDS_PER_STEP)
            if self._values:
                yield len(self)

    def _build(self, count: int) -> None:
        values = self._values
        built = self._built
        for _ in range(count):
            if not values:
                return
            (
                index,
                params,
                key,
                error,
                detail,
                attempts,
                elapsed,
                run,
                run_id,
                name,
                original_workflow_id,
                status,
                created_at,
                updated_at,
                run_type,
            ) = values[-_PACKED_WIDTH:]
            del values[-_PACKED_WIDTH:]
            if run is _RUN_PACKED:
                run = WorkflowRun(
                    id=run_id,
                    name=name,
                    original_workflow_id=original_workflow_id,
                    status=status,
                    created_at=created_at,
                    updated_at=updated_at,
                    type=run_type,
                )
            built.append(
                RunOutcome(
                    index=index,
                    params=params,
                    idempotency_key=key,
                    run=run,
                    error=error,
                    detail=detail,
                    attempts=attempts,
                    elapsed=elapsed,
                )
            )

    def records(self) -> list[RunOutcome]:
        """The records built so far, in input order (by ``index``): after
        ``build_in_steps`` ran to its end. Hands the list over: the store is empty after."""
        outcomes, self._built = self._built, []
        # Built from the last finished back; completion order is near input order, which
        # the sort finds in one pass over the reversed list.
        outcomes.reverse()
        outcomes.sort(key=_BY_INDEX)
        return outcomes

    def unpack(self) -> list[RunOutcome]:
        """Every record at once, in input order (off an event loop, or in tests)."""
        for _left in self.build_in_steps():
            pass
        return self.records()


@attrs.frozen(kw_only=True)
class Progress:
    """Handed to ``on_progress`` after every finished item; ``total`` is None when unknown."""

    done: int
    failed: int
    in_flight: int
    total: int | None


class BatchError(ZuoraError, ExceptionGroup[ZuoraError]):
    """Several runs of a batch failed; ``outcomes`` are the failed ones, in input order.

    An ``ExceptionGroup``, so ``except* RateLimitError`` picks out one kind of failure.
    """

    outcomes: tuple[RunOutcome, ...]

    def __new__(cls, message: str, outcomes: Iterable[RunOutcome]) -> BatchError:
        failed = tuple(outcomes)
        errors = [outcome.error for outcome in failed if outcome.error is not None]
        group = super().__new__(cls, message, errors)
        group.outcomes = failed
        return group

    def __init__(self, message: str, outcomes: Iterable[RunOutcome]) -> None:
        super().__init__(message, [o.error for o in self.outcomes if o.error is not None])

    def derive(self, excs: Any) -> BatchError:  # type: ignore[override]  # one narrow type
        # ExceptionGroup.split() builds subgroups through derive(); keep our type and data.
        kept = {id(exc) for exc in excs}
        subset = [o for o in self.outcomes if o.error is not None and id(o.error) in kept]
        return BatchError(self.message, subset)


def raise_for_failures(outcomes: Iterable[RunOutcome]) -> None:
    """Raise ``BatchError`` if any outcome failed; for callers who want fail-fast."""
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        indexes = ", ".join(str(o.index) for o in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise BatchError(f"{len(failed)} run(s) failed: items {indexes}{more}", failed)
