"""What the pipeline and the batch call, and the no-op that answers when nobody listens.

:data:`NO_TELEMETRY` is what a client gets without ``opentelemetry-api``: the call loop does
not enter its hooks at all (``enabled`` is False), and it imports nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from zuora_wf_async._errors import ZuoraError

if TYPE_CHECKING:
    from zuora_wf_async._telemetry.instruments import WatchedPipeline


class BatchTrace:
    """A batch's telemetry; this base does nothing (no OpenTelemetry, or none wanted)."""

    __slots__ = ()

    def item_scope(self, index: int) -> contextlib.AbstractContextManager[object]:
        """Entered around one item's work, in the worker that runs it."""
        return NOTHING_TO_ENTER

    def item_done(self, index: int, error: ZuoraError | None) -> None:
        """An item's outcome was handed back."""

    def end(self) -> None:
        """The batch is over (exhausted, closed or dropped). Safe to call twice."""


#: An item scope that sets nothing: one reusable context manager, no function per item.
NOTHING_TO_ENTER = contextlib.nullcontext()
NO_BATCH = BatchTrace()


class Telemetry:
    """The hooks the pipeline calls. This base is the no-op."""

    # The call loop enters call_scope, attempt_scope and retrying only when enabled, so
    # without OpenTelemetry a call runs no function of this module.
    enabled = False

    def watch(self, pipeline: WatchedPipeline) -> None:
        """Report ``pipeline``'s in-flight requests and adaptive limit (while it lives)."""

    # Whether ``sending`` must see an attempt's headers (a traceparent was asked for).
    propagates = False

    def call_scope(self, call: Any) -> contextlib.AbstractContextManager[object]:
        """Entered around one logical call (retries included): the call's span."""
        return _NOTHING

    def attempt_scope(self, call: Any) -> contextlib.AbstractContextManager[object]:
        """Entered around one attempt (one round trip): the attempt's span."""
        return _NOTHING

    def sending(self, headers: MutableMapping[str, str]) -> None:
        """An attempt's headers, just before it goes out (only when ``propagates``)."""

    def retrying(self, reason: str, delay: float, error: ZuoraError) -> None:
        """The retry loop resends after ``delay`` seconds because of ``error``."""

    def batch(
        self, operation: str, *, workflow_id: object, window: int, total: int | None
    ) -> BatchTrace:
        """The telemetry of one ``run_many``/``stream_runs`` batch."""
        return NO_BATCH

    def span(
        self, operation: str, attributes: Mapping[str, Any] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """A span around an operation made of several calls (``wait_for_run``...), current
        while it runs so that its calls' spans are its children."""
        return contextlib.nullcontext()


NO_TELEMETRY = Telemetry()
_NOTHING = contextlib.nullcontext()
