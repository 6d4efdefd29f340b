"""The real OpenTelemetry SDK, in memory: a tracer provider and a meter provider per test.

Each test builds its own providers and hands them to the client (never the global ones:
OpenTelemetry refuses to replace a global provider once set).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Otel:
    """What a test reads back: finished spans as a tree, metric points by name."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    @property
    def providers(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """``parent``'s direct children, in start order."""
        found = [
            span
            for span in self.spans()
            if span.parent is not None and span.parent.span_id == parent.context.span_id
        ]
        return sorted(found, key=lambda span: span.start_time or 0)

    def roots(self) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.parent is None]

    def metrics(self) -> dict[str, Any]:
        """Metric name -> the metric (with .unit and .data.data_points), from one collection."""
        found: dict[str, Any] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found[metric.name] = metric
        return found

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of each point of metric ``name``; a histogram's is its count."""
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [
            (dict(point.attributes), getattr(point, "value", getattr(point, "count", None)))
            for point in metric.data.data_points
        ]

    def total(self, name: str, **match: Any) -> Any:
        """The sum of metric ``name``'s points whose attributes include ``match``.

        Attribute names are given with ``__`` for dots: ``zuora__operation="get_run"``.
        """
        wanted = {key.replace("__", "."): value for key, value in match.items()}
        return sum(
            value
            for attributes, value in self.points(name)
            if all(attributes.get(key) == value for key, value in wanted.items())
        )

    def exported_text(self, metrics: dict[str, Any] | None = None) -> str:
        """Every name, attribute key and value, event and status text that was exported."""
        parts: list[str] = []
        for span in self.spans():
            parts.append(span.name)
            parts.append(str(span.status.description))
            parts.extend(f"{key}={value}" for key, value in (span.attributes or {}).items())
            for event in span.events:
                parts.append(event.name)
                parts.extend(f"{key}={value}" for key, value in (event.attributes or {}).items())
            for link in span.links:
                parts.extend(f"{key}={value}" for key, value in (link.attributes or {}).items())
        for metric in (metrics if metrics is not None else self.metrics()).values():
            for point in metric.data.data_points:
                parts.extend(f"{key}={value}" for key, value in point.attributes.items())
        return "\n".join(parts)


@pytest.fixture
def otel() -> Iterator[Otel]:
    recorder = Otel()
    yield recorder
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()
