"""Fault plans: which request gets which misbehaviour. The rules live here.

A :class:`FaultPlan` is plain data (a seed and an ordered tuple of :class:`Fault` rules);
:class:`FaultEngine` is its running state, consulted once per request. Nothing here touches
the network or the real clock, so a plan replays identically for the same arrival order.

How a request is judged, in order:

1. every ``quota`` rule for the endpoint counts it (failed requests count, as at Zuora);
   one over its limit throttles it;
2. an active ``rate_limit_burst`` for the endpoint throttles it;
3. every other rule for the endpoint counts it (``on`` numbers are 1-based per rule) and,
   unless the request is already throttled, decides whether it fires: on the listed request
   numbers when ``on`` is given, else with ``probability`` drawn from the seeded RNG, never
   more than ``times`` times. A firing burst throttles this request and the next
   ``count - 1``; a firing ``expire_token`` always acts; of the other rules, the first that
   fires (in plan order) applies.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, Final, Literal, get_args

import attrs

from ._ratelimit import FixedWindow
from ._tenant import TenantLimits, TenantQuota

__all__ = ["Decision", "Endpoint", "Fault", "FaultEngine", "FaultKind", "FaultPlan", "Throttle"]

FaultKind = Literal[
    "error_before_record",
    "error_after_record",
    "drop_after_record",
    "rate_limit_burst",
    "quota",
    "slow",
    "expire_token",
]
Endpoint = Literal[
    "token",
    "run",
    "get_run",
    "stop",
    "tasks",
    "list_workflows",
    "get_workflow",
    "update_workflow",
    "delete_workflow",
    "get_task",
    "rerun_task",
    "update_tasks",
    "task_usage",
    "export",
    "import",
    "list_versions",
    "import_version",
    "delete_version",
    "unknown",
]

RUN_ONLY: Final[frozenset[Endpoint]] = frozenset({"run"})
_ENDPOINTS: Final = frozenset(get_args(Endpoint))
API_ENDPOINTS: Final[frozenset[Endpoint]] = _ENDPOINTS - {"token"}
_ERROR_STATUSES: Final = frozenset({500, 502, 503, 504})


def _endpoints(value: Iterable[str]) -> frozenset[Endpoint]:
    names = frozenset(value)
    unknown = names - _ENDPOINTS
    if unknown:
        raise ValueError(f"unknown endpoint(s) {sorted(unknown)}; use {sorted(_ENDPOINTS)}")
    return names  # type: ignore[return-value]  # checked against the Literal just above


def _numbers(value: Iterable[int]) -> frozenset[int]:
    numbers = frozenset(value)
    if any(n < 1 for n in numbers):
        raise ValueError("request numbers in `on` are 1-based")
    return numbers


@attrs.frozen(kw_only=True)
class Fault:
    """One rule of a :class:`FaultPlan`. Build it with the named constructors.

    Selection: ``endpoints`` it watches (default: run requests), ``on`` (1-based request
    numbers among those), else ``probability``; ``times`` caps how often it fires.
    Kind-specific fields: ``status``/``body`` (errors), ``count``/``retry_after`` (burst),
    ``limit``/``window`` (quota), ``delay``/``record_first`` (slow).
    """

    kind: FaultKind
    endpoints: frozenset[Endpoint] = attrs.field(default=RUN_ONLY, converter=_endpoints)
    on: frozenset[int] = attrs.field(default=frozenset(), converter=_numbers)
    probability: float = 1.0
    times: int | None = None
    status: int = 503
    body: Any = None
    count: int = 1
    retry_after: int = 1
    limit: int = 0
    window: float = 60.0
    delay: float = 0.0
    record_first: bool = False

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability}")
        if self.kind in {"error_before_record", "error_after_record"} and not (
            400 <= self.status <= 599
        ):
            raise ValueError(f"an error fault needs a 4xx/5xx status, got {self.status}")
        if self.kind == "quota" and (self.limit < 0 or self.window <= 0):
            raise ValueError("a quota needs limit >= 0 and window > 0")
        if self.kind == "rate_limit_burst" and (self.count < 1 or self.retry_after < 0):
            raise ValueError("a burst needs count >= 1 and retry_after >= 0")
        if self.delay < 0:
            raise ValueError("delay cannot be negative")

    @classmethod
    def error_before_record(
        cls,
        status: int = 503,
        *,
        body: Any = None,
        on: Iterable[int] = (),
        probability: float = 1.0,
        times: int | None = None,
        endpoints: Iterable[str] = RUN_ONLY,
    ) -> Fault:
        """Answer ``status`` without doing the work: no run, no idempotency key stored.

        ``body`` is a JSON value, or a ``str`` sent as ``text/html``; ``None`` picks a default
        (JSON for 500, an HTML gateway page for 502/503/504).
        """
        return cls(
            kind="error_before_record",
            status=status,
            body=body,
            on=frozenset(on),
            probability=probability,
            times=times,
            endpoints=frozenset(endpoints),
        )

    @classmethod
    def error_after_record(
        cls,
        status: int = 500,
        *,
        body: Any = None,
        on: Iterable[int] = (),
        probability: float = 1.0,
        times: int | None = None,
        endpoints: Iterable[str] = RUN_ONLY,
    ) -> Fault:
        """Do the work (create the run, store the key's success), then answer ``status``."""
        return cls(
            kind="error_after_record",
            status=status,
            body=body,
            on=frozenset(on),
            probability=probability,
            times=times,
            endpoints=frozenset(endpoints),
        )

    @classmethod
    def drop_after_record(
        cls,
        *,
        on: Iterable[int] = (),
        probability: float = 1.0,
        times: int | None = None,
        endpoints: Iterable[str] = RUN_ONLY,
    ) -> Fault:
        """Do the work, then close the connection without answering."""
        return cls(
            kind="drop_after_record",
            on=frozenset(on),
            probability=probability,
            times=times,
            endpoints=frozenset(endpoints),
        )

    @classmethod
    def rate_limit_burst(
        cls,
        count: int = 3,
        *,
        retry_after: int = 1,
        on: Iterable[int] = (),
        probability: float = 1.0,
        times: int | None = None,
        endpoints: Iterable[str] = RUN_ONLY,
    ) -> Fault:
        """429 with ``Retry-After`` for ``count`` consecutive requests, starting when it fires."""
        return cls(
            kind="rate_limit_burst",
            count=count,
            retry_after=retry_after,
            on=frozenset(on),
            probability=probability,
            times=times,
            endpoints=frozenset(endpoints),
        )

    @classmethod
    def quota(
        cls, limit: int, *, window: float = 60.0, endpoints: Iterable[str] = API_ENDPOINTS
    ) -> Fault:
        """At most ``limit`` requests per clock-aligned ``window`` seconds; the rest get 429."""
        return cls(kind="quota", limit=limit, window=window, endpoints=frozenset(endpoints))

    @classmethod
    def slow(
        cls,
        delay: float,
        *,
        record_first: bool = False,
        on: Iterable[int] = (),
        probability: float = 1.0,
        times: int | None = None,
        endpoints: Iterable[str] = RUN_ONLY,
    ) -> Fault:
        """Wait ``delay`` real seconds before answering; ``record_first`` does the work first."""
        return cls(
            kind="slow",
            delay=delay,
            record_first=record_first,
            on=frozenset(on),
            probability=probability,
            times=times,
            endpoints=frozenset(endpoints),
        )

    @classmethod
    def expire_token(
        cls,
        *,
        on: Iterable[int] = (),
        probability: float = 1.0,
        times: int | None = None,
        endpoints: Iterable[str] = RUN_ONLY,
    ) -> Fault:
        """Expire every token just before this request is authenticated (so it gets 401)."""
        return cls(
            kind="expire_token",
            on=frozenset(on),
            probability=probability,
            times=times,
            endpoints=frozenset(endpoints),
        )


def _rules(value: Iterable[Fault]) -> tuple[Fault, ...]:
    # A named converter, not `tuple`: mypy reads attrs' converter=tuple as Iterable[_T_co]
    # and rejects a list of Faults passed as rules.
    return tuple(value)


@attrs.frozen(kw_only=True)
class FaultPlan:
    """A seeded, ordered list of :class:`Fault` rules; the same seed replays the same faults."""

    seed: int = 0
    rules: tuple[Fault, ...] = attrs.field(default=(), converter=_rules)


@attrs.frozen
class Throttle:
    """A 429 decision: which kind caused it and what to tell the client."""

    kind: FaultKind
    reset_in: int
    retry_after: int | None


@attrs.frozen
class Decision:
    """The verdict for one request: at most one throttle and at most one other fault."""

    throttle: Throttle | None = None
    fault: Fault | None = None
    expire_tokens: bool = False


@attrs.define
class _RuleState:
    rule: Fault
    seen: int = 0
    fired: int = 0
    burst_left: int = 0
    window: FixedWindow | None = None


class FaultEngine:
    """Running state of a :class:`FaultPlan` plus the tenant's own quotas.

    Without a quota rule, API answers carry the tenant's per-minute, per-hour and per-day
    quotas (:class:`TenantQuota`, enforced: over any of them is a 429), and OAuth answers a
    window of 2,000 per minute that counts but never throttles.
    """

    def __init__(self, plan: FaultPlan | None, quota: TenantQuota | None = None) -> None:
        plan = plan or FaultPlan()
        self._random = random.Random(plan.seed)  # noqa: S311  # reproducible chaos, not crypto
        self._states = [
            _RuleState(
                rule, window=FixedWindow(rule.limit, rule.window) if rule.kind == "quota" else None
            )
            for rule in plan.rules
        ]
        self._api_quota = quota or TenantQuota(TenantLimits())
        self._auth_window = FixedWindow(2_000, 60.0)

    def decide(self, endpoint: Endpoint, now: float) -> Decision:
        mine = [s for s in self._states if endpoint in s.rule.endpoints]
        throttle = self._tenant_throttle(endpoint, now)
        for state in mine:
            if state.window is not None and state.window.hit(now) and throttle is None:
                throttle = Throttle("quota", state.window.reset_in(now), None)
        for state in mine:
            if state.burst_left > 0:
                state.burst_left -= 1
                if throttle is None:
                    throttle = Throttle(
                        "rate_limit_burst", state.rule.retry_after, state.rule.retry_after
                    )
        chosen: Fault | None = None
        expire = False
        for state in mine:
            if state.rule.kind == "quota":
                continue
            state.seen += 1
            if throttle is not None or not self._fires(state):
                continue
            state.fired += 1
            rule = state.rule
            if rule.kind == "rate_limit_burst":
                state.burst_left = rule.count - 1
                throttle = Throttle("rate_limit_burst", rule.retry_after, rule.retry_after)
            elif rule.kind == "expire_token":
                expire = True
            elif chosen is None:
                chosen = rule
        return Decision(throttle, None if throttle else chosen, expire and throttle is None)

    def _tenant_throttle(self, endpoint: Endpoint, now: float) -> Throttle | None:
        """Count the request against the tenant's windows; a 429 when one is over."""
        if endpoint == "token":
            self._auth_window.hit(now)
            return None
        if self._api_quota.hit(now):
            return Throttle("quota", self._api_quota.reset_in(now), None)
        return None

    def _fires(self, state: _RuleState) -> bool:
        rule = state.rule
        if rule.times is not None and state.fired >= rule.times:
            return False
        if rule.on:
            return state.seen in rule.on
        # Draw only for a real probability so adding an always-on rule keeps others' draws.
        return rule.probability >= 1.0 or self._random.random() < rule.probability

    def rate_headers(self, endpoint: Endpoint, now: float) -> dict[str, str]:
        """The window this endpoint reports: the first matching quota, else the default."""
        for state in self._states:
            if state.window is not None and endpoint in state.rule.endpoints:
                window = state.window
                break
        else:
            if endpoint != "token":
                return self._api_quota.api_headers(now)
            window = self._auth_window
        return window.auth_headers(now) if endpoint == "token" else window.api_headers(now)
