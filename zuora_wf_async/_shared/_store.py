"""One client's line to its tenant's keys in Redis, and whether Redis answers.

Calls go one at a time over one connection, in order (the courier is the only caller),
each numbered: the scripts turn away a call older than one they applied (``_scripts``).

A failed call is an outage, which ends by itself (local limits, one WARNING, "back" as an
INFO line), or a configuration error, which never does (a wrong password, no ``EVALSHA``):
at the start it fails the client with :class:`ConfigurationError` (a fallback "for good"
whose WARNING said "unreachable" hid it), later it is an ERROR. The rules read redis-py's
exception classes, chosen from the server's error code; the one text rule is Redis's
documented ``BUSY`` prefix (a script running too long).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from zuora_wf_async._core.redact import scrub
from zuora_wf_async._shared import ConfigurationError, SharedLimits, _scripts, connect

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["TenantStore", "describe", "forget_holder", "is_store_error", "keys_of", "kind_of"]

logger = logging.getLogger("zuora_wf_async")

# Slots pass from request to request only while the lease is surely alive: Redis ended it
# no sooner than lease_seconds after our last call it applied was sent. The heartbeat
# renews every third of it, so this leaves room for one late heartbeat.
_LEASE_TRUST = 0.8


def keys_of(namespace: str) -> list[str]:
    tag = "{" + namespace + "}"
    return [f"zwa:{tag}:{name}" for name in _scripts.KEY_NAMES]


async def forget_holder(redis: Redis, keys: list[str], holder: str) -> None:
    """Take ``holder`` out of the tenant's counts (its lease, its wait, its sequence)."""
    held, leases, waiting, _state, seq = keys
    await redis.hdel(held, holder)
    await redis.zrem(leases, holder)
    await redis.zrem(waiting, holder)
    await redis.hdel(seq, holder)


def is_store_error(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, RedisError | OSError | TimeoutError)


def kind_of(error: BaseException) -> Literal["outage", "configuration"]:
    from redis import exceptions as r

    refused = (
        r.AuthenticationError
        | r.AuthorizationError
        | r.AuthenticationWrongNumberOfArgsError
        | r.NoPermissionError
        | r.DataError  # refused before sending: our own arguments
    )
    transient = (
        r.BusyLoadingError
        | r.ReadOnlyError  # a replica answering during a failover
        | r.TryAgainError
        | r.ClusterDownError
        | r.OutOfMemoryError
    )
    if isinstance(error, refused):
        return "configuration"
    if isinstance(error, r.ResponseError) and not isinstance(error, transient):
        # An error *answer*: the server refuses what we ask and will keep doing so.
        return "outage" if str(error).startswith("BUSY") else "configuration"
    return "outage"


def describe(error: BaseException, timeout: float) -> str:
    """``Type: text``, never empty: a timeout's own text is ``""``."""
    text = " ".join(str(error).split())
    if not text:
        if isinstance(error, TimeoutError) or type(error).__name__ == "TimeoutError":
            text = f"no answer within {timeout:g}s"
        else:
            text = "no detail given"
    return f"{type(error).__name__}: {scrub(text)[:200]}"


class _Fault(Exception):  # noqa: N818 -- an internal signal, caught in this module
    """A call to Redis failed: ``kind`` says whether waiting can cure it ("outage"), or
    not ("configuration"), or whether this process stalled, not Redis ("stall")."""

    def __init__(self, kind: str, error: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class TenantStore:
    def __init__(
        self,
        settings: SharedLimits,
        namespace: str,
        holder: str,
        *,
        tenant_concurrency: int,
        on_down: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.holder = holder
        self.tenant_concurrency = tenant_concurrency
        self.keys = keys_of(namespace)
        self._lease_ms = max(1, int(settings.lease_seconds * 1000))
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._seq = 0
        self.calls = 0
        # time.monotonic() when the last call that Redis applied was sent: our lease runs
        # to at least then + lease_seconds (Redis applied it after we sent it).
        self.confirmed_at = -math.inf
        self.down = False
        self.retry_at = -math.inf  # while down: when the heartbeat tries again
        self.checked = False  # the namespace's cap compared (OPEN run) on this store
        self.broken: ConfigurationError | None = None  # found at start: every call fails
        self.fallbacks = 0  # times Redis was found unreachable
        self.reconnects = 0  # times it came back
        self._down_kind = ""  # what the last WARNING/ERROR said
        self._on_down = on_down
        self._nudge = asyncio.Event()  # Redis went away: the heartbeat's period changes

    def _connection(self) -> Redis:
        if self._redis is None:
            self._redis = connect(self.settings)
            self._scripts = {
                "open": self._redis.register_script(_scripts.OPEN),
                "acquire": self._redis.register_script(_scripts.ACQUIRE),
                "release": self._redis.register_script(_scripts.RELEASE),
            }
        return self._redis

    async def _eval(self, name: str, args: list[object]) -> list[int]:
        redis = self._connection()
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                result = await self._scripts[name](keys=self.keys, args=args)
        except Exception as exc:
            if not is_store_error(exc):
                raise
            kind: str = kind_of(exc)
            if isinstance(exc, TimeoutError) and (
                time.monotonic() - started > 2 * self.settings.timeout
            ):
                # The timer fired long after it was due: *this* process stalled (SIGSTOP,
                # a frozen VM), maybe with Redis's answer waiting in the socket. Not an
                # outage: the call is lost, and the next one states our count.
                kind = "stall"
            if kind != "configuration":
                # A call we gave up on may still be read by a stalled server; a fresh
                # connection next time, and the sequence number makes the late one moot.
                await self._drop(redis)
            raise _Fault(kind, exc) from None
        return [int(value) for value in result]

    async def _drop(self, redis: Redis) -> None:
        if self.settings.redis is None:
            self._redis = None
            with contextlib.suppress(Exception):  # closing a broken line: nothing to do
                await redis.aclose()

    async def first_contact(self) -> None:
        """The check at start: raises ``ConfigurationError``; an outage falls back."""
        try:
            await self._check()
        except _Fault as fault:
            if fault.kind == "configuration":
                self.broken = self._refused(fault.error)
                raise self.broken from None
            self._went_down("outage", describe(fault.error, self.settings.timeout))
        except ConfigurationError as error:
            self.broken = error
            raise

    async def _check(self) -> None:
        """Record the namespace's cap, or find another recorded (raises)."""
        override = "1" if self.settings.override_tenant_concurrency else "0"
        status, found = await self._eval("open", [self.tenant_concurrency, override])
        if status == 0:
            raise ConfigurationError(
                f"shared limits: namespace {self.namespace} records tenant_concurrency="
                f"{found}, this client has {self.tenant_concurrency}; processes of one "
                "tenant must agree (pass the same value everywhere, e.g. "
                "ZUORA_TENANT_CONCURRENCY), or pass SharedLimits(..., "
                "override_tenant_concurrency=True) to replace the recorded one"
            )
        if status == 2:
            logger.warning(
                "shared limits: tenant_concurrency of namespace %s changed from %d to %d "
                "(override_tenant_concurrency=True); every process of the tenant now "
                "shares %d slots",
                self.namespace,
                found,
                self.tenant_concurrency,
                self.tenant_concurrency,
            )
        self.checked = True

    async def call(self, name: str, holding: int, *args: object) -> list[int] | None:
        """Run ``acquire`` or ``release`` stating ``holding``; None when Redis did not
        apply it (down, or turned away as stale: a late call, harmless)."""
        try:
            if not self.checked:  # down at start: the cap is compared when it answers
                await self._check()
            self._seq += 1
            sent_at = time.monotonic()
            self.calls += 1
            argv = [self.holder, self._seq, holding, self._lease_ms, self.tenant_concurrency]
            result = await self._eval(name, [*argv, *args])
        except _Fault as fault:
            if fault.kind == "configuration":
                self._went_down(fault.kind, str(self._refused(fault.error)))
            elif fault.kind == "outage":
                self._went_down(fault.kind, describe(fault.error, self.settings.timeout))
            return None
        except ConfigurationError as error:
            self._went_down("configuration", str(error))
            return None
        if result[0] == _scripts.STALE and len(result) == 1:
            return None
        self.confirmed_at = sent_at
        if self.down:
            self.down = False
            self._down_kind = ""
            self.reconnects += 1
            logger.info(
                "shared limits: Redis at %s is reachable again; tenant %s shares limits again",
                self.settings._where,
                self.namespace,
            )
        return result

    def _went_down(self, kind: str, text: str) -> None:
        self.retry_at = time.monotonic() + self.settings.retry_after
        self._on_down()
        if not self.down:
            self.down = True
            self.fallbacks += 1
            self._nudge.set()  # the heartbeat tries again every retry_after from now
        if kind == self._down_kind:
            return  # said once already
        self._down_kind = kind
        action = (
            "failing calls (on_unavailable='fail')"
            if self.settings.on_unavailable == "fail"
            else "using local limits until it answers"
        )
        if kind == "configuration":
            # Found after the start (the start fails on it): loud, but the batch goes on.
            logger.error("%s; %s, retrying every %gs", text, action, self.settings.retry_after)
            return
        logger.warning(
            "shared limits: Redis at %s is unreachable (%s); %s, retrying every %gs",
            self.settings._where,
            text,
            action,
            self.settings.retry_after,
        )

    def _refused(self, error: BaseException) -> ConfigurationError:
        """The message for a Redis that refuses us: what it said, and what to change."""
        from redis import exceptions as r

        if isinstance(error, r.AuthenticationError | r.AuthenticationWrongNumberOfArgsError):
            fix = "put the right user and password in the URL (redis://user:password@host:port/0)"
        elif isinstance(error, r.NoPermissionError | r.AuthorizationError):
            fix = (
                "grant the Redis user +evalsha +script|load and the hash, sorted-set and TIME "
                "commands its scripts call, on keys zwa:*"
            )
        else:
            fix = "use Redis >= 5 (or valkey), which runs scripts that call TIME, with EVALSHA"
        return ConfigurationError(
            f"shared limits: Redis at {self.settings._where} refuses this client "
            f"({describe(error, self.settings.timeout)}); {fix}. "
            "Only an outage falls back to local limits; this will not pass by itself"
        )

    def lease_alive(self) -> bool:
        trusted = self.settings.lease_seconds * _LEASE_TRUST
        return time.monotonic() < self.confirmed_at + trusted

    async def beat(self, counted: Callable[[], bool], renew: Callable[[], None]) -> None:
        """The heartbeat, until cancelled: ``renew()`` (a call, through the courier) every
        third of the lease while ``counted()`` (Redis counts slots for us); while Redis is
        down, every ``retry_after``, beside the requests (they go on under local limits)."""
        period = self.settings.lease_seconds / 3
        while True:
            seconds = min(period, self.settings.retry_after) if self.down else period
            # Woken early when Redis goes away, so that the first try comes after
            # retry_after, not after the rest of a renewal period.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._nudge.wait()
            self._nudge.clear()
            if self.down:
                if time.monotonic() < self.retry_at:
                    continue
            elif not counted():
                continue
            renew()

    async def forget_me(self) -> None:
        """Take this holder out of the tenant's counts (the client closes). A Redis gone
        meanwhile is no error here: our lease ends by itself."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                await forget_holder(self._connection(), self.keys, self.holder)
        except Exception as exc:
            if not is_store_error(exc):
                raise

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._drop(self._redis)
