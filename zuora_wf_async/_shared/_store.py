"""One client's line to its tenant's keys in Redis: the connection, the scripts, the
sequence numbers, and what a failed call means.

Calls go one at a time over one connection, in the order they are made (the gate's
courier is the only caller while the client runs). Each call is numbered; the scripts turn
away a call older than one they already applied (see ``_scripts``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

from zuora_wf_async._shared import _scripts
from zuora_wf_async._shared._faults import describe, kind_of
from zuora_wf_async._shared._settings import ConfigurationError, SharedLimits, connect

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["StoreFault", "TenantStore", "keys_of"]


def keys_of(namespace: str) -> list[str]:
    tag = "{" + namespace + "}"
    return [f"zwa:{tag}:{name}" for name in _scripts.KEY_NAMES]


class StoreFault(Exception):  # noqa: N818 -- an internal signal, never leaves the library
    """A call to Redis failed: ``kind`` says whether waiting can cure it ("outage"), or
    not ("configuration"), or whether this process stalled, not Redis ("stall")."""

    def __init__(
        self, kind: Literal["outage", "configuration", "stall"], error: BaseException
    ) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class TenantStore:
    def __init__(self, settings: SharedLimits, namespace: str, holder: str) -> None:
        self.settings = settings
        self.namespace = namespace
        self.holder = holder
        self.keys = keys_of(namespace)
        self._lease_ms = max(1, int(settings.lease_seconds * 1000))
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._seq = 0
        self.calls = 0
        # time.monotonic() when the last call that Redis applied was sent: our lease runs
        # to at least then + lease_seconds (Redis applied it after we sent it).
        self.confirmed_at = -float("inf")

    def describe(self, error: BaseException) -> str:
        return describe(error, self.settings.timeout)

    def _connection(self) -> Redis:
        if self._redis is None:
            self._redis = connect(self.settings)
            self._scripts = {
                name: self._redis.register_script(source)
                for name, source in (
                    ("open", _scripts.OPEN),
                    ("acquire", _scripts.ACQUIRE),
                    ("release", _scripts.RELEASE),
                )
            }
        return self._redis

    async def _eval(self, name: str, args: list[object]) -> list[int]:
        redis = self._connection()
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                result = await self._scripts[name](keys=self.keys, args=args)
        except Exception as exc:
            if not _is_store_error(exc):
                raise
            kind: Literal["outage", "configuration", "stall"] = kind_of(exc)
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
            raise StoreFault(kind, exc) from None
        return [int(value) for value in result]

    async def _drop(self, redis: Redis) -> None:
        if self.settings.redis is None:
            self._redis = None
            try:
                await redis.aclose()
            except Exception as exc:  # noqa: BLE001 -- closing a broken line: nothing to do
                del exc

    async def open(self, tenant_concurrency: int) -> tuple[int, int]:
        """Record (or compare) the namespace's cap: ``(status, recorded)`` (see OPEN)."""
        override = "1" if self.settings.override_tenant_concurrency else "0"
        status, found = await self._eval("open", [tenant_concurrency, override])
        return status, found

    async def call(self, name: str, holding: int, tenant: int, *args: object) -> list[int] | None:
        """Run ``acquire`` or ``release`` stating ``holding``; None if Redis turned the
        call away as stale (cannot happen to calls made one at a time, but costs nothing
        to survive)."""
        self._seq += 1
        sent_at = time.monotonic()
        self.calls += 1
        argv = [self.holder, self._seq, holding, self._lease_ms, tenant, *args]
        result = await self._eval(name, argv)
        if result[0] == _scripts.STALE and len(result) == 1:
            return None
        self.confirmed_at = sent_at
        return result

    async def forget_me(self) -> None:
        """Take this holder out of the tenant's counts (the client closes). A Redis gone
        meanwhile is no error here: our lease ends by itself."""
        redis = self._connection()
        held, leases, waiting, _state, seq = self.keys
        try:
            async with asyncio.timeout(self.settings.timeout):
                await redis.hdel(held, self.holder)
                await redis.zrem(leases, self.holder)
                await redis.zrem(waiting, self.holder)
                await redis.hdel(seq, self.holder)
        except Exception as exc:
            if not _is_store_error(exc):
                raise

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._drop(self._redis)


def _is_store_error(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, RedisError | OSError | TimeoutError)


def configuration_error(store: TenantStore, error: BaseException) -> ConfigurationError:
    """The message for a Redis that refuses us: what it said, and what to change."""
    from redis import exceptions as r

    where = store.settings._where
    said = store.describe(error)
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
        f"shared limits: Redis at {where} refuses this client ({said}); {fix}. "
        "Only an outage falls back to local limits; this will not pass by itself"
    )
