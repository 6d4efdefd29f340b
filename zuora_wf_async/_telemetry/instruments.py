"""The ``zuora.client.*`` metrics, one set per meter provider, and the guard of bookkeeping.

``opentelemetry`` is imported only for type checking and inside the gauges' callback,
which runs only once a client with OpenTelemetry has registered it.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Counter, MeterProvider, Observation

__all__ = [
    "FAILED",
    "SCOPE",
    "Instruments",
    "WatchedPipeline",
    "instruments_for",
    "logger",
    "never_raises",
    "version",
]

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("zuora_wf_async")
FAILED = "OpenTelemetry bookkeeping failed; the request goes on"


# Here, not in hooks.py: a Protocol costs its class at import, and only the gauges need it.
class WatchedPipeline(Protocol):
    """What the gauges read of a pipeline."""

    @property
    def in_flight(self) -> int: ...

    @property
    def effective_concurrency(self) -> int: ...

    @property
    def state(self) -> str: ...


def never_raises(method: Callable[P, R | None]) -> Callable[P, R | None]:
    """Telemetry bookkeeping must never fail a request: a failure is logged, None returned."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            logger.exception(FAILED)
            return None

    return guarded


#: The instrumentation scope of every tracer and meter the client asks for.
SCOPE = "zuora_wf_async"
# Seconds: Zuora calls take tens of milliseconds to tens of seconds (a run POST under a
# Retry-After); the SDK's default buckets are meant for milliseconds.
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# The counters, by the name after ``zuora.client.``: (unit, description).
_COUNTERS = {
    "requests": ("{request}", "Logical calls (one per API call, however many attempts it took)."),
    "attempts": ("{attempt}", "HTTP requests sent, each attempt of a call counted once."),
    "retries": ("{retry}", "Resends of a call after a failed attempt, by reason."),
    "throttled": ("{response}", "429 answers by kind: quota (window spent) or concurrency."),
    "batch.items": ("{item}", "Items of run_many/stream_runs batches handed back, by outcome."),
}
# The gauges, by the name after ``zuora.client.``: (what they read of a pipeline, description).
_GAUGES = {
    "active_requests": ("in_flight", "Requests in flight now, per Zuora host."),
    "concurrency.limit": (
        "effective_concurrency",
        "Requests allowed in flight now (the adaptive limit), per Zuora host.",
    ),
}


def version() -> str:
    """The package's version, for the tracer's and meter's scope."""
    from zuora_wf_async import __version__  # imported when a client is built, not before

    return __version__


class Instruments:
    """One set of instruments per meter provider, shared by every client using it.

    An SDK meter hands back the first instrument of a name, so a second client's gauge
    callback would be dropped; instead one callback reports every live client (weakly held,
    so the meter does not keep a closed client alive).
    """

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(SCOPE, version())
        self.counters: dict[str, Counter] = {
            name: meter.create_counter(f"zuora.client.{name}", unit=unit, description=text)
            for name, (unit, text) in _COUNTERS.items()
        }
        self.duration = meter.create_histogram(
            "zuora.client.call.duration",
            unit="s",
            description="Duration of logical calls, waits between attempts included.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.pipelines: weakref.WeakKeyDictionary[WatchedPipeline, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        for name, (read, text) in _GAUGES.items():
            meter.create_observable_gauge(
                f"zuora.client.{name}",
                callbacks=[functools.partial(self._observe, read)],
                unit="{request}",
                description=text,
            )

    def _observe(self, read: str, _options: CallbackOptions) -> Iterable[Observation]:
        """Each open pipeline's ``read`` attribute, summed per Zuora host."""
        from opentelemetry.metrics import Observation

        totals: dict[tuple[tuple[str, Any], ...], int] = {}
        for pipeline, attributes in list(self.pipelines.items()):
            if pipeline.state == "open":
                key = tuple(sorted(attributes.items()))
                totals[key] = totals.get(key, 0) + getattr(pipeline, read)
        return [Observation(value, dict(key)) for key, value in totals.items()]


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
