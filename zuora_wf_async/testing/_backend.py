"""The fake's request algorithm, free of any HTTP library: an :class:`Incoming` in, an
answer out. The order of the checks is the contract, so it is written once, here:

1. record the request; 2. throttle (quota, rate-limit burst) -> 429; 3. ``expire_token``
fault; 4. ``error_before_record`` fault -> 5xx; 5. bearer check under ``/workflows`` -> 401;
6. unknown path -> 404/405; 7. documented header limits -> 400; 8. the endpoint, with a
``slow`` fault's delay before the work (after claiming the idempotency key) or after it
(``record_first``); 9. ``error_after_record`` -> 5xx, ``drop_after_record`` -> no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from ._faults import Decision, Endpoint, Fault, FaultEngine, FaultKind
from ._idempotency import Claimed, Fingerprint, IdempotencyStore, InProgress, Mismatch, Replay
from ._limits import invalid_headers
from ._records import Execution, Headers, InjectedFault, RecordedRequest
from ._replies import in_progress, key_mismatch, not_found, server_error, throttled
from ._routes import Route, route_for
from ._runs import RunStore
from ._tokens import TokenStore, unauthorized
from ._wire import (
    DROP,
    BodyError,
    Drop,
    Reply,
    decode_for_record,
    encode,
    errors_body,
    json_reply,
    parse_json_object,
)

__all__ = ["Answer", "Backend", "Incoming"]


@attrs.frozen(kw_only=True)
class Incoming:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    raw_body: bytes
    # Every (name, value) in order: a repeated name (``tags[]``) appears once per value.
    query_pairs: tuple[tuple[str, str], ...] = ()


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
    ) -> None:
        self._clock = clock
        self._tokens = tokens
        self._runs = runs
        self._faults = faults
        self._idempotency = idempotency
        self._replay_status = replay_status
        self._latency = latency
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
        self._closing = asyncio.Event()

    # -- waiting and pausing ------------------------------------------------------------

    def pause_runs(self) -> None:
        """Hold run requests after their key is claimed, until :meth:`resume_runs`."""
        self._open.clear()

    def resume_runs(self) -> None:
        self._open.set()

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
        self._closing.clear()

    def _shutdown(self) -> None:
        """End every fake delay and pause early so closing never waits for them."""
        self._closing.set()
        self._open.set()

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._closing.wait()

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
                response_headers=(
                    None if isinstance(answer, Drop) else Headers(tuple(answer.headers.items()))
                ),
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
        await self._sleep(delay_after)
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
        if route.endpoint == "unknown":
            return not_found(route.allow)
        invalid = invalid_headers(incoming.headers)
        if invalid is not None:
            return invalid
        if route.endpoint == "run":
            return await self._run(incoming, route, record, tenant, delay)
        await self._sleep(delay)
        return self._simple(incoming, route)

    def _simple(self, incoming: Incoming, route: Route) -> Reply:
        now = self._clock()
        if route.endpoint == "token":
            return self._tokens.token_reply(incoming.headers, _form(incoming), now)
        if route.endpoint == "tasks":
            host = incoming.headers.get("Host") or "127.0.0.1"
            return self._runs.tasks_reply(incoming.query_pairs, now, f"http://{host}")
        assert route.param is not None  # noqa: S101  # every workflow_runs route captures it
        if route.endpoint == "get_run":
            return self._runs.detail_reply(route.param, now)
        return self._runs.stop_reply(route.param, now)

    async def _run(
        self,
        incoming: Incoming,
        route: Route,
        record: RecordedRequest,
        tenant: str,
        delay: float,
    ) -> Reply:
        assert route.param is not None  # noqa: S101  # the run route captures workflow_id
        if not route.param.isdigit():
            return json_reply(404, errors_body(404, f"Workflow '{route.param}' is not found"))
        workflow_id = int(route.param)
        try:
            params = parse_json_object(incoming.raw_body, record.content_encoding)
        except BodyError as exc:
            return json_reply(400, errors_body(400, str(exc)))
        key = incoming.headers.get("Idempotency-Key") or None
        if key is not None:
            fingerprint = Fingerprint(tenant, incoming.method.upper(), incoming.path, params)
            outcome = self._idempotency.begin(key, fingerprint, self._clock())
            if isinstance(outcome, Replay):
                return self._replay(outcome.reply)
            if isinstance(outcome, InProgress):
                return in_progress()
            if isinstance(outcome, Mismatch):
                return key_mismatch()
            assert isinstance(outcome, Claimed)  # noqa: S101  # the union is exhausted
        return await self._guarded(key, self._execute(workflow_id, params, key, incoming, delay))

    async def _guarded(self, key: str | None, work: Awaitable[Reply]) -> Reply:
        # A claim whose work never finished (the task was cancelled, the fake closed) must
        # not block the key forever: release it so the client's retry can do the work.
        try:
            reply = await work
        except BaseException:
            if key is not None:
                self._idempotency.release(key)
            raise
        if key is not None:
            self._idempotency.complete(key, reply)
        return reply

    async def _execute(
        self,
        workflow_id: int,
        params: dict[str, Any],
        key: str | None,
        incoming: Incoming,
        delay: float,
    ) -> Reply:
        await self._sleep(delay + self._latency)
        await self._open.wait()
        now = self._clock()
        reply, run = self._runs.run_reply(workflow_id, params, now)
        if run is not None:
            self.executions.append(
                Execution(
                    run_id=run.id,
                    workflow_id=workflow_id,
                    params=params,
                    idempotency_key=key,
                    track_id=incoming.headers.get("Zuora-Track-Id"),
                    created_at=now,
                )
            )
        return reply

    def _replay(self, stored: Reply) -> Reply:
        if self._replay_status == 409 and stored.status == 200:
            return stored.with_status(409)
        return stored


def _slow_delays(fault: Fault | None) -> tuple[float, float]:
    if fault is None or fault.kind != "slow":
        return 0.0, 0.0
    return (0.0, fault.delay) if fault.record_first else (fault.delay, 0.0)


def _form(incoming: Incoming) -> dict[str, str] | None:
    content_type = incoming.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    decoded = decode_for_record(
        incoming.raw_body, incoming.headers.get("Content-Encoding"), content_type
    )
    return decoded if isinstance(decoded, dict) else None
