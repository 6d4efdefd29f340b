"""What batch calls take and give back: ``RunRequest`` in, ``RunOutcome`` out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._models import WorkflowRun, WorkflowRunDetail

__all__ = ["BatchError", "Progress", "RunOutcome", "RunRequest", "raise_for_failures"]


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

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as it is built (the group's errors come from the outcomes), not by
        # ZuoraError's rule, whose .args here would be the errors, not the outcomes.
        return (BatchError, (self.message, self.outcomes), self.__dict__)

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
