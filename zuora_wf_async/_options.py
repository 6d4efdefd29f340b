"""The constructor options of ``WorkflowClient`` that are not requests, checked in one place.

Every option a caller passes is checked for its type and range when the client is built,
and refused with ``InvalidRequestError`` naming the option and the fix, so that a wrong
value never fails later, deep inside a call, as ``TypeError`` or ``OverflowError``
(``max_response_bytes=float("inf")`` did: ``int(inf)``). Pure: no I/O.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiohttp

from zuora_wf_async._core.requests import shown_value
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy
from zuora_wf_async._errors import InvalidRequestError
from zuora_wf_async._shared import SharedLimits

__all__ = ["check_client_options", "run_id_list", "shared_limits_option"]


def _finite_positive(field: str, value: object, fix: str) -> None:
    # Compared, not converted: float() of an int of 400 digits raises OverflowError.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e300:
        raise InvalidRequestError(
            field, f"must be a finite positive number, got {shown_value(value)}", fix
        )


def _byte_count(field: str, value: object, fix: str) -> None:
    _finite_positive(field, value, fix)
    if isinstance(value, float) and not value.is_integer():
        raise InvalidRequestError(field, f"must be a whole number, got {shown_value(value)}", fix)


def _callable_or_none(field: str, value: object, fix: str) -> None:
    if value is not None and not callable(value):
        raise InvalidRequestError(field, f"must be callable, got {shown_value(value)}", fix)


# Far above any tenant's limit (Zuora's are 40 and 200 requests in flight); a bound keeps
# a huge int from reaching float() or a connection pool's size.
MAX_CONCURRENCY = 10_000


def _concurrency(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidRequestError(
            field,
            f"must be an int from 1 to {MAX_CONCURRENCY:,}, got {shown_value(value)}",
            "pass the tenant's in-flight limit, e.g. 40",
        )


def check_client_options(
    *,
    max_concurrency: object,
    tenant_concurrency: object,
    gzip_threshold: object,
    timeout: object,
    max_response_bytes: object,
    max_rate: object,
    retry: object,
    retry_budget: object,
    hooks: Mapping[str, object],
    clock: object,
    sleep: object,
    rng: object,
    ssl_context: object,
    trace_configs: object,
    auto_track_id: object,
) -> None:
    """Raise ``InvalidRequestError`` for the first option of a wrong type or range."""
    if max_concurrency is not None:
        _concurrency("max_concurrency", max_concurrency)
    _concurrency("tenant_concurrency", tenant_concurrency)
    if gzip_threshold is not None and (
        isinstance(gzip_threshold, bool)
        or not isinstance(gzip_threshold, int)
        or gzip_threshold < 0
    ):
        raise InvalidRequestError(
            "gzip_threshold",
            f"must be a byte count >= 0 or None, got {shown_value(gzip_threshold)}",
            "pass e.g. 1024, or None to never compress request bodies",
        )
    _finite_positive("timeout", timeout, "pass seconds per attempt, e.g. 60")
    _byte_count("max_response_bytes", max_response_bytes, "pass a byte count, e.g. 10_000_000")
    if max_rate is not None:
        _finite_positive("max_rate", max_rate, "pass requests per second, or None")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InvalidRequestError(
            "retry",
            f"expected a RetryPolicy, got {type(retry).__name__}",
            "pass RetryPolicy(max_attempts=..., base_delay=..., max_delay=..., deadline=...)",
        )
    if retry_budget != "default" and not (
        retry_budget is None or isinstance(retry_budget, RetryBudget)
    ):
        raise InvalidRequestError(
            "retry_budget",
            f"expected a RetryBudget, 'default' or None, got {shown_value(retry_budget)}",
            "pass RetryBudget(capacity=100, refill=0.2), or None for no budget",
        )
    for name, hook in hooks.items():
        _callable_or_none(name, hook, f"pass a function taking the event, or None for no {name}")
    for name, value in (("clock", clock), ("sleep", sleep)):
        if not callable(value):
            raise InvalidRequestError(
                name,
                f"must be callable, got {shown_value(value)}",
                "pass time.monotonic and asyncio.sleep (the defaults), or a test's own",
            )
    if rng is not None and not isinstance(rng, random.Random):
        raise InvalidRequestError(
            "rng", f"expected a random.Random, got {shown_value(rng)}", "pass random.Random(seed)"
        )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise InvalidRequestError(
            "ssl_context",
            f"expected an ssl.SSLContext, got {shown_value(ssl_context)}",
            "pass ssl.create_default_context(cafile=...), or None for the system's",
        )
    _check_trace_configs(trace_configs)
    if not isinstance(auto_track_id, bool):
        raise InvalidRequestError(
            "auto_track_id",
            f"must be True or False, got {shown_value(auto_track_id)}",
            "pass True to send a fresh Zuora-Track-Id with every call",
        )


def shared_limits_option(shared_limits: object) -> SharedLimits | None:
    """The many-processes option checked; a Redis URL becomes ``SharedLimits``."""
    if shared_limits is None or isinstance(shared_limits, SharedLimits):
        return shared_limits
    if isinstance(shared_limits, str):
        return SharedLimits(shared_limits)
    raise InvalidRequestError(
        "shared_limits",
        f"expected a Redis URL or SharedLimits, got {type(shared_limits).__name__}",
        "pass shared_limits='redis://localhost:6379/0'",
    )


def _check_trace_configs(trace_configs: object) -> None:
    # A sequence, not any iterable: a generator checked here would be empty when used.
    fix = "pass a list of aiohttp.TraceConfig objects"
    if isinstance(trace_configs, str | bytes) or not isinstance(trace_configs, Sequence):
        raise InvalidRequestError("trace_configs", f"got {shown_value(trace_configs)}", fix)
    try:
        configs: list[Any] = list(trace_configs)
    except Exception as exc:  # noqa: BLE001 -- the caller's iterable runs its own code
        problem = f"raised {type(exc).__name__} when read"
        raise InvalidRequestError("trace_configs", problem, fix) from None
    for index, config in enumerate(configs):
        if not isinstance(config, aiohttp.TraceConfig):
            raise InvalidRequestError(
                f"trace_configs[{index}]", f"is {shown_value(config)}, not a TraceConfig", fix
            )


def run_id_list(run_ids: object) -> list[object]:
    """``wait_for_runs``' ids as a list (each id is checked by the follower)."""
    fix = "pass a list of run ids, e.g. [run.id for run in runs]"
    if isinstance(run_ids, str | bytes | Mapping) or not isinstance(run_ids, Iterable):
        raise InvalidRequestError(
            "run_ids", f"expected a list of run ids, got {shown_value(run_ids)}", fix
        )
    try:
        return list(run_ids)
    except Exception as exc:  # noqa: BLE001 -- the caller's iterable runs its own code
        raise InvalidRequestError(
            "run_ids", f"raised {type(exc).__name__} when read", fix
        ) from None
