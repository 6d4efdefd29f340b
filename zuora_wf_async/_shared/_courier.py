"""The courier: the one task that talks to Redis for a ``SharedGate``.

Everything the gate cannot settle inside the process (asking for slots, stating the
count, what answers taught) goes through this task, one call at a time, in order,
gathering whatever piled up during the previous call into the next: a few calls per round
trip, not two per request. Every call states the slots this process holds, numbered (see
``_scripts``), so a call lost to an outage, a restart or a late run heals on the next one.
The state and its rules are the gate's; the courier owns when Redis hears of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import TYPE_CHECKING, Final

import attrs

from zuora_wf_async._core.pacing import CLIMB_STEP, HOLD, MAX_HOLD
from zuora_wf_async._shared import SHARED, Paused

if TYPE_CHECKING:
    from zuora_wf_async._shared._gate import SharedGate

__all__ = ["PARK_SECONDS", "Courier", "Effects"]

# A freed tenant slot stays with its process this long for the process's next request.
PARK_SECONDS: Final = 0.01
# Successes (which grow the adaptive limit) and "plenty of quota" can wait this long.
_LAZY_FLUSH_SECONDS: Final = 0.1


@attrs.define
class Effects:
    """What finished requests taught, gathered until the next call to Redis carries it."""

    oks: int = 0  # successes (the adaptive limit grows)
    cut_others: int = -1  # a too-many 429: our other requests in flight then (the least)
    pause_ms: int = 0  # a spent window: pause everyone this long
    reading: tuple[str, int] = ("", 0)  # the latest quota reading ('plenty' or remaining)
    sends: int = 0  # sends on slots passed on inside the process (count against the quota)

    def pending(self) -> bool:
        return self != Effects()

    def urgent(self) -> bool:
        """Others need to hear this now: a cut, a pause, a quota figure."""
        return bool(self.cut_others >= 0 or self.pause_ms or self.reading[0] not in ("", "plenty"))


class Courier:
    """The task that talks to Redis for one gate, woken when there is something to say."""

    def __init__(self, gate: SharedGate) -> None:
        self._gate = gate
        self._kick: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        # When the courier, asleep, will look again by itself (-inf: it is awake).
        self.sleeps_until = -math.inf
        self.wakes = 0  # times the courier was woken (or started) to look again
        self.told = 0  # what Redis counts for us after our last call it applied
        self.ask_at = -math.inf  # after a refusal, when to ask Redis for slots again
        self.flush_at = -math.inf  # successes and "plenty" wait for this (or a busier call)
        self.renew_due = False  # the heartbeat asked for a renewal

    def wake(self) -> None:
        self.wakes += 1
        if self._kick is None:
            self._kick = asyncio.Event()
        self._kick.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._deliver())

    def wake_by(self, due: float) -> None:
        """Make sure the courier looks again by ``due`` (``time.monotonic()``), without
        waking it when it will anyway: a request handed a slot every few hundred
        microseconds would otherwise wake it for nothing each time."""
        if self.task is None or self.task.done() or self.sleeps_until > max(due, time.monotonic()):
            self.wake()

    def wake_soon(self, due: float) -> None:
        """Wake the courier now for what others must hear at once (a cut, a pause, a quota
        figure), else make sure it looks by ``due``."""
        if self._gate.effects.urgent():
            self.wake()
        else:
            self.wake_by(due)

    def _flush_due(self, now: float) -> bool:
        if self.renew_due:
            return True  # the heartbeat: a renewal, or while down, a try at Redis
        if self._gate.store.down:
            return False  # nothing else goes to Redis while it is down
        return (
            self._gate.effects.urgent()
            or self._freed()
            or (
                (self._gate.effects.pending() or self._dirty())
                and (self._gate.closed or now >= self.flush_at)
            )
        )

    def _dirty(self) -> bool:
        """Redis counts for us something else than we hold: the next call must say so."""
        return self._gate.held != self.told

    def _freed(self) -> bool:
        """Redis counts slots we gave back: others may be waiting for them."""
        return self._gate.held < self.told

    async def _deliver(self) -> None:
        assert self._kick is not None  # noqa: S101 -- set by wake
        while True:
            self._kick.clear()
            now = time.monotonic()
            if self._gate.spare and (
                now - self._gate.spare_since >= PARK_SECONDS
                or not self._gate.may_keep()
                or self._gate.closed
            ):
                self._gate.held -= self._gate.spare
                self._gate.spare = 0
            if self._flush_due(now):
                await self.flush()
                continue
            live = [w for w in self._gate.waiters if not w.done()]
            # Wake for the parked slots' deadline or the next lazy flush, at the latest.
            down = self._gate.store.down
            pending = not down and (self._gate.effects.pending() or self._dirty())
            wake_at = self.flush_at if pending else math.inf
            if self._gate.spare:
                wake_at = min(wake_at, self._gate.spare_since + PARK_SECONDS)
            if down:
                self._gate.serve_locally()
                live = [w for w in self._gate.waiters if not w.done()]
            if self._gate.closed or not live or down:
                if not (self._gate.spare or pending or (live and not self._gate.closed)):
                    return
                await self._sleep_until_kicked(wake_at)
                continue
            if self._gate.spare and self._gate.may_keep():
                self._serve_from_spare()
                continue
            if now < self.ask_at:
                # Refused a moment ago: our own requests' ends hand slots on meanwhile.
                await self._sleep_until_kicked(min(wake_at, self.ask_at))
                continue
            answer = await self.ask(len(live))
            if answer is None:
                if self._gate.store.down:
                    self._gate.serve_locally()
                continue
            granted, wait_ms = answer
            self._hand_out(granted, wait_ms)
            if granted == 0 and wait_ms < 0:
                # The tenant is full: ask again soon; a process that holds its fair share
                # already asks seldom (its own slots keep passing from request to request).
                fair = self._gate.held >= self._gate.keep
                delay = max(self._gate.settings.poll_interval, _LAZY_FLUSH_SECONDS if fair else 0)
                self.ask_at = time.monotonic() + delay

    async def _sleep_until_kicked(self, until: float) -> None:
        """Sleep until ``until`` (``time.monotonic()``) or a kick, whichever comes first."""
        assert self._kick is not None  # noqa: S101 -- set by wake
        seconds = until - time.monotonic()
        seconds = seconds if math.isinf(seconds) else max(seconds, 0.001)
        # What wake_by compares with: the time asked for, not "now + seconds". Measured a
        # few microseconds later, that was past the very deadline it was computed from, and
        # every request handed a slot woke the courier for nothing (~0.9 wakes per request).
        self.sleeps_until = until
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(seconds) else seconds):
                    await self._kick.wait()
        finally:
            self.sleeps_until = -math.inf  # awake: it looks at everything now

    def _serve_from_spare(self) -> None:
        while self._gate.spare and self._gate.waiters:
            waiter = self._gate.waiters.popleft()
            if not waiter.done():
                self._gate.spare -= 1
                self._gate.effects.sends += 1
                self._gate.handoffs += 1
                waiter.set_result(SHARED)

    def _hand_out(self, granted: int, wait_ms: int) -> None:
        self._gate.held += granted
        paused = granted == 0 and wait_ms >= 0
        while self._gate.waiters and (granted or paused):
            waiter = self._gate.waiters.popleft()
            if waiter.done():
                continue
            if granted:
                waiter.set_result(SHARED)
                granted -= 1
            else:
                waiter.set_result(Paused(wait_ms / 1000.0))
        if granted:  # every waiter gave up meanwhile: the next call gives them back
            self._gate.held -= granted

    async def ask(self, want: int) -> tuple[int, int] | None:
        """``(granted, wait_ms)`` from Redis, or None when it is unreachable."""
        result = await self._run("acquire", self._waiting_ms(), want)
        if result is None:
            return None
        granted, wait_ms, *told = result
        self.told += granted
        self._gate.learn(max(wait_ms, 0), *told)
        if granted and not self._gate.store.lease_alive():
            # The answer came later than our lease can be trusted (this process or Redis
            # stalled meanwhile): the slots may be someone else's by now. Redis hears
            # they are given back, and the waiters ask again.
            return 0, -1
        return granted, wait_ms

    async def flush(self) -> None:
        """State our count to Redis with what piled up: successes, a cut, a pause, quota."""
        effects, self._gate.effects = self._gate.effects, Effects()
        self.renew_due = False
        self.flush_at = time.monotonic() + _LAZY_FLUSH_SECONDS
        result = await self._run(
            "release",
            effects.cut_others,
            effects.oks,
            effects.pause_ms,
            effects.reading[0],
            effects.reading[1],
            effects.sends,
            int(HOLD * 1000),
            int(MAX_HOLD * 1000),
            int(CLIMB_STEP * 1000),
        )
        if result is not None:
            paused_ms, *told = result
            self._gate.learn(paused_ms, *told)

    async def _run(self, name: str, *args: object) -> list[int] | None:
        """One script call stating our count; None when Redis did not apply it."""
        holding = self._gate.held
        result = await self._gate.store.call(name, holding, *args)
        if result is not None:
            self.told = holding
        return result

    def _waiting_ms(self) -> int:
        # A refused process counts as waiting a little longer than it takes to ask again.
        return max(20, int(self._gate.settings.poll_interval * 1000 * 10))
