"""The fake's request algorithm, free of any HTTP library: an :class:`Incoming` in, an
answer out. The order of the checks is the contract, so it is written once, here:

1. record the request; 2. throttle (the tenant's quotas, quota faults, rate-limit bursts)
-> 429; 3. ``expire_token`` fault; 4. ``error_before_record`` fault -> 5xx; 5. bearer check
under ``/workflows`` -> 401; 6. the tenant's concurrency limit -> 429 (the request then holds
its place until answered, and waits while ``pause_requests()`` is in force); 7. unknown path
-> 404/405; 8. documented header limits -> 400; 9. the endpoint, with a ``slow`` fault's
delay before the work (after claiming the idempotency key) or after it (``record_first``);
10. ``error_after_record`` -> 5xx, ``drop_after_record`` -> no answer.
Steps 7 to 9, what the endpoints do, are in ``_endpoints``; the delays that closing the
fake ends early, in ``_delays``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterable

import attrs

from ._definitions import DEFAULT_WORKFLOW_IDS, DefinitionStore
from ._delays import Delays
from ._endpoints import Endpoints
from ._faults import Decision, Endpoint, Fault, FaultEngine, FaultKind
from ._idempotency import IdempotencyStore
from ._records import Execution, Headers, Incoming, InjectedFault, RecordedRequest
from ._replies import server_error, throttled, too_many_in_flight
from ._routes import Route, route_for
from ._runs import RunStore
from ._tenant import TenantLimits
from ._tokens import TokenStore, unauthorized
from ._wire import DROP, Drop, Reply, decode_for_record, encode

__all__ = ["Answer", "Backend"]


@attrs.frozen
class Answer:
    """What goes on the wire: final status, headers and (possibly gzipped) body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Backend:
    """All the fake's state and behaviour; :class:`FakeZuora` adds the socket around it."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        tokens: TokenStore,
        runs: RunStore,
        faults: FaultEngine,
        idempotency: IdempotencyStore,
        replay_status: int,
        latency: float,
        limits: TenantLimits | None = None,
        canonical_host: str | None = None,
        workflows: Iterable[int] = DEFAULT_WORKFLOW_IDS,
    ) -> None:
        self._clock = clock
        self._tokens = tokens
        self._runs = runs
        self._definitions = DefinitionStore(runs.wall, runs.allocate_definition_id)
        self._limits = limits or TenantLimits()
        #: API requests of the tenant being served now (the concurrency limit's count).
        self.tenant_in_flight = 0
        self.peak_tenant_in_flight = 0
        self._requests_open = asyncio.Event()
        self._requests_open.set()
        self._faults = faults
        self.requests: list[RecordedRequest] = []
        self.executions: list[Execution] = []
        self.faults_injected: list[InjectedFault] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.in_flight_samples: list[tuple[float, int]] = []
        self.in_flight_by_endpoint: Counter[str] = Counter()
        self.peak_in_flight_by_endpoint: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._open = asyncio.Event()
        self._open.set()
        self._delays = Delays()
        self._endpoints = Endpoints(
            clock=clock,
            tokens=tokens,
            runs=runs,
            definitions=self._definitions,
            idempotency=idempotency,
            replay_status=replay_status,
            latency=latency,
            canonical_host=canonical_host,
            delays=self._delays,
            runs_open=self._open,
            executions=self.executions,
        )
        for workflow_id in workflows:
            self.add_workflow(workflow_id)

    # -- waiting and pausing ------------------------------------------------------------

    def pause_runs(self) -> None:
        """Hold run requests after their key is claimed, until :meth:`resume_runs`."""
        self._open.clear()

    def resume_runs(self) -> None:
        self._open.set()

    def pause_requests(self) -> None:
        """Hold every API request that got past the concurrency limit, until
        :meth:`resume_requests`: the way to fill the tenant's slots without sleeps."""
        self._requests_open.clear()

    def resume_requests(self) -> None:
        self._requests_open.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (re-checking whenever a request starts or ends) until ``predicate()``."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_in_flight(self, count: int, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: self.in_flight >= count, timeout)

    def _notify(self) -> None:
        self._changed.set()

    def _reopen(self) -> None:
        self._delays.reopen()

    def _shutdown(self) -> None:
        """End every fake delay and pause early so closing never waits for them."""
        self._open.set()
        self._requests_open.set()
        self._delays.end_all()

    def _track_endpoint(self, endpoint: str, delta: int) -> None:
        counts = self.in_flight_by_endpoint
        counts[endpoint] += delta
        peak = self.peak_in_flight_by_endpoint
        peak[endpoint] = max(peak[endpoint], counts[endpoint])

    def _track(self, delta: int) -> None:
        self.in_flight += delta
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.in_flight_samples.append((self._clock(), self.in_flight))
        self._notify()

    # -- records --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget what was recorded (requests, executions, faults, concurrency samples).

        Runs, tokens, stored idempotency keys and workflow settings are kept.
        """
        self.requests.clear()
        self.executions.clear()
        self.faults_injected.clear()
        self.in_flight_samples.clear()
        self.reset_peak()

    def reset_peak(self) -> None:
        self.peak_in_flight = self.in_flight
        self.peak_in_flight_by_endpoint = Counter(+self.in_flight_by_endpoint)

    def execution_counts_by_key(self) -> Counter[str | None]:
        return Counter(execution.idempotency_key for execution in self.executions)

    def fault_counts(self) -> Counter[str]:
        return Counter(fault.kind for fault in self.faults_injected)

    @property
    def token_requests(self) -> int:
        return sum(1 for request in self.requests if request.endpoint == "token")

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.endpoint == endpoint]

    def _log(self, kind: FaultKind, endpoint: Endpoint, index: int) -> None:
        self.faults_injected.append(
            InjectedFault(kind=kind, endpoint=endpoint, request_index=index, at=self._clock())
        )

    # -- the request algorithm ----------------------------------------------------------

    async def handle(self, incoming: Incoming) -> Answer | Drop:
        now = self._clock()
        route = route_for(incoming.method, incoming.path)
        encoding = incoming.headers.get("Content-Encoding")
        record = RecordedRequest(
            method=incoming.method,
            path=incoming.path,
            query=dict(incoming.query),
            headers=incoming.headers,
            raw_body=incoming.raw_body,
            body=decode_for_record(
                incoming.raw_body, encoding, incoming.headers.get("Content-Type")
            ),
            content_encoding=encoding,
            received_at=now,
            endpoint=route.endpoint,
            request_id=str(uuid.uuid4()),
        )
        index = len(self.requests)
        self.requests.append(record)
        self._notify()
        is_run = route.endpoint == "run"
        if is_run:
            self._track(+1)
        self._track_endpoint(route.endpoint, +1)
        fault_kind: list[FaultKind] = []
        try:
            reply = await self._answer(incoming, route, record, index, fault_kind)
        finally:
            self._track_endpoint(route.endpoint, -1)
            if is_run:
                self._track(-1)
        common = {"Zuora-Request-Id": record.request_id}
        track_id = incoming.headers.get("Zuora-Track-Id")
        if track_id is not None:
            common["Zuora-Track-Id"] = track_id
        common.update(self._faults.rate_headers(route.endpoint, self._clock()))
        answer: Answer | Drop = DROP
        if not isinstance(reply, Drop):
            headers, body = encode(reply, incoming.headers.get("Accept-Encoding"), common)
            answer = Answer(reply.status, headers, body)
        self._finish(record, index, answer, fault_kind)
        return answer

    def _finish(
        self, record: RecordedRequest, index: int, answer: Answer | Drop, kinds: list[FaultKind]
    ) -> None:
        # Replace the record in place; after a reset() the slot belongs to another request.
        if index < len(self.requests) and self.requests[index] is record:
            self.requests[index] = attrs.evolve(
                record,
                status=None if isinstance(answer, Drop) else answer.status,
                response_headers=(None if isinstance(answer, Drop) else Headers(answer.headers)),
                fault=kinds[-1] if kinds else None,
            )
        self._notify()

    async def _answer(
        self,
        incoming: Incoming,
        route: Route,
        record: RecordedRequest,
        index: int,
        fault_kind: list[FaultKind],
    ) -> Reply | Drop:
        decision = self._faults.decide(route.endpoint, record.received_at)
        early = self._gateway(decision, route, index, fault_kind)
        if early is not None:
            return early
        fault = decision.fault
        delay_before, delay_after = _slow_delays(fault)
        reply = await self._serve(incoming, route, record, delay_before)
        await self._delays.sleep(delay_after)
        if fault is not None and fault.kind == "error_after_record":
            return server_error(fault.status, fault.body)
        if fault is not None and fault.kind == "drop_after_record":
            return DROP
        return reply

    def _gateway(
        self,
        decision: Decision,
        route: Route,
        index: int,
        fault_kind: list[FaultKind],
    ) -> Reply | None:
        """Faults that act before any work: throttling, token expiry, an early 5xx."""
        kinds: list[FaultKind] = []
        if decision.throttle is not None:
            kinds.append(decision.throttle.kind)
        if decision.expire_tokens:
            kinds.append("expire_token")
            self._tokens.expire_all()
        if decision.fault is not None:
            kinds.append(decision.fault.kind)
        for kind in kinds:
            self._log(kind, route.endpoint, index)
        fault_kind.extend(kinds)
        if decision.throttle is not None:
            return throttled(decision.throttle.reset_in, decision.throttle.retry_after)
        if decision.fault is not None and decision.fault.kind == "error_before_record":
            return server_error(decision.fault.status, decision.fault.body)
        return None

    async def _serve(
        self, incoming: Incoming, route: Route, record: RecordedRequest, delay: float
    ) -> Reply:
        """Authentication, header limits, then the endpoint itself."""
        tenant = ""
        if route.needs_auth:
            found = self._tokens.tenant_of(incoming.headers.get("Authorization"), self._clock())
            if found is None:
                return unauthorized()
            tenant = found
        if not route.needs_auth:
            return await self._endpoints.serve(incoming, route, record, tenant, delay)
        if self.tenant_in_flight >= self._limits.concurrency:
            return too_many_in_flight(self._limits.concurrency)
        self.tenant_in_flight += 1
        self.peak_tenant_in_flight = max(self.peak_tenant_in_flight, self.tenant_in_flight)
        self._notify()
        try:
            await self._requests_open.wait()
            return await self._endpoints.serve(incoming, route, record, tenant, delay)
        finally:
            self.tenant_in_flight -= 1
            self._notify()

    def add_workflow(
        self,
        workflow_id: int,
        *,
        name: str | None = None,
        callout_trigger: bool | None = None,
        active: bool = True,
    ) -> None:
        """Define ``workflow_id`` (one version ``0.0.1``, listed by ``GET /workflows``),
        replacing any definition of that id. ``callout_trigger`` defaults to the
        workflow's ``configure_workflow`` setting (on unless configured off)."""
        if isinstance(workflow_id, bool) or not isinstance(workflow_id, int) or workflow_id < 1:
            raise ValueError(f"a workflow id is a positive int, got {workflow_id!r}")
        if self._runs.is_run(workflow_id):
            raise ValueError(f"{workflow_id} is already a run's id")
        if callout_trigger is None:
            callout_trigger = self._runs.config_of(workflow_id).callout_enabled
        self._runs.reserve(workflow_id)
        self._definitions.define(
            workflow_id, self._clock(), name=name, callout=callout_trigger, active=active
        )


def _slow_delays(fault: Fault | None) -> tuple[float, float]:
    if fault is None or fault.kind != "slow":
        return 0.0, 0.0
    return (0.0, fault.delay) if fault.record_first else (fault.delay, 0.0)
