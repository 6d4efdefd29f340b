"""Tenant-wide limits shared by every process through Redis (the ``redis`` extra).

Zuora's limits belong to the tenant: 40 requests in flight by default, and quotas per
minute, hour and day. ``SharedLimits`` keeps, in Redis, what every client of one tenant
must agree on:

- a semaphore of ``tenant_concurrency`` slots whose slots are **leases**: each process
  renews its lease every ``lease_seconds / 3``, and a process that dies (``kill -9``)
  stops renewing, so its slots are free again within ``lease_seconds``;
- the quota window last reported by Zuora (``RateLimit-Remaining`` / ``-Reset``), counted
  down by every send of every process;
- the pause after a spent-window 429 and the adaptive cut after a too-many 429, decided by
  the pure rules in ``_core.pacing`` and applied here for everyone.

Each process keeps its own ``AdaptiveLimiter`` (``max_concurrency`` stays the per-process
cap); a request takes its local slot first, then a tenant slot here.

**What a process holds is stated, never summed.** Every call to Redis carries the number
of slots this process has in flight, numbered (see ``_scripts``), so a call lost to an
outage, a restart that forgot everything, or a call Redis ran late, heals on the next one;
the heartbeat makes sure a next one comes within ``lease_seconds / 3``.

**Redis down is not a reason to stop.** The client starts by checking the store
(:meth:`SharedGate.start`): a configuration error (password, ACL, a server that cannot
run the scripts, another ``tenant_concurrency`` recorded) raises ``ConfigurationError``.
An outage, at start or mid-batch, costs at most one call's ``timeout``: requests then go on
at once under local limits (no more in flight than this process's last fair share of the
tenant), with one WARNING, while the heartbeat, beside them, tries Redis again every
``retry_after`` seconds; with ``on_unavailable="fail"`` they raise ``SharedLimitsError``.

**A slot passed on inside the process needs a live lease.** A process stalled past its
lease (SIGSTOP, a frozen VM) lost its slots to others; when it wakes, it asks Redis again
before sending, instead of passing its old slots from request to request.

Calls to Redis go one at a time over one connection, in the order they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from zuora_wf_async._core.pacing import Pacing, Verdict
from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._deadlines import DeadlineWatch
from zuora_wf_async._shared._effects import Effects, outcome, reading
from zuora_wf_async._shared._link import StoreLink
from zuora_wf_async._shared._settings import (
    Lease,
    Paused,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
)

__all__ = ["SharedGate", "take_tenant_slot"]

# A freed tenant slot stays with its process this long for the process's next request.
_PARK_SECONDS: Final = 0.01
# Successes (which grow the adaptive limit) and "plenty of quota" can wait this long.
_LAZY_FLUSH_SECONDS: Final = 0.1


class SharedGate:
    """One client's handle on its tenant's shared limits (one event loop).

    A request that ends hands its tenant slot straight to the next request of this process
    waiting for one, without asking Redis, while the process holds no more than its fair
    share (reported by every script), its lease is surely alive, the tenant is not paused
    and no quota count-down is running. Everything else (asking for slots, stating the
    count, what answers taught) goes through one task, the courier, that talks to Redis
    one call at a time, gathering whatever piled up during the previous call into the
    next: a few calls per round trip, not two per request.
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
        self._link = StoreLink(
            settings,
            namespace,
            self.holder,
            tenant_concurrency=tenant_concurrency,
            on_down=self._store_down,
        )
        self._keys = self._link.store.keys
        self._told = 0  # what Redis counts for us after our last call it applied
        self._share = 0  # our fair share at the last answer (0: none heard yet)
        self._start: asyncio.Task[None] | None = None
        self._waiters: deque[asyncio.Future[Lease | Paused]] = deque()
        # Each waiter's deadline, on one timer (see zuora_wf_async._deadlines).
        self._deadlines = DeadlineWatch(SlotWaitExpired)
        self._effects = Effects()
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
        self.local_slots = 0  # slots granted under local limits while it was down
        self.handoffs = 0  # slots passed from one request to the next without Redis
        self.courier_wakes = 0  # times the courier was woken (or started) to look again

    @property
    def available(self) -> bool:
        """False while Redis is unreachable and the client runs on local limits."""
        return not self._down

    @property
    def calls(self) -> int:
        """Script calls made."""
        return self._link.store.calls

    @property
    def fallbacks(self) -> int:
        """Times Redis was found unreachable."""
        return self._link.fallbacks

    @property
    def reconnects(self) -> int:
        """Times it came back."""
        return self._link.reconnects

    @property
    def _down(self) -> bool:
        return self._link.down

    # -- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the store before the first request: raises ``ConfigurationError`` when
        Redis refuses this client (password, ACL, scripts) or records another
        ``tenant_concurrency``; an outage falls back to local limits instead."""
        if self._start is None:
            self._ensure_heartbeat()
            self._start = asyncio.get_running_loop().create_task(self._link.first_contact())
        await asyncio.shield(self._start)

    # -- acquire / release ------------------------------------------------------------------

    async def acquire(self, deadline_at: float = math.inf) -> Lease | Paused:
        """A tenant slot, or how long the tenant is paused. Raises ``SlotWaitExpired`` when
        no slot frees up by ``deadline_at`` (the client's clock)."""
        if self._start is None or not self._start.done():
            await self.start()
        if self._link.broken is not None:
            raise self._link.broken
        at_once = self._at_once()
        if at_once is not None:
            return self._handed(at_once)
        waiter: asyncio.Future[Lease | Paused] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._down:
            self._serve_locally()  # "fail" answers at once; else it waits for a local slot
        else:
            self._wake_by(self._ask_at)
        time_left = deadline_at - self._clock()
        if not math.isinf(time_left) and not waiter.done():
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
        return self._handed(answer)

    def _at_once(self) -> Lease | None:
        """A slot with no wait: a local one while Redis is down, or one we parked."""
        if self._waiters:
            return None  # first come, first served
        if self._down:
            return self._local_slot() if self.held < self._local_cap() else None
        if self._spare and self._may_keep():
            self._spare -= 1  # a slot this process parked a moment ago: no need to ask
            self._effects.sends += 1
            self.handoffs += 1
            return Lease(self._gen, shared=True)
        return None

    async def try_acquire(self) -> Lease | Paused | None:
        """Ask once, without waiting: a slot, a pause, or None when the tenant is full."""
        if self._start is None or not self._start.done():
            await self.start()
        if self._link.broken is not None:
            raise self._link.broken
        if self._down:
            return self._handed(self._local_slot())
        if self._courier is not None:  # one talker at a time: let the courier finish
            await asyncio.gather(self._courier, return_exceptions=True)
        await self._flush()
        answer = await self._ask(1)
        if answer is None:
            return self._local_slot() if self._down else None
        granted, wait_ms = answer
        if granted:
            self._add_held(1)
            return self._handed(Lease(self._gen, shared=True))
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
        kind, pause_ms = outcome(status, info, verdict, self._clock())
        if kind == "ok":
            effects.oks += 1
        elif kind == "cut" and lease.shared:
            effects.cut_gen = max(effects.cut_gen, lease.gen)
        elif kind == "pause":
            effects.pause_ms = max(effects.pause_ms, pause_ms)
            self._paused_until = max(self._paused_until, time.monotonic() + pause_ms / 1000)
        figure = reading(status, info, plenty)
        if figure[0]:
            effects.reading = figure
        # A quota figure (not "plenty") means the window is being watched: every send then
        # goes through Redis to be counted, and this slot goes back with the figure.
        watched = figure[0] not in ("", "plenty")
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
        if self._down:
            self._serve_locally()  # a local slot freed: the next waiter of ours takes it
        elif not self._closed:
            self._wake()  # Redis must hear the lower count: others may wait for it

    def _may_keep(self) -> bool:
        """May a freed slot stay in this process for its next request?"""
        return not (
            self._down
            or self._closed
            or self._counting  # every send must count the quota down in Redis
            or self.held > self._keep  # over our fair share: others wait
            or time.monotonic() < self._paused_until
            or not self._link.lease_alive()
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

    def _add_held(self, slots: int) -> None:
        self.held += slots

    def _handed(self, lease: Lease | Paused) -> Lease | Paused:
        """Count a slot handed to a request (parked ones are in ``held``, not out)."""
        if isinstance(lease, Lease):
            self.peak_sent = max(self.peak_sent, self.held - self._spare)
        return lease

    def _dirty(self) -> bool:
        """Redis counts for us something else than we hold: the next call must say so."""
        return self.held != self._told

    def _freed(self) -> bool:
        """Redis counts slots we gave back: others may be waiting for them."""
        return self.held < self._told

    async def aclose(self) -> None:
        """Stop renewing, and take this process's slots out of Redis."""
        self._closed = True
        if self._parked_timer is not None:
            self._parked_timer.cancel()
            self._parked_timer = None
        for task in (self._heartbeat, self._start):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._courier is not None:
            self._wake()
            await asyncio.gather(self._courier, return_exceptions=True)
        for waiter in self._waiters:
            waiter.cancel()
        self._deadlines.close()
        if self._link.checked and not self._down:
            await self._link.store.forget_me()
        await self._link.store.aclose()

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

    def _flush_due(self, now: float) -> bool:
        if self._renew_due:
            return True  # the heartbeat: a renewal, or while down, a try at Redis
        if self._down:
            return False  # nothing else goes to Redis while it is down
        return (
            self._effects.urgent()
            or self._freed()
            or (
                (self._effects.pending() or self._dirty())
                and (self._closed or now >= self._flush_at)
            )
        )

    async def _deliver(self) -> None:
        assert self._kick is not None  # noqa: S101 -- set by _wake
        while True:
            self._kick.clear()
            now = time.monotonic()
            if self._spare and (
                now - self._spare_since >= _PARK_SECONDS or not self._may_keep() or self._closed
            ):
                self.held -= self._spare
                self._spare = 0
            if self._flush_due(now):
                await self._flush()
                continue
            live = [w for w in self._waiters if not w.done()]
            # Wake for the parked slots' deadline or the next lazy flush, at the latest.
            pending = not self._down and (self._effects.pending() or self._dirty())
            wake_at = self._flush_at if pending else math.inf
            if self._spare:
                wake_at = min(wake_at, self._spare_since + _PARK_SECONDS)
            if self._down:
                self._serve_locally()
                live = [w for w in self._waiters if not w.done()]
            if self._closed or not live or self._down:
                if not (self._spare or pending or (live and not self._closed)):
                    return
                await self._sleep_until_kicked(wake_at)
                continue
            if self._spare and self._may_keep():
                self._serve_from_spare()
                continue
            if now < self._ask_at:
                # Refused a moment ago: our own requests' ends hand slots on meanwhile.
                await self._sleep_until_kicked(min(wake_at, self._ask_at))
                continue
            answer = await self._ask(len(live))
            if answer is None:
                if not self.available:  # down now (mypy keeps the check before the await)
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
        self._add_held(granted)
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
        if granted:  # every waiter gave up meanwhile: the next call gives them back
            self.held -= granted

    def _local_cap(self) -> float:
        """While Redis is down: no more in flight than our last fair share of the tenant
        (all of ``max_concurrency`` if we never heard one), so that processes cut off
        together keep to the tenant's limit between them."""
        return self._share if self._share > 0 else math.inf

    def _serve_locally(self) -> None:
        """While Redis is down: local slots for our waiters, as far as the cap allows."""
        fail = self.settings.on_unavailable == "fail"
        while self._waiters and (fail or self.held < self._local_cap()):
            waiter = self._waiters.popleft()
            if not waiter.done():
                try:
                    waiter.set_result(self._local_slot())
                except SharedLimitsError as error:
                    waiter.set_exception(error)

    async def _ask(self, want: int) -> tuple[int, int] | None:
        """``(granted, wait_ms)`` from Redis, or None when it is unreachable."""
        result = await self._run("acquire", self._waiting_ms(), want)
        if result is None:
            return None
        granted, wait_ms, *told = result
        self._told += granted
        self._learn(max(wait_ms, 0), *told)
        if granted and not self._link.lease_alive():
            # The answer came later than our lease can be trusted (this process or Redis
            # stalled meanwhile): the slots may be someone else's by now. Redis hears
            # they are given back, and the waiters ask again.
            return 0, -1
        return granted, wait_ms

    async def _flush(self) -> None:
        """State our count to Redis with what piled up: successes, a cut, a pause, quota."""
        effects, self._effects = self._effects, Effects()
        self._renew_due = False
        self._flush_at = time.monotonic() + _LAZY_FLUSH_SECONDS
        result = await self._run(
            "release",
            effects.cut_gen,
            effects.oks,
            effects.pause_ms,
            effects.reading[0],
            effects.reading[1],
            effects.sends,
        )
        if result is not None:
            gen, paused_ms, *told = result
            self._learn(paused_ms, gen, *told)

    def _learn(self, paused_ms: int, *told: int) -> None:
        """What every answer tells: ``gen, keep, counting, floor, used`` (see _scripts)."""
        gen, keep, counting, share, used = told
        self._gen = gen
        self._keep = keep
        self._share = share
        self._counting = bool(counting)
        self.tenant_peak = max(self.tenant_peak, used)
        if paused_ms > 0:
            self._paused_until = time.monotonic() + paused_ms / 1000

    async def _run(self, name: str, *args: object) -> list[int] | None:
        """One script call stating our count; None when Redis did not apply it."""
        holding = self.held
        result = await self._link.call(name, holding, *args)
        if result is not None:
            self._told = holding
        return result

    def _store_down(self) -> None:
        self._effects = Effects()  # the count is stated again when it is back

    def _waiting_ms(self) -> int:
        # A refused process counts as waiting a little longer than it takes to ask again.
        return max(20, int(self.settings.poll_interval * 1000 * 10))

    def _local_slot(self) -> Lease:
        if self.settings.on_unavailable == "fail":
            raise SharedLimitsError(
                f"the shared-limits store ({self.settings._where}) is unreachable and "
                "on_unavailable='fail'; start Redis or pass on_unavailable='local'"
            )
        self._add_held(1)
        self.local_slots += 1
        return Lease(0, shared=False)

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            beat = self._link.beat(lambda: self.held > 0 or self._told > 0, self._renew)
            self._heartbeat = asyncio.get_running_loop().create_task(beat)

    def _renew(self) -> None:
        # An empty flush renews the lease and states our count; it goes through the
        # courier, so that calls stay one at a time, in order.
        self._renew_due = True
        self._wake()


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
