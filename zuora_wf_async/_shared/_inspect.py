"""What an operator asks of a tenant's shared state: who holds its slots, is it paused,
what is left of the quota window; and the one repair, clearing a stale holder.

Read-only apart from :func:`clear_holder`. Times are the Redis server's (``TIME``), shown
as durations, as the scripts use them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from zuora_wf_async._shared import ConfigurationError, SharedLimits, SharedLimitsError, connect
from zuora_wf_async._shared._store import (
    describe,
    forget_holder,
    is_store_error,
    keys_of,
    kind_of,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Holder", "TenantState", "clear_holder", "read_tenant"]


@attrs.frozen(kw_only=True)
class Holder:
    """One client process (its gate) known to the tenant's store."""

    holder: str
    slots: int
    lease_left_ms: int  # <= 0: its lease ended; the next call of anyone frees its slots
    waiting: bool


@attrs.frozen(kw_only=True)
class TenantState:
    namespace: str
    tenant_concurrency: int | None  # recorded by the first client (None: nothing yet)
    limit: float | None  # the adaptive cut, when one is in force
    slots_held: int
    paused_ms: int  # 0: not paused
    quota_left: int | None  # counted down by every send, while a window is watched
    quota_reset_ms: int | None
    holders: tuple[Holder, ...]


@contextlib.asynccontextmanager
async def _talking(settings: SharedLimits) -> AsyncIterator[Redis]:
    """A connection for one look; Redis's errors become ours (a ``ZuoraError``, so that
    the CLI prints one line): refused, ``ConfigurationError``; else ``SharedLimitsError``."""
    redis = connect(settings)
    try:
        async with asyncio.timeout(settings.timeout * 5):
            yield redis
    except Exception as exc:
        if not is_store_error(exc):
            raise
        said = describe(exc, settings.timeout * 5)
        if kind_of(exc) == "configuration":
            raise ConfigurationError(
                f"shared limits: Redis at {settings._where} refuses this client ({said})"
            ) from None
        raise SharedLimitsError(
            f"shared limits: Redis at {settings._where} is unreachable ({said})"
        ) from None
    finally:
        if settings.redis is None:
            await redis.aclose()


async def read_tenant(settings: SharedLimits, namespace: str) -> TenantState:
    held_key, leases_key, waiting_key, state_key, _seq = keys_of(namespace)
    async with _talking(settings) as redis:
        seconds, micros = await redis.time()
        now = int(seconds) * 1000 + int(micros) // 1000
        held = _texts((await redis.hgetall(held_key)).items())
        leases = _texts(await redis.zrange(leases_key, 0, -1, withscores=True))
        waiting = _texts(await redis.zrange(waiting_key, 0, -1, withscores=True))
        text = _texts((await redis.hgetall(state_key)).items())
    names = {*held, *leases}
    holders = tuple(
        sorted(
            (
                Holder(
                    holder=name,
                    slots=int(held.get(name, "0")),
                    lease_left_ms=int(float(leases.get(name, now)) - now),
                    waiting=float(waiting.get(name, "0")) > now,
                )
                for name in names
            ),
            key=lambda h: (-h.slots, h.holder),
        )
    )
    reset_at = int(text["quota_reset_at"]) if "quota_reset_at" in text else None
    return TenantState(
        namespace=namespace,
        tenant_concurrency=int(text["tenant"]) if "tenant" in text else None,
        limit=float(text["limit"]) if "limit" in text else None,
        slots_held=sum(h.slots for h in holders if h.lease_left_ms > 0),
        paused_ms=max(0, int(text.get("paused_until", "0")) - now),
        quota_left=int(text["quota_left"]) if "quota_left" in text else None,
        quota_reset_ms=max(0, reset_at - now) if reset_at is not None else None,
        holders=holders,
    )


async def clear_holder(settings: SharedLimits, namespace: str, holder: str) -> int:
    """Forget ``holder`` (a process that will not come back): the slots it held, freed.
    Returns them. A live process that is cleared states its count again with its next
    call, so clearing one by mistake costs a moment of over-count, nothing more."""
    keys = keys_of(namespace)
    async with _talking(settings) as redis:
        slots = int(_str(await redis.hget(keys[0], holder) or b"0"))
        await forget_holder(redis, keys, holder)
    return slots


def _str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _texts(pairs: Iterable[Any]) -> dict[str, str]:
    return {_str(key): _str(value) for key, value in pairs}
