"""Tenant-wide limits shared by every process through Redis (the ``redis`` extra).

Zuora's limits belong to the tenant: 40 requests in flight by default, and quotas per
minute, hour and day. ``SharedLimits`` keeps, in Redis, what every client of one tenant
must agree on:

- a semaphore of ``tenant_concurrency`` slots whose slots are **leases**: each process
  renews its lease every ``lease_seconds / 3`` while it holds slots, and a process that dies
  (``kill -9``) stops renewing, so its slots are free again within ``lease_seconds``;
- the quota window last reported by Zuora (``RateLimit-Remaining`` / ``-Reset``), counted
  down by every send of every process;
- the pause after a spent-window 429 and the adaptive cut after a too-many 429, decided by
  the pure rules in ``_core.pacing`` and applied here for everyone.

Each process keeps its own ``AdaptiveLimiter`` (``max_concurrency`` stays the per-process
cap); a request takes its local slot first, then a tenant slot here.

When Redis cannot be reached (at start, or mid-batch), the client carries on under its
local limits, logs one WARNING, and tries Redis again every ``retry_after`` seconds; with
``on_unavailable="fail"`` it raises :class:`SharedLimitsError` instead. Every call to
Redis carries the number of slots this process holds, so when Redis comes back empty
(restarted) or forgot us (a lease lapsed while the process was stalled), the count is
rebuilt from the processes themselves.

Calls to Redis go one at a time over one connection, in the order they were made: a
release is never overtaken by an earlier acquire, so the count Redis holds for a process
is never below what it really holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from zuora_wf_async._core.pacing import Pacing, Throttle, Verdict, classify_429
from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._errors import InvalidRequestError, ZuoraError
from zuora_wf_async._shared import _scripts

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_TENANT_CONCURRENCY",
    "Lease",
    "Paused",
    "SharedGate",
    "SharedLimits",
    "SharedLimitsError",
    "SlotWaitExpired",
    "take_tenant_slot",
]

logger = logging.getLogger("zuora_wf_async")

DEFAULT_LEASE_SECONDS: Final = 10.0
DEFAULT_TENANT_CONCURRENCY: Final = 40  # Zuora's default in-flight limit per tenant
_INSTALL_FIX: Final = "install the extra: pip install 'zuora-wf-async[redis]'"


class SharedLimitsError(ZuoraError):
    """The shared-limits store (Redis) could not be reached, and the client was told to
    fail (``on_unavailable="fail"``) rather than fall back to its local limits."""


class SlotWaitExpired(Exception):  # noqa: N818 -- an internal signal, never leaves the library
    """No tenant slot came free before the caller's deadline."""


@attrs.frozen
class Lease:
    """A tenant slot. ``gen`` is the shared pacing generation it was taken in; ``shared``
    is False for a slot taken under local limits while Redis was unreachable."""

    gen: int
    shared: bool


@attrs.frozen
class Paused:
    """The tenant is paused (a spent quota window): wait ``seconds`` before sending."""

    seconds: float


def _positive(field: str, value: object, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidRequestError(field, f"must be a positive number, got {value!r}", fix)
    return float(value)


def _where(url: str) -> str:
    """``redis://host:port/db`` without user or password: safe to log."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class SharedLimits:
    """Share a tenant's limits among processes through Redis.

    ``WorkflowClient(..., shared_limits="redis://localhost:6379/0")`` is the usual way in;
    build this object to change the defaults:

    - ``url`` or ``redis`` (a ``redis.asyncio.Redis`` you built; then you close it);
    - ``namespace``: clients with the same namespace share limits. Default: one per base
      URL and entity, which is what Zuora limits;
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
        if on_unavailable not in {"local", "fail"}:
            raise InvalidRequestError(
                "on_unavailable",
                f"must be 'local' or 'fail', got {on_unavailable!r}",
                "pass on_unavailable='local' to fall back to local limits",
            )
        self.url = url
        self.redis = redis
        self.namespace = namespace
        self.lease_seconds = _positive("lease_seconds", lease_seconds, "pass e.g. 10")
        self.on_unavailable = on_unavailable
        self.retry_after = _positive("retry_after", retry_after, "pass seconds, e.g. 1")
        self.poll_interval = _positive("poll_interval", poll_interval, "pass seconds, e.g. 0.002")
        self.timeout = _positive("timeout", timeout, "pass seconds, e.g. 1")
        self._where = _where(url) if url is not None else "the given Redis client"

    def __repr__(self) -> str:
        return f"SharedLimits({self._where!r}, namespace={self.namespace!r})"

    def namespace_for(self, base_url: str, entity_ids: Sequence[str] | str | None) -> str:
        """The namespace of a tenant: the explicit one, else a digest of host and entity."""
        if self.namespace is not None:
            return self.namespace
        entities = entity_ids if isinstance(entity_ids, str) else ",".join(entity_ids or ())
        digest = hashlib.sha256(f"{base_url}\n{entities}".encode()).hexdigest()
        return f"zuora:{digest[:24]}"

    def gate(
        self,
        *,
        base_url: str,
        entity_ids: Sequence[str] | str | None,
        tenant_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> SharedGate:
        """The per-client side of the shared limits; create it in the client's event loop."""
        return SharedGate(
            self,
            self.namespace_for(base_url, entity_ids),
            tenant_concurrency=tenant_concurrency,
            clock=clock,
        )


def _connect(settings: SharedLimits) -> Redis:
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - the dev environment has redis
        raise InvalidRequestError("shared_limits", "needs the redis package", _INSTALL_FIX) from exc
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


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


class SharedGate:
    """One client's handle on its tenant's shared limits (one event loop)."""

    def __init__(
        self,
        settings: SharedLimits,
        namespace: str,
        *,
        tenant_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.tenant_concurrency = tenant_concurrency
        self.holder = uuid.uuid4().hex
        self.held = 0
        self._clock = clock
        tag = "{" + namespace + "}"
        self._keys = [f"zwa:{tag}:held", f"zwa:{tag}:leases", f"zwa:{tag}:waiting"]
        self._keys.append(f"zwa:{tag}:state")
        self._lease_ms = max(1, int(settings.lease_seconds * 1000))
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._errors = _unreachable_errors()
        self._down = False
        self._retry_at = -math.inf
        self._resync = True  # the first call registers our count
        self._turn: asyncio.Lock | None = None
        self._freed: asyncio.Event | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._queue: deque[tuple[str, int, Sequence[object], asyncio.Future[list[int]]]] = deque()
        self._courier: asyncio.Task[None] | None = None
        self._closed = False
        self.fallbacks = 0  # times Redis was found unreachable
        self.reconnects = 0  # times it came back
        self.local_slots = 0  # slots granted under local limits while it was down
        self.peak_gen = 0

    @property
    def available(self) -> bool:
        """False while Redis is unreachable and the client runs on local limits."""
        return not self._down

    # -- acquire / release ------------------------------------------------------------------

    async def acquire(self, deadline_at: float = math.inf) -> Lease | Paused:
        """A tenant slot, or how long the tenant is paused. Raises ``SlotWaitExpired`` when
        no slot frees up by ``deadline_at`` (the client's clock)."""
        if self._turn is None:
            self._turn = asyncio.Lock()
            self._freed = asyncio.Event()
        local = self._local_lease()
        if local is not None:
            return local
        time_left = deadline_at - self._clock()
        try:
            async with asyncio.timeout(None if math.isinf(time_left) else max(time_left, 0)):
                # One waiter per process asks Redis; the rest queue here in arrival order.
                async with self._turn:
                    return await self._acquire_in_turn()
        except TimeoutError:
            raise SlotWaitExpired from None

    async def try_acquire(self) -> Lease | Paused | None:
        """Ask once, without waiting: a slot, a pause, or None when the tenant is full."""
        if self._turn is None:
            self._turn = asyncio.Lock()
            self._freed = asyncio.Event()
        async with self._turn:
            return await self._ask_once()

    async def _acquire_in_turn(self) -> Lease | Paused:
        assert self._freed is not None  # noqa: S101 -- set with _turn
        while True:
            answer = await self._ask_once()
            if answer is not None:
                return answer
            # The tenant is full: ask again when one of our requests ends, or soon.
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_interval):
                    await self._freed.wait()

    async def _ask_once(self) -> Lease | Paused | None:
        local = self._local_lease()
        if local is not None:
            return local
        # Count the slot as ours before asking: a release queued behind this call then
        # reports at most one slot too many (safe), never one too few.
        self.held += 1
        answer = self._send("acquire", self.held - 1, self.tenant_concurrency, self._waiting_ms())
        try:
            granted, wait_ms, gen = await asyncio.shield(answer)
        except _Unreachable:
            self.held -= 1
            return self._fall_back()
        except asyncio.CancelledError:
            # Our caller gave up (its deadline): a slot granted meanwhile goes back.
            answer.add_done_callback(self._abandon)
            raise
        self.peak_gen = max(self.peak_gen, gen)
        if granted:
            self._ensure_heartbeat()
            return Lease(gen, shared=True)
        self.held -= 1
        return Paused(wait_ms / 1000.0) if wait_ms >= 0 else None

    def _abandon(self, answer: asyncio.Future[list[int]]) -> None:
        if answer.cancelled() or answer.exception() is not None:
            self.held -= 1
            return
        granted, _wait_ms, gen = answer.result()
        if granted:
            self.release(Lease(gen, shared=True), status=None, info=None)
        else:
            self.held -= 1

    def release(
        self,
        lease: Lease,
        *,
        status: int | None,
        info: RateLimitInfo | None,
        verdict: Verdict | None = None,
        plenty: bool = False,
    ) -> None:
        """Give the slot back and share what the answer taught (sent in the background, in
        order after every call made before it)."""
        self.held -= 1
        if self._freed is not None:
            self._freed.set()
        if self._down or self._closed:
            return
        outcome, pause_ms = _outcome(status, info, verdict, self._clock())
        reading = _reading(status, info, plenty)
        answer = self._send(
            "release", self.held, self.tenant_concurrency, lease.gen, outcome, pause_ms, *reading
        )
        answer.add_done_callback(_ignore_outcome)

    async def aclose(self) -> None:
        """Stop renewing, flush pending releases and drop this process's slots from Redis."""
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._courier is not None:
            await asyncio.gather(self._courier, return_exceptions=True)  # pending releases
        if self._redis is not None and not self._down:
            with contextlib.suppress(*self._errors):
                async with asyncio.timeout(self.settings.timeout):
                    await self._redis.hdel(self._keys[0], self.holder)
                    await self._redis.zrem(self._keys[1], self.holder)
                    await self._redis.zrem(self._keys[2], self.holder)
        if self._redis is not None and self.settings.redis is None:
            await self._redis.aclose()
        self._redis = None

    # -- talking to Redis -------------------------------------------------------------------

    def _waiting_ms(self) -> int:
        # A refused process counts as waiting a little longer than it takes to ask again.
        return max(20, int(self.settings.poll_interval * 1000 * 10))

    def _send(self, name: str, holding: int, *args: object) -> asyncio.Future[list[int]]:
        """Queue one script call; one courier runs them in the order they were queued."""
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((name, holding, args, answer))
        if self._courier is None or self._courier.done():
            self._courier = asyncio.get_running_loop().create_task(self._deliver())
        return answer

    async def _deliver(self) -> None:
        while self._queue:
            name, holding, args, answer = self._queue.popleft()
            try:
                result = await self._run(name, holding, args)
            except _Unreachable as exc:
                if not answer.done():
                    answer.set_exception(exc)
                continue
            if not answer.done():
                answer.set_result(result)

    async def _run(self, name: str, holding: int, args: Sequence[object]) -> list[int]:
        if self._redis is None:
            self._redis = _connect(self.settings)
            for script_name, source in (
                ("acquire", _scripts.ACQUIRE),
                ("release", _scripts.RELEASE),
                ("renew", _scripts.RENEW),
            ):
                self._scripts[script_name] = self._redis.register_script(source)
        resync = self._resync
        argv = [self.holder, holding, self._lease_ms, "1" if resync else "0", *args]
        try:
            async with asyncio.timeout(self.settings.timeout):
                result = await self._scripts[name](keys=self._keys, args=argv)
        except self._errors as exc:
            self._went_down(exc)
            raise _Unreachable from None
        if resync:
            self._resync = False
        if self._down:
            self._down = False
            self.reconnects += 1
            logger.info(
                "shared limits: Redis at %s is reachable again; tenant %s shares limits again",
                self.settings._where,
                self.namespace,
            )
        return [int(value) for value in result]

    def _went_down(self, error: BaseException) -> None:
        self._retry_at = time.monotonic() + self.settings.retry_after
        self._resync = True  # when it answers again, it must learn our count afresh
        if not self._down:
            self._down = True
            self.fallbacks += 1
            action = (
                "failing calls (on_unavailable='fail')"
                if self.settings.on_unavailable == "fail"
                else "using local limits until it answers"
            )
            logger.warning(
                "shared limits: Redis at %s is unreachable (%s: %.200s); %s, retrying every %gs",
                self.settings._where,
                type(error).__name__,
                str(error),
                action,
                self.settings.retry_after,
            )

    def _local_lease(self) -> Lease | None:
        """While Redis is down and not due for another try: a local slot, or the error."""
        if not self._down or time.monotonic() >= self._retry_at:
            return None
        return self._fall_back()

    def _fall_back(self) -> Lease:
        if self.settings.on_unavailable == "fail":
            raise SharedLimitsError(
                f"the shared-limits store ({self.settings._where}) is unreachable and "
                "on_unavailable='fail'; start Redis or pass on_unavailable='local'"
            )
        self.held += 1
        self.local_slots += 1
        return Lease(0, shared=False)

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        """Renew our lease while we hold slots; try Redis again while it is down."""
        period = self.settings.lease_seconds / 3
        while not self._closed:
            await asyncio.sleep(min(period, self.settings.retry_after if self._down else period))
            if self.held <= 0 and not self._down:
                continue
            if self._down and time.monotonic() < self._retry_at:
                continue
            with contextlib.suppress(_Unreachable):
                await self._send("renew", self.held)


class _Unreachable(Exception):  # noqa: N818 -- internal control flow
    pass


def _ignore_outcome(answer: asyncio.Future[list[int]]) -> None:
    # A release nobody awaits: fetch its outcome so asyncio does not warn "never retrieved".
    if not answer.cancelled():
        answer.exception()


def _outcome(
    status: int | None, info: RateLimitInfo | None, verdict: Verdict | None, now: float
) -> tuple[str, int]:
    """What the store should apply for everyone: ('ok'|'cut'|'pause'|'', pause ms)."""
    if status is None:
        return "", 0
    if 200 <= status < 300:
        return "ok", 0
    if status != 429:
        return "", 0
    if classify_429(info) is Throttle.TOO_MANY_IN_FLIGHT:
        return "cut", 0
    if verdict is not None and verdict.pause_until is not None:
        return "pause", max(1, math.ceil((verdict.pause_until - now) * 1000))
    return "", 0


def _reading(status: int | None, info: RateLimitInfo | None, plenty: bool) -> tuple[str, int]:
    if plenty:
        return "plenty", 0
    if (
        info is None
        or info.remaining is None
        or info.reset is None
        or (status == 429 and info.exhausted)  # judged by the 429 rules, not believed here
    ):
        return "", 0
    return str(info.remaining), math.ceil(info.reset * 1000)


async def take_tenant_slot(
    gate: SharedGate,
    pacing: Pacing,
    *,
    deadline_at: float,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[object]],
) -> Lease:
    """A tenant slot for a request that holds its local slot already.

    While the tenant is paused (a spent window someone saw), the local pacing learns the
    pause too, so this process's other requests wait in the local limiter instead of each
    asking Redis, and the 429s of requests already in flight cause no second pause. Raises
    ``WaitPastDeadline`` (the limiter's signal) when the wait would outlast the deadline.
    """
    from zuora_wf_async._limiter import WaitPastDeadline

    while True:
        try:
            answer = await gate.acquire(deadline_at)
        except SlotWaitExpired:
            raise WaitPastDeadline(None) from None
        if isinstance(answer, Lease):
            return answer
        now = clock()
        pacing.pause_until(now + answer.seconds)
        if now + answer.seconds >= deadline_at:
            raise WaitPastDeadline(answer.seconds)
        await sleep(answer.seconds)
