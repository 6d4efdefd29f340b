"""What the client tells observers about each attempt: hook payloads and log fields.

Events carry what identifies a request to Zuora's support and to your own tracing:
method, path, workflow id, Idempotency-Key, Zuora-Track-Id, attempt, status, request id,
elapsed time. They never carry a token, a secret or a parameter value, so a hook can ship
them anywhere: the request id is the response's ``Zuora-Request-Id`` as
``RawResponse.request_id`` quotes it (scrubbed of secrets, at most 100 characters), and an
``error`` is the scrubbed error itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from zuora_wf_async._errors import ZuoraError

logger = logging.getLogger("zuora_wf_async")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """Handed to ``on_retry`` hooks before each wait."""

    attempt: int
    delay: float
    reason: str
    error: ZuoraError = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class RequestEvent:
    """Handed to ``on_request`` just before an attempt is sent."""

    method: str
    path: str
    attempt: int
    workflow_id: int | None = None
    idempotency_key: str | None = None
    track_id: str | None = None

    def log_fields(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class ResponseEvent:
    """Handed to ``on_response`` when an attempt ends: with a status, or with ``error``."""

    method: str
    path: str
    attempt: int
    elapsed: float
    status: int | None = None
    request_id: str | None = None
    workflow_id: int | None = None
    idempotency_key: str | None = None
    track_id: str | None = None
    error: ZuoraError | None = attrs.field(default=None, repr=False)

    def log_fields(self) -> dict[str, Any]:
        fields = attrs.asdict(self, filter=lambda attribute, _: attribute.name != "error")
        fields["error"] = type(self.error).__name__ if self.error else None
        return fields


@attrs.frozen(kw_only=True)
class ClientStats:
    """What ``WorkflowClient.stats`` reports.

    ``effective_concurrency`` is the adaptive limit now (``max_concurrency`` until Zuora
    answers 429); ``concurrency_cuts`` counts the 429s that lowered it and ``pauses`` the
    times every new request was held back for a ``Retry-After`` or an exhausted
    ``RateLimit`` window.
    ``retry_tokens`` is what is left of the retry budget (None without one).

    ``peak_in_flight`` is this process's own peak of requests sent and not yet answered.
    With ``shared_limits``, ``tenant_peak_in_flight`` is the tenant-wide peak, all
    processes together, as Redis counted it in its answers to this client (None without
    shared limits): four processes each at 10 while the tenant was at 40.
    """

    in_flight: int
    peak_in_flight: int
    effective_concurrency: int
    concurrency_cuts: int
    pauses: int
    retry_tokens: float | None
    retries_refused: int
    token_fetches: int
    tenant_peak_in_flight: int | None = None


def call_hook(hook: Callable[[Any], object] | None, event: object) -> None:
    """Run an observer's hook; a broken hook is logged, never allowed to fail the request."""
    if hook is None:
        return
    try:
        hook(event)
    except Exception:
        logger.exception("an observability hook raised; the request goes on")
