"""The ``zuora.client.*`` metrics: one set of instruments per meter provider.

``opentelemetry`` is imported only for type checking and inside the gauges' callbacks,
which run only once a client with OpenTelemetry has registered them.
"""

from __future__ import annotations

import importlib.metadata
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from zuora_wf_async._telemetry.hooks import WatchedPipeline

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

__all__ = ["SCOPE", "Instruments", "instruments_for", "version"]

#: The instrumentation scope of every tracer and meter the client asks for.
SCOPE = "zuora_wf_async"
# Seconds: Zuora calls take tens of milliseconds to tens of seconds (a run POST under a
# Retry-After); the SDK's default buckets are meant for milliseconds.
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def version() -> str:
    """The package's version, for the tracer's and meter's scope."""
    try:
        return importlib.metadata.version("zuora-wf-async")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover -- a source tree
        return "0"


class Instruments:
    """One set of instruments per meter provider, shared by every client using it.

    An SDK meter hands back the first instrument of a name, so a second client's gauge
    callback would be dropped; instead one callback reports every live client (weakly held,
    so the meter does not keep a closed client alive).
    """

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(SCOPE, version())
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


_INSTRUMENTS: weakref.WeakKeyDictionary[Any, Instruments] = weakref.WeakKeyDictionary()


def instruments_for(provider: MeterProvider) -> Instruments:
    """The instruments of ``provider``, made on its first client and shared after."""
    try:
        found = _INSTRUMENTS.get(provider)
    except TypeError:  # a provider that cannot be weakly referenced: no sharing
        return Instruments(provider)
    if found is None:
        found = _INSTRUMENTS[provider] = Instruments(provider)
    return found
