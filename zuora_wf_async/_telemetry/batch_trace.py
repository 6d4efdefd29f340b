"""A batch's telemetry: one parent span, its first items traced, every item counted.

The first :data:`BATCH_TRACED_ITEMS` items run with the batch span as their parent; later
items run with instrumentation suppressed (no span anywhere, aiohttp's included) and are
only counted, and their failures kept as a bounded number of events on the batch span.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._telemetry.attributes import error_type
from zuora_wf_async._telemetry.guard import never_raises
from zuora_wf_async._telemetry.hooks import NOTHING_TO_ENTER, BatchTrace

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from zuora_wf_async._telemetry.otel import OpenTelemetry

__all__ = ["BATCH_TRACED_ITEMS", "OtelBatch"]

#: How many items of one batch get their calls traced as children of the batch span.
#: Later items are counted (span attributes, metrics) but build no spans, so a batch of a
#: million rows costs a trace backend as much as one of a hundred.
BATCH_TRACED_ITEMS = 100


class _Attached:
    """The batch span (or, with None, "suppress instrumentation") as the current context
    while one item runs in a worker; set and reset in that worker's own context."""

    __slots__ = ("_owner", "_span", "_token")

    def __init__(self, owner: OpenTelemetry, span: Span | None) -> None:
        self._owner = owner
        self._span = span
        self._token: object = None

    def __enter__(self) -> None:
        owner = self._owner
        if self._span is not None:
            value = owner._trace.set_span_in_context(self._span)
        else:
            value = owner._context.set_value(owner._suppress_key, True)
        self._token = owner._context.attach(value)

    def __exit__(self, *exc_info: object) -> None:
        self._owner._context.detach(self._token)


class OtelBatch(BatchTrace):
    __slots__ = (
        "_counter",
        "_done",
        "_ended",
        "_failed",
        "_failure_attributes",
        "_failure_events",
        "_owner",
        "_span",
        "_success_attributes",
        "_traced",
    )

    def __init__(self, owner: OpenTelemetry, span: Span | None, operation: str) -> None:
        self._owner = owner
        self._span = span
        self._counter = owner._instruments.batch_items
        self._done = 0
        self._failed = 0
        self._failure_events = 0
        self._traced = 0
        self._ended = False
        self._success_attributes = {"zuora.operation": operation, "zuora.outcome": "success"}
        self._failure_attributes = {"zuora.operation": operation, "zuora.outcome": "failure"}

    def item_scope(self, index: int) -> contextlib.AbstractContextManager[object]:
        span = self._span
        if span is None:
            return NOTHING_TO_ENTER
        owner = self._owner
        if index < BATCH_TRACED_ITEMS:
            self._traced += 1
            return _Attached(owner, span)
        if owner._suppress_key is None:  # pragma: no cover -- an API without the key
            return NOTHING_TO_ENTER
        return _Attached(owner, None)

    def item_done(self, index: int, error: ZuoraError | None) -> None:
        self._done += 1
        if error is not None:
            self._failed += 1
            self._failure_event(index, error)
        self._count(error is None)

    @never_raises
    def _count(self, ok: bool) -> None:
        self._counter.add(1, self._success_attributes if ok else self._failure_attributes)

    @never_raises
    def _failure_event(self, index: int, error: ZuoraError) -> None:
        span = self._span
        # Failures of untraced items stay visible, as a bounded number of events.
        if (
            span is not None
            and index >= BATCH_TRACED_ITEMS
            and self._failure_events < BATCH_TRACED_ITEMS
            and span.is_recording()
        ):
            self._failure_events += 1
            span.add_event(
                "zuora.batch.item_failed",
                {
                    "zuora.batch.index": index,
                    "error.type": error_type(error),
                    "zuora.may_have_run": bool(error.may_have_run),
                },
            )

    @never_raises
    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        span = self._span
        if span is None:
            return
        if span.is_recording():
            span.set_attribute("zuora.batch.items", self._done)
            span.set_attribute("zuora.batch.failed", self._failed)
            span.set_attribute("zuora.batch.traced_items", self._traced)
        span.end()
