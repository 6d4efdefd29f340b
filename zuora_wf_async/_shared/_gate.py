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
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from zuora_wf_async._core.pacing import Pacing, Throttle, Verdict, classify_429
from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._deadlines import DeadlineWatch
from zuora_wf_async._shared import _scripts
from zuora_wf_async._shared._settings import (
    Lease,
    Paused,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
    connect,
    unreachable_errors,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["SharedGate", "take_tenant_slot"]

logger = logging.getLogger("zuora_wf_async")

# A freed tenant slot stays with its process this long for the process's next request.
_PARK_SECONDS: Final = 0.01
# Successes (which grow the adaptive limit) and "plenty of quota" can wait this long.
_LAZY_FLUSH_SECONDS: Final = 0.1


@attrs.define
class _Effects:
    """What finished requests taught, gathered until the next call to Redis carries it."""

    released: int = 0  # slots given back to the tenant
    oks: int = 0  # successes (the adaptive limit grows)
    cut_gen: int = -1  # a too-many 429 from a request sent in this shared generation
    pause_ms: int = 0  # a spent window: pause everyone this long
    reading: tuple[str, int] = ("", 0)  # the latest quota reading
    sends: int = 0  # sends on slots passed on inside the process (count against the quota)

    def pending(self) -> bool:
        return self != _Effects()

    def urgent(self) -> bool:
        """Others need to hear this now: freed slots, a cut, a pause, a quota figure."""
        return bool(
            self.released
            or self.cut_gen >= 0
            or self.pause_ms
            or self.reading[0] not in ("", "plenty")
        )


class SharedGate:
    """One client's handle on its tenant's shared limits (one event loop).

    A request that ends hands its tenant slot straight to the next request of this process
    waiting for one, without asking Redis, while the process holds no more than its fair
    share (reported by every script), the tenant is not paused and no quota count-down is
    running. Everything else (asking for slots, giving them back, what answers taught) goes
    through one task that talks to Redis one call at a time, gathering whatever piled up
    during the previous call into the next: a few calls per round trip, not two per request.
    """

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
        self.held = 0  # tenant slots this process holds, as the store should count them
        self._clock = clock
        tag = "{" + namespace + "}"
        self._keys = [f"zwa:{tag}:{name}" for name in ("held", "leases", "waiting", "state")]
        self._lease_ms = max(1, int(settings.lease_seconds * 1000))
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._errors = unreachable_errors()
        self._down = False
        self._retry_at = -math.inf
        self._resync = True  # the first call registers our count
        self._waiters: deque[asyncio.Future[Lease | Paused]] = deque()
        # Each waiter's deadline, on one timer (see zuora_wf_async._deadlines).
        self._deadlines = DeadlineWatch(SlotWaitExpired)
        self._effects = _Effects()
        self._gen = 0
        self._keep = 0  # slots we may pass on inside the process (from the last answer)
        self._counting = False  # the store counts the quota down: every send asks it
        self._paused_until = -math.inf  # time.monotonic()
        self._kick: asyncio.Event | None = None
        self._renew_due = False
        self._flush_at = -math.inf  # successes and "plenty" wait for this (or a busier call)
        self._spare = 0  # shared slots parked for this process's next request
        self._ask_at = -math.inf  # after a refusal, when to ask Redis for slots again
        self._spare_since = -math.inf
        self._parked_timer: asyncio.TimerHandle | None = None  # see _watch_parked
        self._courier: asyncio.Task[None] | None = None
        # When the courier, asleep, will look again by itself (-inf: it is awake).
        self._courier_sleeps_until = -math.inf
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        self.fallbacks = 0  # times Redis was found unreachable
        self.reconnects = 0  # times it came back
        self.local_slots = 0  # slots granted under local limits while it was down
        self.handoffs = 0  # slots passed from one request to the next without Redis
        self.calls = 0  # script calls made
        self.courier_wakes = 0  # times the courier was woken (or started) to look again

    @property
    def available(self) -> bool:
        """False while Redis is unreachable and the client runs on local limits."""
        return not self._down

    # -- acquire / release ------------------------------------------------------------------

    async def acquire(self, deadline_at: float = math.inf) -> Lease | Paused:
        """A tenant slot, or how long the tenant is paused. Raises ``SlotWaitExpired`` when
        no slot frees up by ``deadline_at`` (the client's clock)."""
        local = self._local_lease()
        if local is not None:
            return local
        if self._spare and not self._waiters and self._may_keep():
            self._spare -= 1  # a slot this process parked a moment ago: no need to ask
            self._effects.sends += 1
            self.handoffs += 1
            return Lease(self._gen, shared=True)
        waiter: asyncio.Future[Lease | Paused] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake_by(self._ask_at)
        time_left = deadline_at - self._clock()
        if not math.isinf(time_left):
            self._deadlines.watch(waiter, max(time_left, 0.0))
        try:
            answer = await waiter
        except BaseException:
            # Given up (deadline: SlotWaitExpired, or cancelled): a slot handed over
            # meanwhile goes back.
            self._deadlines.forget(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if isinstance(handed, Lease):
                    self.release(handed, status=None, info=None)
            else:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        self._deadlines.forget(waiter)
        return answer

    async def try_acquire(self) -> Lease | Paused | None:
        """Ask once, without waiting: a slot, a pause, or None when the tenant is full."""
        local = self._local_lease()
        if local is not None:
            return local
        if self._courier is not None:  # one talker at a time: let the courier finish
            await asyncio.gather(self._courier, return_exceptions=True)
        await self._flush()
        answer = await self._ask(1)
        if answer is None:
            return self._fall_back()
        granted, wait_ms = answer
        if granted:
            self.held += 1
            self._ensure_heartbeat()
            return Lease(self._gen, shared=True)
        return Paused(wait_ms / 1000.0) if wait_ms >= 0 else None

    def release(
        self,
        lease: Lease,
        *,
        status: int | None,
        info: RateLimitInfo | None,
        verdict: Verdict | None = None,
        plenty: bool = False,
    ) -> None:
        """Give the slot back (or straight to a waiting request of ours) and share what the
        answer taught; Redis hears of it with the next call."""
        effects = self._effects
        outcome, pause_ms = _outcome(status, info, verdict, self._clock())
        if outcome == "ok":
            effects.oks += 1
        elif outcome == "cut" and lease.shared:
            effects.cut_gen = max(effects.cut_gen, lease.gen)
        elif outcome == "pause":
            effects.pause_ms = max(effects.pause_ms, pause_ms)
            self._paused_until = max(self._paused_until, time.monotonic() + pause_ms / 1000)
        reading = _reading(status, info, plenty)
        if reading[0]:
            effects.reading = reading
        # A quota figure (not "plenty") means the window is being watched: every send then
        # goes through Redis to be counted, and this slot goes back with the figure.
        watched = reading[0] not in ("", "plenty")
        if lease.shared and not watched and self._pass_on(lease):
            return
        if lease.shared and not watched and self._may_keep():
            # Park it: the next request of this process most likely comes within
            # microseconds; the courier gives it back if none does within a moment.
            if not self._spare:
                self._spare_since = time.monotonic()
            self._spare += 1
            # The courier must look by the lazy flush, and again if the slot is still parked
            # at its deadline: a timer sees to that, where waking the courier for every
            # slot parked woke it once per request in a process alone on its tenant.
            self._wake_soon(self._flush_at)
            self._watch_parked()
            return
        self.held -= 1
        if not self._down:  # while it is down, the count is re-asserted when it is back
            effects.released += 1
        self._wake()

    def _may_keep(self) -> bool:
        """May a freed slot stay in this process for its next request?"""
        return not (
            self._down
            or self._closed
            or self._counting  # every send must count the quota down in Redis
            or self.held > self._keep  # over our fair share: others wait
            or time.monotonic() < self._paused_until
        )

    def _pass_on(self, lease: Lease) -> bool:
        """Hand a shared slot to our next waiter, when nothing says it should go back."""
        if not self._may_keep():
            return False
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(Lease(max(lease.gen, self._gen), shared=True))
                self.handoffs += 1
                self._effects.sends += 1
                self._wake_soon(self._flush_at)  # the effects still need to reach Redis
                return True
        return False

    def _watch_parked(self) -> None:
        if self._parked_timer is None:
            loop = asyncio.get_running_loop()
            self._parked_timer = loop.call_later(_PARK_SECONDS, self._parked_due)

    def _parked_due(self) -> None:
        """The parking deadline of the oldest parked slot: wake the courier to give it
        back, unless it was taken (or parked again) meanwhile."""
        self._parked_timer = None
        if not self._spare or self._closed:
            return
        left = self._spare_since + _PARK_SECONDS - time.monotonic()
        if left > 0:
            loop = asyncio.get_running_loop()
            self._parked_timer = loop.call_later(left, self._parked_due)
        else:
            self._wake()

    def _wake_soon(self, due: float) -> None:
        """Wake the courier now for what others must hear at once (a cut, a pause, a quota
        figure), else make sure it looks by ``due``."""
        if self._effects.urgent():
            self._wake()
        else:
            self._wake_by(due)

    async def aclose(self) -> None:
        """Stop renewing, flush what is pending and drop this process's slots from Redis."""
        self._closed = True
        if self._parked_timer is not None:
            self._parked_timer.cancel()
            self._parked_timer = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._courier is not None:
            self._wake()
            await asyncio.gather(self._courier, return_exceptions=True)
        for waiter in self._waiters:
            waiter.cancel()
        self._deadlines.close()
        if self._redis is not None and not self._down:
            with contextlib.suppress(*self._errors):
                async with asyncio.timeout(self.settings.timeout):
                    await self._redis.hdel(self._keys[0], self.holder)
                    await self._redis.zrem(self._keys[1], self.holder)
                    await self._redis.zrem(self._keys[2], self.holder)
        if self._redis is not None and self.settings.redis is None:
            await self._redis.aclose()
        self._redis = None

    # -- the courier: the one task that talks to Redis ---------------------------------------

    def _wake(self) -> None:
        self.courier_wakes += 1
        if self._kick is None:
            self._kick = asyncio.Event()
        self._kick.set()
        if self._courier is None or self._courier.done():
            self._courier = asyncio.get_running_loop().create_task(self._deliver())

    def _wake_by(self, due: float) -> None:
        """Make sure the courier looks again by ``due`` (``time.monotonic()``), without
        waking it when it will anyway: a request handed a slot every few hundred
        microseconds would otherwise wake it for nothing each time."""
        if (
            self._courier is None
            or self._courier.done()
            or self._courier_sleeps_until > max(due, time.monotonic())
        ):
            self._wake()

    async def _deliver(self) -> None:
        assert self._kick is not None  # noqa: S101 -- set by _wake
        while True:
            self._kick.clear()
            now = time.monotonic()
            if self._spare and (
                now - self._spare_since >= _PARK_SECONDS or not self._may_keep() or self._closed
            ):
                self.held -= self._spare
                self._effects.released += self._spare
                self._spare = 0
            if not self._local_lease_due() and (
                self._effects.urgent()
                or self._renew_due
                or (self._effects.pending() and (self._closed or now >= self._flush_at))
            ):
                await self._flush()
                continue
            live = [w for w in self._waiters if not w.done()]
            # Wake for the parked slots' deadline or the next lazy flush, at the latest.
            wake_at = self._flush_at if self._effects.pending() else math.inf
            if self._spare:
                wake_at = min(wake_at, self._spare_since + _PARK_SECONDS)
            if self._closed or not live:
                if self._down or not (self._spare or self._effects.pending()):
                    return
                await self._sleep_until_kicked(wake_at)
                continue
            if self._spare and self._may_keep():
                self._serve_from_spare()
                continue
            if self._local_lease_due():
                self._serve_locally()
                continue
            if now < self._ask_at:
                # Refused a moment ago: our own requests' ends hand slots on meanwhile.
                await self._sleep_until_kicked(min(wake_at, self._ask_at))
                continue
            answer = await self._ask(len(live))
            if answer is None:
                self._serve_locally()
                continue
            granted, wait_ms = answer
            self._hand_out(granted, wait_ms)
            if granted == 0 and wait_ms < 0:
                # The tenant is full: ask again soon; a process that holds its fair share
                # already asks seldom (its own slots keep passing from request to request).
                fair = self.held >= self._keep
                delay = max(self.settings.poll_interval, _LAZY_FLUSH_SECONDS if fair else 0)
                self._ask_at = time.monotonic() + delay

    async def _sleep_until_kicked(self, until: float) -> None:
        """Sleep until ``until`` (``time.monotonic()``) or a kick, whichever comes first."""
        assert self._kick is not None  # noqa: S101 -- set by _wake
        seconds = until - time.monotonic()
        seconds = seconds if math.isinf(seconds) else max(seconds, 0.001)
        # What _wake_by compares with: the time asked for, not "now + seconds". Measured a
        # few microseconds later, that was past the very deadline it was computed from, and
        # every request handed a slot woke the courier for nothing (~0.9 wakes per request).
        self._courier_sleeps_until = until
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(seconds) else seconds):
                    await self._kick.wait()
        finally:
            self._courier_sleeps_until = -math.inf  # awake: it looks at everything now

    def _serve_from_spare(self) -> None:
        while self._spare and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._spare -= 1
                self._effects.sends += 1
                self.handoffs += 1
                waiter.set_result(Lease(self._gen, shared=True))

    def _hand_out(self, granted: int, wait_ms: int) -> None:
        self.held += granted
        if granted:
            self._ensure_heartbeat()
        paused = granted == 0 and wait_ms >= 0
        while self._waiters and (granted or paused):
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            if granted:
                waiter.set_result(Lease(self._gen, shared=True))
                granted -= 1
            else:
                waiter.set_result(Paused(wait_ms / 1000.0))
        if granted:  # every waiter gave up meanwhile: give the extra slots back
            self.held -= granted
            self._effects.released += granted

    def _serve_locally(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                try:
                    waiter.set_result(self._fall_back())
                except SharedLimitsError as error:
                    waiter.set_exception(error)

    async def _ask(self, want: int) -> tuple[int, int] | None:
        """``(granted, wait_ms)`` from Redis, or None when it is unreachable."""
        result = await self._run(
            "acquire", self.held, self.tenant_concurrency, self._waiting_ms(), want
        )
        if result is None:
            return None
        granted, wait_ms, gen, keep, counting = result
        self._learn(gen, keep, counting, max(wait_ms, 0))
        return granted, wait_ms

    async def _flush(self) -> None:
        """Tell Redis what piled up: slots given back, successes, a cut, a pause, quota."""
        effects, self._effects = self._effects, _Effects()
        self._renew_due = False
        self._flush_at = time.monotonic() + _LAZY_FLUSH_SECONDS
        result = await self._run(
            "release",
            self.held,
            self.tenant_concurrency,
            effects.cut_gen,
            effects.released,
            effects.oks,
            effects.pause_ms,
            effects.reading[0],
            effects.reading[1],
            effects.sends,
        )
        if result is not None:
            gen, paused_ms, keep, counting = result
            self._learn(gen, keep, counting, paused_ms)

    def _learn(self, gen: int, keep: int, counting: int, paused_ms: int) -> None:
        self._gen = gen
        self._keep = keep
        self._counting = bool(counting)
        if paused_ms > 0:
            self._paused_until = time.monotonic() + paused_ms / 1000

    async def _run(self, name: str, holding: int, *args: object) -> list[int] | None:
        if self._redis is None:
            self._redis = connect(self.settings)
            self._scripts = {
                "acquire": self._redis.register_script(_scripts.ACQUIRE),
                "release": self._redis.register_script(_scripts.RELEASE),
            }
        resync = self._resync
        argv = [self.holder, holding, self._lease_ms, "1" if resync else "0", *args]
        self.calls += 1
        try:
            async with asyncio.timeout(self.settings.timeout):
                result = await self._scripts[name](keys=self._keys, args=argv)
        except self._errors as exc:
            self._went_down(exc)
            return None
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

    def _waiting_ms(self) -> int:
        # A refused process counts as waiting a little longer than it takes to ask again.
        return max(20, int(self.settings.poll_interval * 1000 * 10))

    def _went_down(self, error: BaseException) -> None:
        self._retry_at = time.monotonic() + self.settings.retry_after
        self._resync = True  # when it answers again, it must learn our count afresh
        self._effects = _Effects()  # the count is re-asserted then; the rest is history
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

    def _local_lease_due(self) -> bool:
        return self._down and time.monotonic() < self._retry_at

    def _local_lease(self) -> Lease | None:
        """While Redis is down and not due for another try: a local slot, or the error."""
        return self._fall_back() if self._local_lease_due() else None

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
            await asyncio.sleep(min(period, self.settings.retry_after) if self._down else period)
            if self.held <= 0 and not self._down:
                continue
            if self._down and time.monotonic() < self._retry_at:
                continue
            # An empty flush renews the lease (and re-registers our count if Redis forgot);
            # it goes through the courier, so that calls stay one at a time, in order.
            self._renew_due = True
            self._wake()


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
