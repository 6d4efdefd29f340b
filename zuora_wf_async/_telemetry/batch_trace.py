"""A batch's telemetry: one parent span, its first items traced, every item counted.

The first :data:`BATCH_TRACED_ITEMS` items run with the batch span as their parent; later
items run with instrumentation suppressed (no span anywhere, aiohttp's included) and are
only counted, and their failures kept as a bounded number of events on the batch span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zuora_wf_async._errors import ZuoraError
from zuora_wf_async._telemetry.hooks import NOTHING_TO_ENTER, BatchTrace
from zuora_wf_async._telemetry.instruments import never_raises

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from zuora_wf_async._telemetry.otel import OpenTelemetry

__all__ = ["BATCH_TRACED_ITEMS", "OtelBatch"]

#: How many items of one batch get their calls traced as children of the batch span.
#: Later items are counted (span attributes, metrics) but build no spans, so a batch of a
#: million rows costs a trace backend as much as one of a hundred.
BATCH_TRACED_ITEMS = 100


class OtelBatch(BatchTrace):
    def __init__(self, owner: OpenTelemetry, span: Span | None, operation: str) -> None:
        self._owner = owner
        self._span = span
        self._operation = operation
        self._done = self._failed = self._failure_events = self._traced = 0

    def item_scope(self, index: int) -> contextlib.AbstractContextManager[object]:
        if self._span is None:
            return NOTHING_TO_ENTER
        if index < BATCH_TRACED_ITEMS:
            self._traced += 1
            return self._attached(self._owner._trace.set_span_in_context(self._span))
        return self._attached(self._owner._context.set_value(self._owner._suppress_key, True))

    @contextlib.contextmanager
    def _attached(self, value: Any) -> Iterator[None]:
        # Attached and detached in the worker that runs the item, in its own context.
        token = self._owner._context.attach(value)
        try:
            yield
        finally:
            self._owner._context.detach(token)

    @never_raises
    def item_done(self, index: int, error: ZuoraError | None) -> None:
        self._done += 1
        outcome = "success" if error is None else "failure"
        if error is not None:
            self._failed += 1
            # Failures of untraced items stay visible, as a bounded number of events.
            span = self._span
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
                        "error.type": type(error).__name__,
                        "zuora.may_have_run": bool(error.may_have_run),
                    },
                )
        self._owner._counters["batch.items"].add(
            1, {"zuora.operation": self._operation, "zuora.outcome": outcome}
        )

    @never_raises
    def end(self) -> None:
        span, self._span = self._span, None  # a second end finds nothing to end
        if span is None:
            return
        if span.is_recording():
            span.set_attribute("zuora.batch.items", self._done)
            span.set_attribute("zuora.batch.failed", self._failed)
            span.set_attribute("zuora.batch.traced_items", self._traced)
        span.end()
