"""OpenTelemetry's hooks: a span per call, a span per attempt, and their metrics.

Built by :func:`~zuora_wf_async._telemetry.resolve.resolve_telemetry` only once
``opentelemetry`` could be imported; this module imports it only for type checking and in
:class:`OpenTelemetry`'s constructor, so importing the package never does. The shape of a
trace is drawn in the package's docstring (``_telemetry/__init__.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._errors import ZuoraAPIError, ZuoraError
from zuora_wf_async._telemetry.attributes import (
    error_type,
    path_template,
    retry_category,
    run_id_of,
    throttle_kind,
    workflow_id_of,
)
from zuora_wf_async._telemetry.batch_trace import OtelBatch
from zuora_wf_async._telemetry.guard import never_raises
from zuora_wf_async._telemetry.hooks import BatchTrace, Telemetry, WatchedPipeline
from zuora_wf_async._telemetry.instruments import SCOPE, instruments_for, version

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["OpenTelemetry"]

# The package's logger (as guard.py's): a hook's bookkeeping that fails is logged there.
logger = logging.getLogger("zuora_wf_async")


@attrs.define(slots=True)
class _CallTrace:
    """What the hooks of one running call share (a context variable holds it). An attrs
    class: its ``__init__`` is generated, none of ours to run per call."""

    span: Span | None
    metric_attributes: dict[str, Any]
    attempt_span: Span | None = None
    request_id: str | None = None
    status: int | None = None


_CALL: contextvars.ContextVar[_CallTrace | None] = contextvars.ContextVar(
    "zuora_wf_async_call_trace", default=None
)


class OpenTelemetry(Telemetry):
    """Spans and metrics through the OpenTelemetry API (module docstring for the shape)."""

    enabled = True

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        propagate_trace_context: bool,
        base_url: str,
        clock: Callable[[], float],
    ) -> None:
        from opentelemetry import context, metrics, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._context = context
        self._trace = trace
        # W3C trace context only (traceparent, tracestate): never the global propagator's
        # baggage, which may carry the application's own values to Zuora.
        self._propagator = TraceContextTextMapPropagator()
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR
        self._tracer = trace.get_tracer(SCOPE, version(), tracer_provider)
        self._instruments = instruments_for(meter_provider or metrics.get_meter_provider())
        self.propagates = propagate_trace_context
        self._clock = clock
        # The standard "suppress instrumentation" key: honoured here (a batch's untraced
        # items, or a caller's own suppression) and by aiohttp's instrumentation.
        self._suppress_key = getattr(context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
        parts = urlsplit(base_url)
        self._server: dict[str, Any] = {"server.address": parts.hostname or ""}
        if parts.port is not None:
            self._server["server.port"] = parts.port
        else:
            self._server["server.port"] = 443 if parts.scheme == "https" else 80

    # -- gauges ---------------------------------------------------------------------------

    def watch(self, pipeline: WatchedPipeline) -> None:
        try:
            self._instruments.pipelines[pipeline] = dict(self._server)
        except TypeError:  # pragma: no cover -- not weakly referenceable: no gauges
            return

    # -- a call ---------------------------------------------------------------------------

    def _suppressed(self) -> bool:
        return self._suppress_key is not None and bool(self._context.get_value(self._suppress_key))

    @contextlib.contextmanager
    def call_scope(self, call: Any) -> Iterator[None]:
        """The call's span (current while the call runs, so attempts are its children)
        and, at its end, the call's metrics. Without an SDK (or sampled out) no span is
        kept, and this is the whole cost: the metrics go to the API's no-op meter."""
        operation = call.operation
        state = _CallTrace(None, {"zuora.operation": operation})
        token = None
        if not (self._suppress_key is not None and self._context.get_value(self._suppress_key)):
            prepared = call.prepared
            attributes: dict[str, Any] = {"zuora.operation": operation, **self._server}
            workflow_id = call.workflow_id
            if workflow_id is None:  # the Workflow API's definition operations
                workflow_id = workflow_id_of(prepared.path)
            if workflow_id is not None:
                attributes["zuora.workflow.id"] = workflow_id
            if prepared.track_id is not None:
                attributes["zuora.track_id"] = prepared.track_id
            span = self._tracer.start_span(operation, attributes=attributes)
            if span.is_recording():
                state.span = span
                token = self._context.attach(self._trace.set_span_in_context(span))
        reset = _CALL.set(state)
        started = self._clock()
        error: BaseException | None = None
        try:
            yield
        except BaseException as failure:
            error = failure
            raise
        finally:
            _CALL.reset(reset)
            if token is not None:
                self._context.detach(token)
            try:
                if state.span is not None:
                    self._end_span(state, call, error)
            finally:
                try:  # bookkeeping never fails a request
                    metric = state.metric_attributes
                    metric["zuora.outcome"] = "success" if error is None else "failure"
                    if error is not None:
                        metric["error.type"] = error_type(error)
                    self._instruments.requests.add(1, metric)
                    self._instruments.duration.record(self._clock() - started, metric)
                except Exception:
                    logger.exception("OpenTelemetry bookkeeping failed; the request goes on")

    @never_raises
    def _end_span(self, state: _CallTrace, call: Any, error: BaseException | None) -> None:
        span = state.span
        assert span is not None  # noqa: S101 -- only called with a span
        try:
            span.set_attribute("zuora.attempts", call.attempts)
            run_id = run_id_of(call.prepared.path, call.value)
            if run_id is not None:
                span.set_attribute("zuora.run.id", run_id)
            if state.request_id is not None:
                span.set_attribute("zuora.request_id", state.request_id)
            if state.status is not None:
                span.set_attribute("http.response.status_code", state.status)
            if error is not None:
                span.set_attribute("error.type", error_type(error))
                # The loop sets error.may_have_run after this span ends; the call knows it.
                span.set_attribute("zuora.may_have_run", bool(call.maybe_ran))
                span.set_status(self._status(self._error, error_type(error)))
        finally:
            span.end()

    # -- an attempt -----------------------------------------------------------------------

    @contextlib.contextmanager
    def attempt_scope(self, call: Any) -> Iterator[None]:
        """The attempt's span (with a call span to be its parent), what its answer said
        (``call.raw``), and the attempt and throttle counters."""
        state = _CALL.get()
        span = None
        token = None
        if state is not None and state.span is not None:  # an SDK records this call
            span = state.attempt_span = self._attempt_span(call)
            token = self._context.attach(self._trace.set_span_in_context(span))
        error: BaseException | None = None
        try:
            yield
        except BaseException as failure:
            error = failure
            if span is not None:
                self._attempt_failed(span, failure)
            raise
        finally:
            if token is not None:
                self._context.detach(token)
            raw: RawResponse | None = call.raw
            try:  # bookkeeping never fails a request
                metric: dict[str, Any] = {
                    "zuora.operation": call.operation,
                    "http.request.method": call.prepared.method,
                }
                if error is None:
                    if raw is not None:
                        metric["http.response.status_code"] = raw.status
                    self._instruments.attempts.add(1, metric)
                elif isinstance(error, ZuoraError):  # a cancellation is no attempt's end
                    self._instruments.attempts.add(1, {**metric, **self._error_metric(error)})
                if raw and state and (raw.status == 429 or state.span is not None):
                    self._answered(state, call.operation, raw)
            except Exception:
                logger.exception("OpenTelemetry bookkeeping failed; the request goes on")
            finally:
                if span is not None and state is not None:
                    state.attempt_span = None
                    span.end()

    def _error_metric(self, error: ZuoraError) -> dict[str, Any]:
        metric: dict[str, Any] = {"error.type": self._attempt_error_type(error)}
        if isinstance(error, ZuoraAPIError) and error.status:
            metric["http.response.status_code"] = error.status
        return metric

    def _attempt_failed(self, span: Span, error: BaseException) -> None:
        if span.is_recording():
            span.set_attribute("error.type", self._attempt_error_type(error))
            span.set_status(self._status(self._error, error_type(error)))

    def _attempt_span(self, call: Any) -> Span:
        prepared = call.prepared
        template = path_template(prepared.path)
        attributes: dict[str, Any] = {
            "http.request.method": prepared.method,
            "url.path": prepared.path,
            "url.template": template,
            **self._server,
            "zuora.attempt": call.attempts,
        }
        if call.attempts > 1:
            attributes["http.request.resend_count"] = call.attempts - 1
        return self._tracer.start_span(
            f"{prepared.method} {template}", kind=self._trace.SpanKind.CLIENT, attributes=attributes
        )

    def _answered(self, state: _CallTrace, operation: str, raw: RawResponse) -> None:
        """An answer on the spans (with an SDK) and a 429 in the throttle counter."""
        state.status = raw.status
        state.request_id = request_id = raw.request_id
        if raw.status == 429:
            self._instruments.throttled.add(
                1, {"zuora.operation": operation, "zuora.throttle.kind": throttle_kind(raw)}
            )
        span = state.attempt_span
        if span is not None and span.is_recording():
            span.set_attribute("http.response.status_code", raw.status)
            if request_id is not None:
                span.set_attribute("zuora.request_id", request_id)
            if raw.status == 429:
                span.set_attribute("zuora.throttle.kind", throttle_kind(raw))

    @staticmethod
    def _attempt_error_type(error: BaseException) -> str:
        # HTTP conventions: the status code as a string for an error status.
        if isinstance(error, ZuoraAPIError) and error.status:
            return str(error.status)
        return error_type(error)

    @never_raises
    def sending(self, headers: MutableMapping[str, str]) -> None:
        self._propagator.inject(headers)

    @never_raises
    def retrying(self, reason: str, delay: float, error: ZuoraError) -> None:
        state = _CALL.get()
        category = retry_category(error)
        operation = state.metric_attributes["zuora.operation"] if state else "unknown"
        self._instruments.retries.add(
            1, {"zuora.operation": operation, "zuora.retry.reason": category}
        )
        span = state.span if state is not None else None
        if span is not None and span.is_recording():
            span.add_event(
                "zuora.retry",
                {
                    "zuora.retry.reason": category,
                    "zuora.retry.detail": reason,
                    "zuora.retry.delay": delay,
                    "error.type": self._attempt_error_type(error),
                },
            )

    @contextlib.contextmanager
    def span(self, operation: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
        if self._suppressed():
            yield
            return
        span = self._tracer.start_span(
            operation, attributes={"zuora.operation": operation, **(attributes or {})}
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            yield
        except BaseException as error:
            # Not record_exception: a message names the request, its key included.
            if span.is_recording():
                span.set_attribute("error.type", error_type(error))
                span.set_status(self._status(self._error, error_type(error)))
            raise
        finally:
            self._context.detach(token)
            span.end()

    # -- a batch --------------------------------------------------------------------------

    def batch(
        self, operation: str, *, workflow_id: object, window: int, total: int | None
    ) -> BatchTrace:
        span = None
        if not self._suppressed():
            attributes: dict[str, Any] = {
                "zuora.operation": operation,
                "zuora.batch.window": window,
                **self._server,
            }
            # Checked per item by the starter; a bad id fails every item, not this span.
            if isinstance(workflow_id, int) and not isinstance(workflow_id, bool):
                attributes["zuora.workflow.id"] = workflow_id
            if total is not None:
                attributes["zuora.batch.total"] = total
            span = self._tracer.start_span(operation, attributes=attributes)
            if not span.is_recording():  # no SDK, or sampled out: nothing to parent
                span = None
        return OtelBatch(self, span, operation)
