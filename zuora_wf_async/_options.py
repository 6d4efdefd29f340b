"""A client's settings: its constructor options, each checked once, in one record.

``WorkflowClient`` builds one ``Settings`` and hands it to its pipeline, so each option is
named once here. Every option is checked for its type and range as the record is built,
and refused with ``InvalidRequestError`` naming the option and the fix, so that a wrong
value never fails later, deep inside a call, as ``TypeError`` or ``OverflowError``
(``max_response_bytes=float("inf")`` did: ``int(inf)``). Pure: no I/O.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import attrs

from zuora_wf_async._auth import Auth, BearerToken, OAuthCredentials
from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy
from zuora_wf_async._errors import InvalidRequestError
from zuora_wf_async._events import RequestEvent, ResponseEvent, RetryEvent
from zuora_wf_async._shared import DEFAULT_TENANT_CONCURRENCY, SharedLimits

# Far above any tenant's limit (Zuora's are 40 and 200 requests in flight); a bound keeps
# a huge int from reaching float() or a connection pool's size.
MAX_CONCURRENCY = 10_000

Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _concurrency(_settings: Any, field: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidRequestError(
            field.name,
            f"must be an int from 1 to {MAX_CONCURRENCY:,}, got {shown_value(value)}",
            "pass the tenant's in-flight limit, e.g. 40",
        )


def _finite_positive(fix: str, *, whole: bool = False, optional: bool = False) -> Check:
    def check(_settings: Any, field: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        # Compared, not converted: float() of an int of 400 digits raises OverflowError.
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e300:
            problem = f"must be a finite positive number, got {shown_value(value)}"
            raise InvalidRequestError(field.name, problem, fix)
        if whole and not isinstance(value, int):
            raise InvalidRequestError(
                field.name, f"must be a whole number, got {shown_value(value)}", fix
            )

    return check


def _whole(value: Any) -> Any:
    # 1e6 bytes is a byte count; 1.5 (and inf, nan) stay floats and are refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _gzip_threshold(_settings: Any, _field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidRequestError(
            "gzip_threshold",
            f"must be a byte count >= 0 or None, got {shown_value(value)}",
            "pass e.g. 1024, or None to never compress request bodies",
        )


def _instance(kind: type | tuple[type, ...], expected: str, fix: str) -> Check:
    def check(_settings: Any, field: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            # The type, never the value: a token passed as auth= must not be echoed.
            problem = f"expected {expected}, got {type(value).__name__}"
            raise InvalidRequestError(field.name, problem, fix)

    return check


def _callable(fix: str, *, optional: bool = False) -> Check:
    def check(_settings: Any, field: attrs.Attribute[Any], value: object) -> None:
        if not callable(value) and not (optional and value is None):
            raise InvalidRequestError(
                field.name, f"must be callable, got {shown_value(value)}", fix
            )

    return check


_HOOK = _callable("pass a function taking the event, or None for no hook", optional=True)
_TOOL = _callable("pass time.monotonic and asyncio.sleep (the defaults), or a test's own")


def _trace_configs(_settings: Any, _field: attrs.Attribute[Any], value: object) -> None:
    # A sequence, not any iterable: a generator checked here would be empty when used.
    fix = "pass a list of aiohttp.TraceConfig objects"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidRequestError("trace_configs", f"got {shown_value(value)}", fix)
    try:
        configs: list[Any] = list(value)
    except Exception as exc:  # noqa: BLE001 -- the caller's sequence runs its own code
        raise InvalidRequestError(
            "trace_configs", f"raised {type(exc).__name__} when read", fix
        ) from None
    for index, config in enumerate(configs):
        if not isinstance(config, aiohttp.TraceConfig):
            problem = f"is {shown_value(config)}, not a TraceConfig"
            raise InvalidRequestError(f"trace_configs[{index}]", problem, fix)


def _retry_policy(_settings: Any, _field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, RetryPolicy):
        raise refused_retry(value)


# The converters fill in what "not given" stands for; every other value is checked as is.


def _shared_limits(value: Any) -> Any:
    return SharedLimits(value) if isinstance(value, str) else value  # a Redis URL


def _retry(value: Any) -> Any:
    return RetryPolicy() if value is None else value


def _retry_budget(value: Any) -> Any:
    return RetryBudget() if value == "default" else value


def _rng(value: Any) -> Any:
    return random.Random() if value is None else value  # noqa: S311 -- jitter, not secrets


@attrs.frozen(kw_only=True, eq=False, repr=False)  # never compared; never printed (auth)
class Settings:
    """A ``WorkflowClient``'s options once checked (documented on ``WorkflowClient``).

    Built from the caller's values as they are: the few defaults that stand for "not
    given" (``retry``, ``retry_budget``, ``rng``) are filled in before the checks run,
    which run in field order.
    """

    base_url: str  # normalised and checked by _core.requests
    auth: Auth = attrs.field(
        validator=_instance(
            (BearerToken, OAuthCredentials),
            "BearerToken or OAuthCredentials",
            "pass auth=OAuthCredentials(client_id=..., client_secret=...) or BearerToken(...)",
        )
    )
    entity_ids: str | None  # one entity id (Workflow operations take a single one)
    org_ids: str | None
    tenant_concurrency: int = attrs.field(
        default=DEFAULT_TENANT_CONCURRENCY, validator=_concurrency
    )
    max_concurrency: int = attrs.field(validator=_concurrency)
    gzip_threshold: int | None = attrs.field(validator=_gzip_threshold)
    timeout: float = attrs.field(validator=_finite_positive("pass seconds per attempt, e.g. 60"))
    max_response_bytes: int = attrs.field(
        converter=_whole,
        validator=_finite_positive("pass a byte count, e.g. 10_000_000", whole=True),
    )
    max_rate: float | None = attrs.field(
        validator=_finite_positive("pass requests per second, or None", optional=True)
    )
    retry: RetryPolicy = attrs.field(converter=_retry, validator=_retry_policy)
    retry_budget: RetryBudget | None = attrs.field(
        converter=_retry_budget,
        validator=_instance(
            (RetryBudget, type(None)),
            "a RetryBudget, 'default' or None",
            "pass RetryBudget(capacity=100, refill=0.2), or None for no budget",
        ),
    )
    on_retry: Callable[[RetryEvent], object] | None = attrs.field(validator=_HOOK)
    on_request: Callable[[RequestEvent], object] | None = attrs.field(validator=_HOOK)
    on_response: Callable[[ResponseEvent], object] | None = attrs.field(validator=_HOOK)
    clock: Callable[[], float] = attrs.field(default=time.monotonic, validator=_TOOL)
    sleep: Callable[[float], Awaitable[object]] = attrs.field(
        default=asyncio.sleep, validator=_TOOL
    )
    rng: random.Random = attrs.field(
        converter=_rng,
        validator=_instance(random.Random, "a random.Random", "pass random.Random(seed)"),
    )
    ssl_context: ssl.SSLContext | None = attrs.field(
        validator=_instance(
            (ssl.SSLContext, type(None)),
            "an ssl.SSLContext",
            "pass ssl.create_default_context(cafile=...), or None for the system's",
        )
    )
    trace_configs: Sequence[aiohttp.TraceConfig] = attrs.field(validator=_trace_configs)
    auto_track_id: bool = attrs.field(
        validator=_instance(
            bool, "True or False", "pass True to send a fresh Zuora-Track-Id with every call"
        )
    )
    propagate_trace_context: bool = attrs.field(
        validator=_instance(
            bool, "True or False", "pass True to send a W3C traceparent header to Zuora"
        )
    )
    shared_limits: SharedLimits | None = attrs.field(
        converter=_shared_limits,
        validator=_instance(
            (SharedLimits, type(None)),
            "a Redis URL or SharedLimits",
            "pass shared_limits='redis://localhost:6379/0'",
        ),
    )


def refused_retry(value: object) -> InvalidRequestError:
    """The error for a ``retry=`` that is no ``RetryPolicy`` (the client's, or a call's)."""
    return InvalidRequestError(
        "retry",
        f"expected a RetryPolicy, got {type(value).__name__}",
        "pass RetryPolicy(max_attempts=..., base_delay=..., max_delay=..., deadline=...)",
    )
