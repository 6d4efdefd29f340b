"""Limits shared by every process of one Zuora tenant, kept in Redis (``pip install
'zuora-wf-async[redis]'``): what a user configures (``SharedLimits``), and which tenant a
client belongs to. Importing this package loads neither redis nor the gate: a client that
shares limits does.

``_gate``: one client's side (slots, leases, how a request waits for one), with
``_courier`` (the one task that talks to Redis); ``_store``: the connection, the numbered
script calls, and whether Redis answers; ``_scripts``: the Lua, one script per atomic step;
``_inspect``: the tenant's state for an operator (``zuora-wf tenant``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

from zuora_wf_async._core import redact
from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._errors import InvalidRequestError, ZuoraError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from zuora_wf_async._shared._gate import SharedGate

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_TENANT_CONCURRENCY",
    "LOCAL",
    "SHARED",
    "ConfigurationError",
    "Lease",
    "Paused",
    "SharedLimits",
    "SharedLimitsError",
    "SlotWaitExpired",
    "connect",
    "normalise_base_url",
    "tenant_namespace",
]

DEFAULT_LEASE_SECONDS: Final = 10.0
DEFAULT_TENANT_CONCURRENCY: Final = 40  # Zuora's default in-flight limit per tenant
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


class SharedLimitsError(ZuoraError):
    """The shared-limits store (Redis) could not be reached, and the client was told to
    fail (``on_unavailable="fail"``) rather than fall back to its local limits."""


class ConfigurationError(ZuoraError):
    """The shared limits cannot work as configured, and waiting will not change that: Redis
    refused the password, the Redis user lacks a permission the scripts need (``EVALSHA``),
    the server cannot run them, or the namespace records another ``tenant_concurrency``.
    Raised when the client starts (``async with``), before any request is sent."""


class SlotWaitExpired(Exception):  # noqa: N818 -- an internal signal, never leaves the library
    """No tenant slot came free before the caller's deadline."""


# Lease and Paused are plain classes: internal answers, told apart by isinstance only.
class Lease:
    """A tenant slot; ``shared`` is False for one taken under local limits while Redis was
    unreachable."""

    __slots__ = ("shared",)

    def __init__(self, shared: bool) -> None:
        self.shared = shared


SHARED: Final = Lease(shared=True)
LOCAL: Final = Lease(shared=False)


class Paused:
    """The tenant is paused (a spent quota window): wait ``seconds`` before sending."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _positive(field: str, value: object, fix: str) -> float:
    # Compared, never converted first: float() of a 400-digit int raises OverflowError.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e300:
        shown = shown_value(value)
        raise InvalidRequestError(field, f"must be a finite positive number, got {shown}", fix)
    return float(value)


class SharedLimits:
    """Share a tenant's limits among processes through Redis.

    ``WorkflowClient(..., shared_limits="redis://localhost:6379/0")`` is the usual way in;
    build this object to change the defaults:

    - ``url`` or ``redis`` (a ``redis.asyncio.Redis`` you built; then you close it);
    - ``namespace``: clients with the same namespace share limits. Default: one per
      tenant, read from the normalised base URL, the entity ids and the OAuth client id
      (never the secret). Name it yourself for bearer tokens, or when several OAuth
      clients of one tenant must share;
    - ``override_tenant_concurrency`` (False): the namespace records the
      ``tenant_concurrency`` of the first client; a client that starts with another one
      raises :class:`ConfigurationError`, unless this is True: its value then replaces
      the recorded one, for every process, with a WARNING;
    - ``lease_seconds`` (10): a killed process's slots come back within this time. Shorter
      returns them sooner but must stay well above the longest event-loop stall (a stalled
      process cannot renew, and its slots would be handed out twice);
    - ``on_unavailable``: ``"local"`` (default) carries on under local limits when Redis is
      unreachable, with one WARNING, retrying Redis every ``retry_after`` seconds;
      ``"fail"`` raises :class:`SharedLimitsError` instead;
    - ``poll_interval`` (0.002 s): how often a process waiting for a tenant slot asks again
      (it also asks at once whenever one of its own requests ends);
    - ``timeout`` (1 s): the longest one Redis call may take before Redis counts as down.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        redis: Redis | None = None,
        namespace: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        on_unavailable: Literal["local", "fail"] = "local",
        retry_after: float = 1.0,
        poll_interval: float = 0.002,
        timeout: float = 1.0,
        override_tenant_concurrency: bool = False,
    ) -> None:
        if (url is None) == (redis is None):
            raise InvalidRequestError(
                "shared_limits",
                "needs exactly one of a Redis URL or a redis.asyncio.Redis client",
                "pass SharedLimits('redis://localhost:6379/0') or SharedLimits(redis=client)",
            )
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://"))
        ):
            raise InvalidRequestError(
                "shared_limits",
                "must be a redis://, rediss:// or unix:// URL",
                "pass e.g. 'redis://localhost:6379/0'",
            )
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise InvalidRequestError(
                "namespace", "must be a non-empty string", "pass e.g. 'billing-prod'"
            )
        if not isinstance(on_unavailable, str) or on_unavailable not in {"local", "fail"}:
            raise InvalidRequestError(
                "on_unavailable",
                f"must be 'local' or 'fail', got {shown_value(on_unavailable)}",
                "pass on_unavailable='local' to fall back to local limits",
            )
        if not isinstance(override_tenant_concurrency, bool):
            raise InvalidRequestError(
                "override_tenant_concurrency",
                f"must be True or False, got {shown_value(override_tenant_concurrency)}",
                "pass True only to replace the tenant_concurrency the namespace records",
            )
        self._where = "the given Redis client"
        if url is not None:
            parts = urlsplit(url)
            if parts.password:  # never in a message, even one quoting Redis's own words
                redact.register(parts.password)
            # Without user or password: safe to log.
            port = f":{parts.port}" if parts.port else ""
            self._where = f"{parts.scheme}://{parts.hostname or 'localhost'}{port}{parts.path}"
        self.url = url
        self.redis = redis
        self.namespace = namespace
        self.lease_seconds = _positive("lease_seconds", lease_seconds, "pass e.g. 10")
        self.on_unavailable = on_unavailable
        self.retry_after = _positive("retry_after", retry_after, "pass seconds, e.g. 1")
        self.poll_interval = _positive("poll_interval", poll_interval, "pass seconds, e.g. 0.002")
        self.timeout = _positive("timeout", timeout, "pass seconds, e.g. 1")
        self.override_tenant_concurrency = override_tenant_concurrency

    def __repr__(self) -> str:
        return f"SharedLimits({self._where!r}, namespace={self.namespace!r})"

    def namespace_for(
        self,
        base_url: str,
        entity_ids: Sequence[str] | str | None,
        client_id: str | None = None,
    ) -> str:
        """The namespace of a tenant: the explicit one, else ``tenant_namespace``."""
        if self.namespace is not None:
            return self.namespace
        return tenant_namespace(base_url, entity_ids, client_id)

    def gate(
        self,
        *,
        base_url: str,
        entity_ids: Sequence[str] | str | None,
        tenant_concurrency: int,
        client_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> SharedGate:
        """The per-client side of the shared limits; create it in the client's event loop."""
        # Imported here: the gate, its courier and the Lua load only for a client that
        # shares limits, not with the package.
        from zuora_wf_async._shared._gate import SharedGate

        return SharedGate(
            self,
            self.namespace_for(base_url, entity_ids, client_id),
            tenant_concurrency=tenant_concurrency,
            clock=clock,
        )


def normalise_base_url(base_url: str) -> str:
    """``scheme://host[:port][/path]`` with the spellings of one host made equal: lower
    case, the scheme's default port dropped, a trailing ``/`` or ``/v1`` dropped."""
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: keep the text, it still names one place
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.lower().endswith("/v1"):  # the API version is part of every path we build
        path = path[:-3].rstrip("/")
    return f"{scheme}://{netloc}{path}"


def tenant_namespace(
    base_url: str, entity_ids: Sequence[str] | str | None, client_id: str | None
) -> str:
    """The default namespace: one per tenant, since Zuora limits a tenant.

    Every sandbox of a data centre answers on one host, so the host alone does not say
    which tenant a client talks to; the OAuth client does (each belongs to one tenant).
    Entities of a multi-entity tenant are limited each on its own. Never the secret: a
    rotation must not split one tenant's processes in two.
    """
    if isinstance(entity_ids, str):
        entity_ids = entity_ids.split(",")
    entities = ",".join(sorted(e.strip() for e in entity_ids or () if e.strip()))
    identity = f"{normalise_base_url(base_url)}\n{entities}\n{client_id or ''}"
    return "zuora:" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def connect(settings: SharedLimits) -> Redis:
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - the dev environment has redis
        raise InvalidRequestError(
            "shared_limits",
            "needs the redis package",
            "install the extra: pip install 'zuora-wf-async[redis]'",
        ) from exc
    if settings.redis is not None:
        return settings.redis
    assert settings.url is not None  # noqa: S101 -- checked by SharedLimits
    # One connection, no retries of our own inside redis-py: a down Redis must be found
    # out in one timeout, and the order of our calls must be the order Redis runs them.
    client: Redis = Redis.from_url(
        settings.url,
        single_connection_client=True,
        socket_connect_timeout=settings.timeout,
        socket_timeout=settings.timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return client
