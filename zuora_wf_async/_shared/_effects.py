"""What finished requests teach the tenant, gathered until the next call to Redis.

``outcome`` and ``reading`` turn one answer (status, rate-limit headers, the local
pacing's verdict) into what every process must act on: a success (the adaptive limit
grows), a cut (too many in flight), a pause (a spent window), a quota figure. Pure: the
gate gathers them in :class:`Effects`, the courier carries them to Redis.
"""

from __future__ import annotations

import math

import attrs

from zuora_wf_async._core.pacing import Throttle, Verdict, classify_429
from zuora_wf_async._core.ratelimit import RateLimitInfo

__all__ = ["Effects", "outcome", "reading"]


@attrs.define
class Effects:
    """What finished requests taught, gathered until the next call to Redis carries it."""

    oks: int = 0  # successes (the adaptive limit grows)
    cut_gen: int = -1  # a too-many 429 from a request sent in this shared generation
    pause_ms: int = 0  # a spent window: pause everyone this long
    reading: tuple[str, int] = ("", 0)  # the latest quota reading
    sends: int = 0  # sends on slots passed on inside the process (count against the quota)

    def pending(self) -> bool:
        return self != Effects()

    def urgent(self) -> bool:
        """Others need to hear this now: a cut, a pause, a quota figure."""
        return bool(self.cut_gen >= 0 or self.pause_ms or self.reading[0] not in ("", "plenty"))


def outcome(
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


def reading(status: int | None, info: RateLimitInfo | None, plenty: bool) -> tuple[str, int]:
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
