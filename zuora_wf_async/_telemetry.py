"""OpenTelemetry for the client: a span per call, a span per attempt, and metrics. Optional.

``opentelemetry`` is imported only by :func:`resolve_telemetry`, when a client is built,
and only if it is installed (the ``otel`` extra: ``opentelemetry-api`` alone; the
application picks the SDK and exporters). Without it the client gets :data:`NO_TELEMETRY`,
whose hooks are the attempt function itself and empty methods: nothing is imported and the
hot path pays one no-op method call per attempt.

What a trace shows (names after OpenTelemetry's semantic conventions where they fit)::

    run_workflow                          INTERNAL, one per logical call (the operation)
    ├── POST /workflows/{id}/run          CLIENT, one per attempt (HTTP client conventions)
    │   └── POST                          aiohttp instrumentation's span, if it is in use
    └── POST /workflows/{id}/run          the resend, after a ``zuora.retry`` event

    run_many                              a batch: its first BATCH_TRACED_ITEMS items'
    ├── run_workflow ...                  calls as children; later items untraced (counted
    └── run_workflow ...                  on the batch span and in metrics)

Attributes identify a request to Zuora's support (``zuora.request_id``, ``zuora.track_id``,
``zuora.workflow.id``, ``zuora.run.id``) and never carry a token, a secret, a parameter or
an ``Idempotency-Key`` (an ``on_request`` hook runs inside the attempt span and may add
the key to it, for those who want it). Error messages are not recorded either, only the
error's type: a message names the request it failed.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.metadata
import logging
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit

import attrs

from zuora_wf_async._core.pacing import Throttle, classify_429
from zuora_wf_async._core.ratelimit import parse_rate_limit
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._errors import (
    IdempotencyInProgressError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
    TransportError,
    UnauthorizedError,
    ZuoraAPIError,
    ZuoraError,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

__all__ = [
    "BATCH_TRACED_ITEMS",
    "NO_TELEMETRY",
    "BatchTrace",
    "Telemetry",
    "path_template",
    "resolve_telemetry",
    "retry_category",
    "run_id_of",
    "throttle_kind",
    "workflow_id_of",
]

#: How many items of one batch get their calls traced as children of the batch span.
#: Later items are counted (span attributes, metrics) but build no spans, so a batch of a
#: million rows costs a trace backend as much as one of a hundred.
BATCH_TRACED_ITEMS = 100

_SCOPE = "zuora_wf_async"
# Seconds: Zuora calls take tens of milliseconds to tens of seconds (a run POST under a
# Retry-After); the SDK's default buckets are meant for milliseconds.
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_RUN_PATH = re.compile(r"^/workflows/workflow_runs/(\d+)(?:/|$)")
_WORKFLOW_PATH = re.compile(r"^/workflows/(\d+)(?:/|$)")

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("zuora_wf_async")


def _never_raises(method: Callable[P, R | None]) -> Callable[P, R | None]:
    """Telemetry bookkeeping must never fail a request: a failure is logged, None returned."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            logger.exception("OpenTelemetry bookkeeping failed; the request goes on")
            return None

    return guarded


# -- pure helpers (tested from tables) ----------------------------------------------------


@functools.lru_cache(maxsize=1024)
def path_template(path: str) -> str:
    """A low-cardinality form of ``path`` for span names: id segments become ``{id}``."""
    return "/".join("{id}" if any(c.isdigit() for c in part) else part for part in path.split("/"))


def run_id_of(path: str, value: object) -> int | None:
    """The run a call was about: from a returned run, else from a run path."""
    run_id = getattr(value, "id", None) if _is_run(value) else None
    if isinstance(run_id, int):
        return run_id
    match = _RUN_PATH.match(path)
    return int(match[1]) if match else None


def workflow_id_of(path: str) -> int | None:
    """The workflow definition a path names (``/workflows/{id}...``), if any."""
    match = _WORKFLOW_PATH.match(path)
    return int(match[1]) if match else None


def _is_run(value: object) -> bool:
    from zuora_wf_async._models import WorkflowRun, WorkflowRunDetail

    return isinstance(value, WorkflowRun | WorkflowRunDetail)


def retry_category(error: BaseException) -> str:
    """A bounded name for why an attempt is resent (a metric attribute)."""
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, TransportError):  # RequestTimeoutError included
        return "timeout" if isinstance(error, TimeoutError) else "transport"
    if isinstance(error, ServerError):
        return "server_error"
    if isinstance(error, UnauthorizedError):
        return "token_refresh"
    if isinstance(error, IdempotencyInProgressError):
        return "in_progress"
    return "other"


def throttle_kind(raw: RawResponse) -> str:
    """A 429's kind as ``_core.pacing`` tells it: ``quota`` (window spent) or ``concurrency``."""
    spent = classify_429(parse_rate_limit(raw.headers)) is Throttle.WINDOW_SPENT
    return "quota" if spent else "concurrency"


def _error_type(error: BaseException) -> str:
    return type(error).__name__


# -- what the pipeline calls: the no-op ---------------------------------------------------


class WatchedPipeline(Protocol):
    """What the gauges read of a pipeline."""

    @property
    def in_flight(self) -> int: ...

    @property
    def effective_concurrency(self) -> int: ...

    @property
    def state(self) -> str: ...


class BatchTrace:
    """A batch's telemetry; this base does nothing (no OpenTelemetry, or none wanted)."""

    __slots__ = ()

    def item_scope(self, index: int) -> contextlib.AbstractContextManager[object]:
        """Entered around one item's work, in the worker that runs it."""
        return _NOTHING_TO_ENTER

    def item_done(self, index: int, error: ZuoraError | None) -> None:
        """An item's outcome was handed back."""

    def end(self) -> None:
        """The batch is over (exhausted, closed or dropped). Safe to call twice."""


_NOTHING_TO_ENTER = contextlib.nullcontext()
NO_BATCH = BatchTrace()


class Telemetry:
    """The hooks the pipeline calls. This base is the no-op: every hook costs ~nothing."""

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
        """The telemetry of one ``run_many``/``iter_runs`` batch."""
        return NO_BATCH

    def span(
        self, operation: str, attributes: Mapping[str, Any] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """A span around an operation made of several calls (``wait_for_run``...), current
        while it runs so that its calls' spans are its children."""
        return contextlib.nullcontext()


NO_TELEMETRY = Telemetry()
# The no-op's scopes: one reusable context manager, so the call path pays no function.
_NOTHING = contextlib.nullcontext()


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
    (then the caller meant it: a typed error says what to install).
    """
    if not isinstance(propagate_trace_context, bool):
        raise InvalidRequestError(
            "propagate_trace_context",
            f"must be True or False, got {propagate_trace_context!r}",
            "pass True to send a W3C traceparent header to Zuora (off by default)",
        )
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
    if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
        raise InvalidRequestError(
            "tracer_provider",
            f"expected an opentelemetry TracerProvider, got {type(tracer_provider).__name__}",
            "pass e.g. opentelemetry.sdk.trace.TracerProvider(), or None for the global one",
        )
    if meter_provider is not None and not isinstance(meter_provider, metrics.MeterProvider):
        raise InvalidRequestError(
            "meter_provider",
            f"expected an opentelemetry MeterProvider, got {type(meter_provider).__name__}",
            "pass e.g. opentelemetry.sdk.metrics.MeterProvider(), or None for the global one",
        )
    return OpenTelemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        propagate_trace_context=propagate_trace_context,
        base_url=base_url,
        clock=clock,
    )


# -- OpenTelemetry ------------------------------------------------------------------------


def _version() -> str:
    try:
        return importlib.metadata.version("zuora-wf-async")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover -- a source tree
        return "0"


class _Instruments:
    """One set of instruments per meter provider, shared by every client using it.

    An SDK meter hands back the first instrument of a name, so a second client's gauge
    callback would be dropped; instead one callback reports every live client (weakly held,
    so the meter does not keep a closed client alive).
    """

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(_SCOPE, _version())
        self.requests = meter.create_counter(
            "zuora.client.requests",
            unit="{request}",
            description="Logical calls (one per API call, however many attempts it took).",
        )
        self.attempts = meter.create_counter(
            "zuora.client.attempts",
            unit="{attempt}",
            description="HTTP requests sent, each attempt of a call counted once.",
        )
        self.retries = meter.create_counter(
            "zuora.client.retries",
            unit="{retry}",
            description="Resends of a call after a failed attempt, by reason.",
        )
        self.throttled = meter.create_counter(
            "zuora.client.throttled",
            unit="{response}",
            description="429 answers by kind: quota (window spent) or concurrency.",
        )
        self.duration = meter.create_histogram(
            "zuora.client.call.duration",
            unit="s",
            description="Duration of logical calls, waits between attempts included.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.batch_items = meter.create_counter(
            "zuora.client.batch.items",
            unit="{item}",
            description="Items of run_many/iter_runs batches handed back, by outcome.",
        )
        self.pipelines: weakref.WeakKeyDictionary[WatchedPipeline, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        meter.create_observable_gauge(
            "zuora.client.active_requests",
            callbacks=[self._observe_in_flight],
            unit="{request}",
            description="Requests in flight now, per Zuora host.",
        )
        meter.create_observable_gauge(
            "zuora.client.concurrency.limit",
            callbacks=[self._observe_limit],
            unit="{request}",
            description="Requests allowed in flight now (the adaptive limit), per Zuora host.",
        )

    def _observe(self, read: Callable[[WatchedPipeline], int]) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        totals: dict[tuple[tuple[str, Any], ...], int] = {}
        for pipeline, attributes in list(self.pipelines.items()):
            if pipeline.state == "open":
                key = tuple(sorted(attributes.items()))
                totals[key] = totals.get(key, 0) + read(pipeline)
        return [Observation(value, dict(key)) for key, value in totals.items()]

    def _observe_in_flight(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(lambda pipeline: pipeline.in_flight)

    def _observe_limit(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(lambda pipeline: pipeline.effective_concurrency)


_INSTRUMENTS: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()


def _instruments_for(provider: MeterProvider) -> _Instruments:
    try:
        found = _INSTRUMENTS.get(provider)
    except TypeError:  # a provider that cannot be weakly referenced: no sharing
        return _Instruments(provider)
    if found is None:
        found = _INSTRUMENTS[provider] = _Instruments(provider)
    return found


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
        self._tracer = trace.get_tracer(_SCOPE, _version(), tracer_provider)
        self._instruments = _instruments_for(meter_provider or metrics.get_meter_provider())
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
                        metric["error.type"] = _error_type(error)
                    self._instruments.requests.add(1, metric)
                    self._instruments.duration.record(self._clock() - started, metric)
                except Exception:
                    logger.exception("OpenTelemetry bookkeeping failed; the request goes on")

    @_never_raises
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
                span.set_attribute("error.type", _error_type(error))
                # The loop sets error.may_have_run after this span ends; the call knows it.
                span.set_attribute("zuora.may_have_run", bool(call.maybe_ran))
                span.set_status(self._status(self._error, _error_type(error)))
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
            span.set_status(self._status(self._error, _error_type(error)))

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
        return _error_type(error)

    @_never_raises
    def sending(self, headers: MutableMapping[str, str]) -> None:
        self._propagator.inject(headers)

    @_never_raises
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
                span.set_attribute("error.type", _error_type(error))
                span.set_status(self._status(self._error, _error_type(error)))
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
        return _OtelBatch(self, span, operation)


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


class _OtelBatch(BatchTrace):
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
            return _NOTHING_TO_ENTER
        owner = self._owner
        if index < BATCH_TRACED_ITEMS:
            self._traced += 1
            return _Attached(owner, span)
        if owner._suppress_key is None:  # pragma: no cover -- an API without the key
            return _NOTHING_TO_ENTER
        return _Attached(owner, None)

    def item_done(self, index: int, error: ZuoraError | None) -> None:
        self._done += 1
        if error is not None:
            self._failed += 1
            self._failure_event(index, error)
        self._count(error is None)

    @_never_raises
    def _count(self, ok: bool) -> None:
        self._counter.add(1, self._success_attributes if ok else self._failure_attributes)

    @_never_raises
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
                    "error.type": _error_type(error),
                    "zuora.may_have_run": bool(error.may_have_run),
                },
            )

    @_never_raises
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
