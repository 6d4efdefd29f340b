"""The options ``run_many`` and ``stream_runs`` share, as one record checked in one place.

Both methods take them as keywords (``BatchKeywords`` types them for the caller's type
checker) and build one ``BatchOptions`` from them, so each option's default and check is
written once, here; the fan-out reads the record. Anything wrong raises
``InvalidRequestError`` naming the option and the fix, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import attrs

from zuora_wf_async._batch.journal import BatchJournal
from zuora_wf_async._batch.outcomes import Progress
from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    PollPlan,
)
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import InvalidRequestError

__all__ = ["BatchKeywords", "BatchOptions", "KeyFn", "ProgressFn"]

KeyFn = Callable[[Mapping[str, Any]], str]
ProgressFn = Callable[[Progress], object]


def _check(test: Callable[[Any], bool], problem: str, fix: str) -> Any:
    """An attrs validator raising ``InvalidRequestError`` naming the option."""

    def validate(_record: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not test(value):
            raise InvalidRequestError(attribute.name, f"{problem}, got {shown_value(value)}", fix)

    return validate


def _callable_or_none(fix: str) -> Any:
    return _check(lambda value: value is None or callable(value), "must be callable", fix)


_FLAG = _check(lambda value: isinstance(value, bool), "must be True or False", "pass a bool")


def _count_or_none(least: int, fix: str) -> Any:
    def test(value: object) -> bool:
        return value is None or (
            isinstance(value, int) and not isinstance(value, bool) and value >= least
        )

    return _check(test, f"must be a whole number >= {least} or None", fix)


@attrs.frozen(kw_only=True)
class BatchOptions:
    """How to run a batch; the defaults are what a caller gets by passing nothing.

    ``window``: items read and not yet handed back (None: eight times the client's
    ``max_concurrency``). ``wait``: follow each run to its end
    (``wait_timeout``, ``poll_interval``, ``max_poll_interval`` as for ``wait_for_run``).
    ``total``: the item count handed to ``on_progress`` (taken from ``len(items)`` when it
    has one). ``journal``: resume from a ``BatchJournal``. ``preflight``: check the
    workflow once before the first run. ``key_fn``, ``track_id`` and ``retry`` apply to
    every item.
    """

    key_fn: KeyFn | None = attrs.field(
        default=None, validator=_callable_or_none("pass a function of an item's params, or None")
    )
    track_id: str | None = None  # checked with each item's own (a request header)
    retry: RetryPolicy | None = attrs.field(
        default=None,
        validator=_check(
            lambda value: value is None or isinstance(value, RetryPolicy),
            "must be a RetryPolicy",
            "pass RetryPolicy(max_attempts=..., deadline=...), or None for the client's",
        ),
    )
    on_progress: ProgressFn | None = attrs.field(
        default=None, validator=_callable_or_none("pass a function taking Progress, or None")
    )
    window: int | None = attrs.field(
        default=None, validator=_count_or_none(1, "pass e.g. 64, or None for the default")
    )
    wait: bool = attrs.field(default=False, validator=_FLAG)
    wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL
    total: int | None = attrs.field(
        default=None,
        validator=_count_or_none(0, "pass how many items there are, or None when unknown"),
    )
    journal: BatchJournal | None = attrs.field(
        default=None,
        validator=_check(
            lambda value: value is None or isinstance(value, BatchJournal),
            "must be a BatchJournal",
            "pass BatchJournal.open(path, ...), or None for no journal",
        ),
    )
    preflight: bool = attrs.field(default=True, validator=_FLAG)

    def __attrs_post_init__(self) -> None:
        self.poll_plan()  # the three wait options are checked whether or not wait is set

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, object]) -> BatchOptions:
        """The record from a caller's keywords; an unknown name is refused, not ignored."""
        for name in keywords:
            if name not in _NAMES:
                raise InvalidRequestError(
                    name,
                    "is not an option of run_many or stream_runs",
                    f"pass only: {', '.join(sorted(_NAMES))}",
                )
        return cls(**keywords)  # type: ignore[arg-type]  # each value checked by its field

    def poll_plan(self) -> PollPlan:
        """How each run is followed when ``wait`` is set."""
        return PollPlan.checked(
            timeout=self.wait_timeout,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
        )


class BatchKeywords(TypedDict, total=False):
    """``BatchOptions``' fields as keywords, for the type checker of a caller of
    ``run_many(..., **options)`` (``tests/client/test_batch_options.py`` keeps the two
    in step)."""

    key_fn: KeyFn | None
    track_id: str | None
    retry: RetryPolicy | None
    on_progress: ProgressFn | None
    window: int | None
    wait: bool
    wait_timeout: float | None
    poll_interval: float
    max_poll_interval: float
    total: int | None
    journal: BatchJournal | None
    preflight: bool


_NAMES = frozenset(field.name for field in attrs.fields(BatchOptions))
