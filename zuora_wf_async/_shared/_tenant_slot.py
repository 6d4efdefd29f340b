"""A tenant slot for a request that holds its local slot already: the shared gate's
answer, with the local pacing told of any pause the tenant is under."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from zuora_wf_async._core.pacing import Pacing
from zuora_wf_async._shared._gate import SharedGate
from zuora_wf_async._shared._settings import Lease, SlotWaitExpired

__all__ = ["take_tenant_slot"]


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
