"""Tenant-wide limits shared by every process through Redis: one client's side.

Zuora's limits belong to the tenant. Redis keeps what its clients must agree on: a
semaphore of ``tenant_concurrency`` slots held as **leases** (renewed every
``lease_seconds / 3``, so a killed process's slots come back within ``lease_seconds``),
the quota window counted down by every send, and the pause and cut that ``_core.pacing``'s
rules decide, for everyone. A request takes its local slot first (``max_concurrency``
stays the per-process cap), then a tenant slot here (``take_tenant_slot``).

An outage costs at most one call's ``timeout``: requests go on under local limits (no more
in flight than this process's last fair share) while the heartbeat tries Redis again. A
process stalled past its lease (SIGSTOP) lost its slots to others: it asks Redis again
before passing its old slots from request to request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from zuora_wf_async._core.pacing import Pacing, Throttle, classify_429
from zuora_wf_async._deadlines import DeadlineWatch
from zuora_wf_async._limiter import Learned, WaitPastDeadline
from zuora_wf_async._shared import (
    LOCAL,
    SHARED,
    Lease,
    Paused,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
)
from zuora_wf_async._shared._courier import PARK_SECONDS, Courier, Effects
from zuora_wf_async._shared._store import TenantStore

__all__ = ["SharedGate", "take_tenant_slot"]

_NOTHING = Learned()


class SharedGate:
    """One client's handle on its tenant's shared limits (one event loop).

    A request that ends hands its tenant slot straight to the next request of this process
    waiting for one, without asking Redis, while the process holds no more than its fair
    share (reported by every script), its lease is surely alive, the tenant is not paused
    and no quota count-down is running. Everything else goes through the courier: a few
    calls to Redis per round trip, not two per request.
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
        self.held = 0  # tenant slots this process has in flight (or parked), local ones too
        self.peak_sent = 0  # the most slots this process had out (in requests) at once
        self.tenant_peak = 0  # the most the tenant held at once, as Redis's answers said
        self._clock = clock
        self.store = TenantStore(
            settings,
            namespace,
            self.holder,
            tenant_concurrency=tenant_concurrency,
            on_down=self._store_down,
        )
        self._keys = self.store.keys
        self._share = 0  # our fair share at the last answer (0: none heard yet)
        self._start: asyncio.Task[None] | None = None
        self.waiters: deque[asyncio.Future[Lease | Paused]] = deque()
        self._deadlines = DeadlineWatch(SlotWaitExpired)
        self.effects = Effects()
        self.keep = 0  # slots we may pass on inside the process (from the last answer)
        self._counting = False  # the store counts the quota down: every send asks it
        self._paused_until = -math.inf  # time.monotonic()
        self.spare = 0  # shared slots parked for this process's next request
        self.spare_since = -math.inf
        self._parked_timer: asyncio.TimerHandle | None = None  # see _parked_due
        self._courier = Courier(self)
        self._heartbeat: asyncio.Task[None] | None = None
        self.closed = False
        self.handoffs = 0  # slots passed from one request to the next without Redis

    @property
    def courier_wakes(self) -> int:
        return self._courier.wakes

    @property
    def available(self) -> bool:
        """False while Redis is unreachable and the client runs on local limits."""
        return not self.store.down

    @property
    def calls(self) -> int:
        return self.store.calls

    async def start(self) -> None:
        """Check the store before the first request: raises ``ConfigurationError`` when
        Redis refuses this client or records another ``tenant_concurrency``; an outage
        falls back to local limits instead."""
        if self._start is None:
            if self._heartbeat is None:
                beat = self.store.beat(lambda: self.held > 0 or self._courier.told > 0, self._renew)
                self._heartbeat = asyncio.get_running_loop().create_task(beat)
            self._start = asyncio.get_running_loop().create_task(self.store.first_contact())
        await asyncio.shield(self._start)

    async def acquire(self, deadline_at: float = math.inf) -> Lease | Paused:
        """A tenant slot, or how long the tenant is paused. Raises ``SlotWaitExpired`` when
        no slot frees up by ``deadline_at`` (the client's clock)."""
        if self._start is None or not self._start.done():
            await self.start()
        if self.store.broken is not None:
            raise self.store.broken
        at_once = self._at_once()
        if at_once is not None:
            return self._handed(at_once)
        waiter: asyncio.Future[Lease | Paused] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        if self.store.down:
            self.serve_locally()  # "fail" answers at once; else it waits for a local slot
        else:
            self._courier.wake_by(self._courier.ask_at)
        time_left = deadline_at - self._clock()
        if not math.isinf(time_left) and not waiter.done():
            self._deadlines.watch(waiter, max(time_left, 0.0))
        try:
            answer = await waiter
        except BaseException:
            # Given up (deadline or cancelled): a slot handed over meanwhile goes back.
            self._deadlines.forget(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if isinstance(handed, Lease):
                    self.release(handed)
            else:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            raise
        self._deadlines.forget(waiter)
        return self._handed(answer)

    def _at_once(self) -> Lease | None:
        """A slot with no wait: a local one while Redis is down, or one we parked."""
        if self.waiters:
            return None  # first come, first served
        if self.store.down:
            return self._local_slot() if self.held < self._local_cap() else None
        if self.spare and self.may_keep():
            self.spare -= 1  # a slot this process parked a moment ago: no need to ask
            self.effects.sends += 1
            self.handoffs += 1
            return SHARED
        return None

    def release(self, lease: Lease, learned: Learned = _NOTHING) -> None:
        """Give the slot back (or straight to a waiting request of ours) and share what the
        answer taught; Redis hears of it with the next call."""
        status, info, verdict, plenty = learned
        effects = self.effects
        if status is not None and 200 <= status < 300:
            effects.oks += 1
        elif status == 429 and classify_429(info) is Throttle.TOO_MANY_IN_FLIGHT:
            if lease.shared:  # the tenant took our others in flight (and others'): _scripts
                others = self.held - self.spare - 1
                cut = effects.cut_others
                effects.cut_others = others if cut < 0 else min(cut, others)
        elif status == 429 and verdict.pause_until is not None:
            pause_ms = max(1, math.ceil((verdict.pause_until - self._clock()) * 1000))
            effects.pause_ms = max(effects.pause_ms, pause_ms)
            self._paused_until = max(self._paused_until, time.monotonic() + pause_ms / 1000)
        # A quota figure (not "plenty") means the window is being watched: every send then
        # goes through Redis to be counted, and this slot goes back with the figure. A
        # spent 429's figure is judged by the 429 rules, not believed here.
        watched = False
        if plenty:
            effects.reading = ("plenty", 0)
        elif (
            info is not None
            and info.remaining is not None
            and info.reset is not None
            and not (status == 429 and info.exhausted)
        ):
            effects.reading = (str(info.remaining), math.ceil(info.reset * 1000))
            watched = True
        if lease.shared and not watched and self._pass_on(lease):
            return
        if lease.shared and not watched and self.may_keep():
            # Park it: the next request of this process most likely comes within
            # microseconds; the courier gives it back if none does within a moment. A
            # timer makes the courier look by the lazy flush and again at the parking
            # deadline (waking it for every slot parked woke it once per request).
            if not self.spare:
                self.spare_since = time.monotonic()
            self.spare += 1
            self._courier.wake_soon(self._courier.flush_at)
            if self._parked_timer is None:
                loop = asyncio.get_running_loop()
                self._parked_timer = loop.call_later(PARK_SECONDS, self._parked_due)
            return
        self.held -= 1
        if self.store.down:
            self.serve_locally()  # a local slot freed: the next waiter of ours takes it
        elif not self.closed:
            self._courier.wake()  # Redis must hear the lower count: others may wait for it

    def may_keep(self) -> bool:
        """May a freed slot stay in this process for its next request?"""
        return not (
            self.store.down
            or self.closed
            or self._counting  # every send must count the quota down in Redis
            or self.held > self.keep  # over our fair share: others wait
            or time.monotonic() < self._paused_until
            or not self.store.lease_alive()
        )

    def _pass_on(self, lease: Lease) -> bool:
        """Hand a shared slot to our next waiter, when nothing says it should go back."""
        if not self.may_keep():
            return False
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(SHARED)
                self.handoffs += 1
                self.effects.sends += 1
                self._courier.wake_soon(self._courier.flush_at)  # the effects must reach Redis
                return True
        return False

    def _parked_due(self) -> None:
        """The parking deadline of the oldest parked slot: wake the courier to give it
        back, unless it was taken (or parked again) meanwhile."""
        self._parked_timer = None
        if not self.spare or self.closed:
            return
        left = self.spare_since + PARK_SECONDS - time.monotonic()
        if left > 0:
            loop = asyncio.get_running_loop()
            self._parked_timer = loop.call_later(left, self._parked_due)
        else:
            self._courier.wake()

    def _handed(self, lease: Lease | Paused) -> Lease | Paused:
        """Count a slot handed to a request (parked ones are in ``held``, not out)."""
        if isinstance(lease, Lease):
            self.peak_sent = max(self.peak_sent, self.held - self.spare)
        return lease

    async def aclose(self) -> None:
        """Stop renewing, and take this process's slots out of Redis."""
        self.closed = True
        if self._parked_timer is not None:
            self._parked_timer.cancel()
            self._parked_timer = None
        for task in (self._heartbeat, self._start):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._courier.task is not None:
            self._courier.wake()
            await asyncio.gather(self._courier.task, return_exceptions=True)
        for waiter in self.waiters:
            waiter.cancel()
        self._deadlines.close()
        if self.store.checked and not self.store.down:
            await self.store.forget_me()
        await self.store.aclose()

    def _local_cap(self) -> float:
        """While Redis is down: no more in flight than our last fair share of the tenant
        (all of ``max_concurrency`` if we never heard one), so that processes cut off
        together keep to the tenant's limit between them."""
        return self._share if self._share > 0 else math.inf

    def serve_locally(self) -> None:
        """While Redis is down: local slots for our waiters, as far as the cap allows."""
        fail = self.settings.on_unavailable == "fail"
        while self.waiters and (fail or self.held < self._local_cap()):
            waiter = self.waiters.popleft()
            if not waiter.done():
                try:
                    waiter.set_result(self._local_slot())
                except SharedLimitsError as error:
                    waiter.set_exception(error)

    def learn(self, paused_ms: int, *told: int) -> None:
        """What every answer tells: ``keep, counting, floor, used`` (see _scripts)."""
        self.keep, counting, self._share, used = told
        self._counting = bool(counting)
        self.tenant_peak = max(self.tenant_peak, used)
        if paused_ms > 0:
            self._paused_until = time.monotonic() + paused_ms / 1000

    def _store_down(self) -> None:
        self.effects = Effects()  # the count is stated again when it is back

    def _local_slot(self) -> Lease:
        if self.settings.on_unavailable == "fail":
            raise SharedLimitsError(
                f"the shared-limits store ({self.settings._where}) is unreachable and "
                "on_unavailable='fail'; start Redis or pass on_unavailable='local'"
            )
        self.held += 1
        return LOCAL

    def _renew(self) -> None:
        # An empty flush renews the lease and states our count; through the courier, so
        # that calls stay one at a time, in order.
        self._courier.renew_due = True
        self._courier.wake()


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
    ``WaitPastDeadline`` when the wait would outlast the deadline.
    """
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
