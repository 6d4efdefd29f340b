"""OpenTelemetry for the client: a span per call, a span per attempt, and metrics. Optional.

``opentelemetry`` is imported only by :func:`otel.resolve_telemetry`, when a client is
built (``otel.py`` too loads then, not with the package), and only if it is installed (the
``otel`` extra: ``opentelemetry-api`` alone; the application picks the SDK and exporters).
Without it the client gets :data:`NO_TELEMETRY`, the no-op of ``hooks.py``.

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

- ``hooks.py``        what the pipeline and the batch call; its bases are the no-op.
- ``otel.py``         ``resolve_telemetry`` and ``OpenTelemetry``: the spans of calls.
- ``batch_trace.py``  a batch's span, its traced items and its counts.
- ``instruments.py``  the ``zuora.client.*`` metrics; ``never_raises``, the guard that
                      keeps failing bookkeeping from failing a request.
- ``attributes.py``   the pure helpers that name paths, runs, retries and 429s.
"""

from __future__ import annotations

from zuora_wf_async._telemetry.hooks import NO_TELEMETRY, BatchTrace, Telemetry

__all__ = ["NO_TELEMETRY", "BatchTrace", "Telemetry"]
