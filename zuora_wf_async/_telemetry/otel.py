"""OpenTelemetry's hooks: a span per call, a span per attempt, a batch's span, and metrics.

``opentelemetry`` is imported by :func:`resolve_telemetry` and :class:`OpenTelemetry`'s
constructor, when a client is built, never when the package is imported. The shape of a
trace is drawn in ``_telemetry/__init__.py``. Every hook's bookkeeping sits behind a guard:
an SDK or exporter that fails is logged, and the request goes on.
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
from zuora_wf_async._errors import InvalidRequestError, ZuoraAPIError, ZuoraError
from zuora_wf_async._telemetry.attributes import (
    attempt_error_type,
    path_template,
    retry_category,
    run_id_of,
    throttle_kind,
    workflow_id_of,
)
from zuora_wf_async._telemetry.batch_trace import OtelBatch
from zuora_wf_async._telemetry.hooks import NO_TELEMETRY, BatchTrace, Telemetry
from zuora_wf_async._telemetry.instruments import (
    FAILED,
    SCOPE,
    WatchedPipeline,
    instruments_for,
    never_raises,
    version,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["OpenTelemetry", "resolve_telemetry"]

logger = logging.getLogger("zuora_wf_async")


def resolve_telemetry(
    *,
    tracer_provider: object,
    meter_provider: object,
    propagate_trace_context: bool,
    base_url: str,
    clock: Callable[[], float],
) -> Telemetry:
    """OpenTelemetry with the given providers (None: the global ones), or the no-op.

    Without ``opentelemetry-api`` installed this is the no-op, unless a provider was passed
    (then the caller meant it: a typed error says what to install). ``propagate_trace_context``
    was checked with the client's other options (``_options.Settings``).
    """
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        if tracer_provider is not None or meter_provider is not None:
            field = "tracer_provider" if tracer_provider is not None else "meter_provider"
            raise InvalidRequestError(
                field,
                "needs the opentelemetry-api package, which is not installed",
                "install the extra: pip install 'zuora-wf-async[otel]'",
            ) from None
        return NO_TELEMETRY
    for field, provider, expected, example in (
        ("tracer_provider", tracer_provider, trace.TracerProvider, "trace.TracerProvider"),
        ("meter_provider", meter_provider, metrics.MeterProvider, "metrics.MeterProvider"),
    ):
        if provider is not None and not isinstance(provider, expected):
            raise InvalidRequestError(
                field,
                f"expected an opentelemetry {expected.__name__}, got {type(provider).__name__}",
                f"pass e.g. opentelemetry.sdk.{example}(), or None for the global one",
            )
    return OpenTelemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        propagate_trace_context=propagate_trace_context,
        base_url=base_url,
        clock=clock,
    )


@attrs.define
class _CallTrace:
    """What the hooks of one running call share (a context variable holds it)."""

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
        tracer_provider: Any,  # a TracerProvider or None, checked by resolve_telemetry
        meter_provider: Any,  # a MeterProvider or None, likewise
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
        self._tracer = trace.get_tracer(SCOPE, version(), tracer_provider)
        instruments = instruments_for(meter_provider or metrics.get_meter_provider())
        self._instruments = instruments
        self._counters = instruments.counters
        self.propagates = propagate_trace_context
        self._clock = clock
        # The standard "suppress instrumentation" key: honoured here (a batch's untraced
        # items, or a caller's own suppression) and by aiohttp's instrumentation.
        self._suppress_key: str = context._SUPPRESS_INSTRUMENTATION_KEY
        parts = urlsplit(base_url)
        default_port = 443 if parts.scheme == "https" else 80
        self._server = {
            "server.address": parts.hostname or "",
            "server.port": parts.port or default_port,
        }

    def watch(self, pipeline: WatchedPipeline) -> None:
        with contextlib.suppress(TypeError):  # not weakly referenceable: no gauges
            self._instruments.pipelines[pipeline] = dict(self._server)

    def _suppressed(self) -> bool:
        return bool(self._context.get_value(self._suppress_key))

    def _mark_failed(self, span: Span | None, error: BaseException, error_type: str) -> None:
        # Not record_exception, and the status names the type only: a message names the
        # request it failed, its key included.
        if span is not None and span.is_recording():
            span.set_attribute("error.type", error_type)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, type(error).__name__))

    # -- a call ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def call_scope(self, call: Any) -> Iterator[None]:
        """The call's span (current while the call runs, so attempts are its children)
        and, at its end, the call's metrics. Without an SDK (or sampled out) no span is
        kept, and this is the whole cost: the metrics go to the API's no-op meter."""
        state = _CallTrace(None, {"zuora.operation": call.operation})
        token = None
        if not self._context.get_value(self._suppress_key):  # inline: once per call
            prepared = call.prepared
            attributes: dict[str, Any] = {"zuora.operation": call.operation, **self._server}
            workflow_id = call.workflow_id
            if workflow_id is None:  # the Workflow API's definition operations
                workflow_id = workflow_id_of(prepared.path)
            if workflow_id is not None:
                attributes["zuora.workflow.id"] = workflow_id
            if prepared.track_id is not None:
                attributes["zuora.track_id"] = prepared.track_id
            span = self._tracer.start_span(call.operation, attributes=attributes)
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
            if state.span is not None:
                self._end_call_span(state.span, state, call, error)
            try:
                metric = state.metric_attributes
                metric["zuora.outcome"] = "success" if error is None else "failure"
                if error is not None:
                    metric["error.type"] = type(error).__name__
                self._counters["requests"].add(1, metric)
                self._instruments.duration.record(self._clock() - started, metric)
            except Exception:
                logger.exception(FAILED)

    @never_raises
    def _end_call_span(
        self, span: Span, state: _CallTrace, call: Any, error: BaseException | None
    ) -> None:
        try:
            span.set_attribute("zuora.attempts", call.attempts)
            for name, value in (
                ("zuora.run.id", run_id_of(call.prepared.path, call.value)),
                ("zuora.request_id", state.request_id),
                ("http.response.status_code", state.status),
            ):
                if value is not None:
                    span.set_attribute(name, value)
            if error is not None:
                # The loop sets error.may_have_run after this span ends; the call knows it.
                span.set_attribute("zuora.may_have_run", bool(call.maybe_ran))
                self._mark_failed(span, error, type(error).__name__)
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
            self._mark_failed(span, failure, attempt_error_type(failure))
            raise
        finally:
            if token is not None:
                self._context.detach(token)
            raw = call.raw
            try:  # bookkeeping never fails a request
                metric: dict[str, Any] = {
                    "zuora.operation": call.operation,
                    "http.request.method": call.prepared.method,
                }
                if isinstance(error, ZuoraError):
                    metric["error.type"] = attempt_error_type(error)
                    if isinstance(error, ZuoraAPIError) and error.status:
                        metric["http.response.status_code"] = error.status
                elif raw is not None:
                    metric["http.response.status_code"] = raw.status
                if error is None or isinstance(error, ZuoraError):  # a cancellation is no end
                    self._counters["attempts"].add(1, metric)
                if raw is not None and state and (raw.status == 429 or state.span is not None):
                    self._answered(state, call.operation, raw)
            except Exception:
                logger.exception(FAILED)
            finally:
                if span is not None and state is not None:
                    state.attempt_span = None
                    span.end()

    def _answered(self, state: _CallTrace, operation: str, raw: RawResponse) -> None:
        """An answer on the spans (with an SDK) and a 429 in the throttle counter."""
        state.status = raw.status
        state.request_id = raw.request_id
        kind = throttle_kind(raw) if raw.status == 429 else None
        if kind is not None:
            self._counters["throttled"].add(
                1, {"zuora.operation": operation, "zuora.throttle.kind": kind}
            )
        span = state.attempt_span
        if span is not None and span.is_recording():
            span.set_attribute("http.response.status_code", raw.status)
            if raw.request_id is not None:
                span.set_attribute("zuora.request_id", raw.request_id)
            if kind is not None:
                span.set_attribute("zuora.throttle.kind", kind)

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

    @never_raises
    def sending(self, headers: MutableMapping[str, str]) -> None:
        self._propagator.inject(headers)

    @never_raises
    def retrying(self, reason: str, delay: float, error: ZuoraError) -> None:
        state = _CALL.get()
        category = retry_category(error)
        operation = state.metric_attributes["zuora.operation"] if state else "unknown"
        self._counters["retries"].add(
            1, {"zuora.operation": operation, "zuora.retry.reason": category}
        )
        if state is not None and state.span is not None and state.span.is_recording():
            state.span.add_event(
                "zuora.retry",
                {
                    "zuora.retry.reason": category,
                    "zuora.retry.detail": reason,
                    "zuora.retry.delay": delay,
                    "error.type": attempt_error_type(error),
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
        try:
            with self._trace.use_span(span, record_exception=False, set_status_on_exception=False):
                yield
        except BaseException as error:
            self._mark_failed(span, error, type(error).__name__)
            raise
        finally:
            span.end()

    # -- a batch --------------------------------------------------------------------------

    def batch(
        self, operation: str, *, workflow_id: object, window: int, total: int | None
    ) -> BatchTrace:
        if self._suppressed():
            return OtelBatch(self, None, operation)
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
        # No SDK, or sampled out: nothing to parent.
        return OtelBatch(self, span if span.is_recording() else None, operation)
