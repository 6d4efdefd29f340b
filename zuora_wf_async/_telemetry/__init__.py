"""OpenTelemetry for the client: a span per call, a span per attempt, and metrics. Optional.

``opentelemetry`` is imported only by :func:`resolve_telemetry`, when a client is built,
and only if it is installed (the ``otel`` extra: ``opentelemetry-api`` alone; the
application picks the SDK and exporters). Without it the client gets :data:`NO_TELEMETRY`,
whose scopes are one reusable ``nullcontext`` and whose other hooks are empty methods:
nothing is imported and the hot path pays one no-op method call per hook.

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

- ``hooks.py``        ``Telemetry``, ``BatchTrace``: what the pipeline and the batch call;
                      the bases are the no-op (``NO_TELEMETRY``).
- ``resolve.py``      ``resolve_telemetry``: OpenTelemetry or the no-op, and the checks of
                      the client's telemetry options.
- ``otel.py``         ``OpenTelemetry``: the spans of calls and attempts, retries, ``span``.
- ``batch_trace.py``  a batch's span, its traced items and its counts.
- ``instruments.py``  the ``zuora.client.*`` counters, histogram and gauges.
- ``attributes.py``   the pure helpers that name paths, runs, retries and 429s.
- ``guard.py``        ``never_raises``: bookkeeping that fails logs, never fails a request.
"""

from __future__ import annotations

from zuora_wf_async._telemetry.attributes import (
    path_template,
    retry_category,
    run_id_of,
    throttle_kind,
    workflow_id_of,
)
from zuora_wf_async._telemetry.batch_trace import BATCH_TRACED_ITEMS
from zuora_wf_async._telemetry.hooks import NO_TELEMETRY, BatchTrace, Telemetry
from zuora_wf_async._telemetry.resolve import resolve_telemetry

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
