"""How a client's telemetry is chosen: OpenTelemetry if importable (or asked for), else the no-op.

``opentelemetry`` is imported here, when a client is built, and nowhere at import time.
"""

from __future__ import annotations

from collections.abc import Callable

from zuora_wf_async._errors import InvalidRequestError
from zuora_wf_async._telemetry.hooks import NO_TELEMETRY, Telemetry
from zuora_wf_async._telemetry.otel import OpenTelemetry

__all__ = ["resolve_telemetry"]


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
