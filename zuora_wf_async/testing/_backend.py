"""The fake's request algorithm, free of any HTTP library: an :class:`Incoming` in, an
answer out. The order of the checks is the contract, so it is written once, here:

1. record the request; 2. throttle (the tenant's quotas, quota faults, rate-limit bursts)
-> 429; 3. ``expire_token`` fault; 4. ``error_before_record`` fault -> 5xx; 5. bearer check
under ``/workflows`` -> 401; 6. the tenant's concurrency limit -> 429 (the request then holds
its place until answered, and waits while ``pause_requests()`` is in force); 7. unknown path
-> 404/405; 8. documented header limits -> 400; 9. the endpoint, with a ``slow`` fault's
delay before the work (after claiming the idempotency key) or after it (``record_first``);
10. ``error_after_record`` -> 5xx, ``drop_after_record`` -> no answer.

The endpoints that take an ``Idempotency-Key`` (run, task rerun, PATCH of a workflow, both
imports) share one key store: the first answer under a key is replayed to every repeat.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from ._definitions import DEFAULT_WORKFLOW_IDS, DefinitionStore
from ._faults import Decision, Endpoint, Fault, FaultEngine, FaultKind
from ._idempotency import Claimed, Fingerprint, IdempotencyStore, InProgress, Mismatch, Replay
from ._limits import invalid_headers
from ._records import Execution, Headers, InjectedFault, RecordedRequest
from ._replies import (
    in_progress,
    key_mismatch,
    not_found,
    server_error,
    throttled,
    too_many_in_flight,
)
from ._routes import Route, route_for
from ._runs import RunStore
from ._tenant import TenantLimits
from ._tokens import TokenStore, unauthorized
from ._wire import (
    DROP,
    BodyError,
    Drop,
    Reply,
    decode_for_record,
    encode,
    errors_body,
    is_form,
    json_reply,
    parse_json_object,
)

__all__ = ["KEYED", "Answer", "Backend", "Incoming"]

# The endpoints besides run whose POST or PATCH takes an Idempotency-Key.
KEYED: Final = frozenset({"update_workflow", "rerun_task", "import", "import_version"})


@attrs.frozen(kw_only=True)
class Incoming:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    raw_body: bytes
    # Every (name, value) in order: a repeated name (``tags[]``) appears once per value.
    query_pairs: tuple[tuple[str, str], ...] = ()
    # The event loop's time (``loop.time()``) when the request arrived: a run's ``latency``
    # counts from here, so the time spent reading and checking it is part of the latency,
    # not added to it. None: from when the run's work starts.
    arrived_at: float | None = None


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
        self._canonical_host = canonical_host
        #: API requests of the tenant being served now (the concurrency limit's count).
        self.tenant_in_flight = 0
        self.peak_tenant_in_flight = 0
        self._requests_open = asyncio.Event()
        self._requests_open.set()
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
        self._sleepers: set[asyncio.Future[None]] = set()
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
        self._closing.clear()

    def _shutdown(self) -> None:
        """End every fake delay and pause early so closing never waits for them."""
        self._closing.set()
        self._open.set()
        self._requests_open.set()
        for sleeper in self._sleepers:
            _wake(sleeper)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep_until(asyncio.get_running_loop().time() + seconds)

    async def _sleep_until(self, deadline: float) -> None:
        """Wait until the loop's clock reads ``deadline`` (never earlier); closing ends it.

        One timer and one future per wait: ``asyncio.timeout`` would cancel the task to end
        the wait, several times the work, and under a batch of thousands of runs the fake's
        own time per request is what a client measures as extra latency.
        """
        loop = asyncio.get_running_loop()
        if self._closing.is_set() or deadline <= loop.time():
            return
        woken: asyncio.Future[None] = loop.create_future()
        self._sleepers.add(woken)
        timer = loop.call_at(deadline, _wake, woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._sleepers.discard(woken)

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
        if not route.needs_auth:
            return await self._endpoint(incoming, route, record, tenant, delay)
        if self.tenant_in_flight >= self._limits.concurrency:
            return too_many_in_flight(self._limits.concurrency)
        self.tenant_in_flight += 1
        self.peak_tenant_in_flight = max(self.peak_tenant_in_flight, self.tenant_in_flight)
        self._notify()
        try:
            await self._requests_open.wait()
            return await self._endpoint(incoming, route, record, tenant, delay)
        finally:
            self.tenant_in_flight -= 1
            self._notify()

    async def _endpoint(
        self, incoming: Incoming, route: Route, record: RecordedRequest, tenant: str, delay: float
    ) -> Reply:
        if route.endpoint == "unknown":
            return not_found(route.allow)
        invalid = invalid_headers(incoming.headers)
        if invalid is not None:
            return invalid
        if route.endpoint == "run":
            return await self._run(incoming, route, record, tenant, delay)
        if route.endpoint in KEYED:
            return await self._keyed(incoming, route, record, tenant, delay)
        await self._sleep(delay)
        return self._simple(incoming, route)

    def _origin(self, incoming: Incoming) -> str:
        """Where ``next_page`` links point: the canonical host if set, else the request's."""
        if self._canonical_host is not None:
            return self._canonical_host
        return f"http://{incoming.headers.get('Host') or '127.0.0.1'}"

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

    def _simple(self, incoming: Incoming, route: Route) -> Reply:
        now = self._clock()
        endpoint, query = route.endpoint, incoming.query
        if endpoint == "token":
            return self._tokens.token_reply(incoming.headers, _form(incoming), now)
        if endpoint == "tasks":
            return self._runs.tasks_reply(incoming.query_pairs, now, self._origin(incoming))
        if endpoint == "list_workflows":
            return self._definitions.list_reply(query, self._origin(incoming))
        if endpoint == "task_usage":
            return self._runs.book.usage_reply(self._runs.base_tasks(now), query)
        if endpoint == "update_tasks":
            try:
                body = parse_json_object(
                    incoming.raw_body, incoming.headers.get("Content-Encoding")
                )
            except BodyError as exc:
                return json_reply(400, errors_body(400, str(exc), "Task"))
            return self._runs.book.batch_update_reply(self._runs.tasks_now(now), body)
        assert route.param is not None  # noqa: S101  # every other route captures an id
        param = route.param
        simple = {
            "get_run": lambda: self._runs.detail_reply(param, now),
            "stop": lambda: self._runs.stop_reply(param, now),
            "get_task": lambda: self._runs.book.get_reply(self._runs.tasks_now(now), param),
            "delete_version": lambda: self._definitions.delete_version_reply(param),
            "get_workflow": lambda: self._definitions.get_reply(param),
            "delete_workflow": lambda: self._definitions.delete_reply(param),
            "list_versions": lambda: self._definitions.versions_reply(param),
            "export": lambda: self._definitions.export_reply(param, query.get("version")),
        }
        return simple[endpoint]()

    async def _keyed(
        self, incoming: Incoming, route: Route, record: RecordedRequest, tenant: str, delay: float
    ) -> Reply:
        """An endpoint that takes an Idempotency-Key other than run: PATCH, rerun, imports."""
        try:
            body = parse_json_object(incoming.raw_body, record.content_encoding)
        except BodyError as exc:
            return json_reply(400, errors_body(400, str(exc)))
        key = incoming.headers.get("Idempotency-Key") or None
        if key is not None:
            # The query is part of the request: an import under another version is another.
            target = (
                incoming.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(incoming.query_pairs))
            )
            fingerprint = Fingerprint(tenant, incoming.method.upper(), target, body)
            outcome = self._idempotency.begin(key, fingerprint, self._clock())
            if isinstance(outcome, Replay):
                return self._replay(outcome.reply)
            if isinstance(outcome, InProgress):
                return in_progress()
            if isinstance(outcome, Mismatch):
                return key_mismatch()
        return await self._guarded(key, self._keyed_work(incoming, route, body, delay))

    async def _keyed_work(
        self, incoming: Incoming, route: Route, body: dict[str, Any], delay: float
    ) -> Reply:
        await self._sleep(delay)
        now = self._clock()
        query = incoming.query
        if route.endpoint == "import":
            return self._definitions.import_reply(body, query, now)
        assert route.param is not None  # noqa: S101  # the other keyed routes capture an id
        if route.endpoint == "rerun_task":
            tasks = self._runs.tasks_now(now)
            return self._runs.book.rerun_reply(tasks, route.param, now, self._runs.rerun_failures)
        param = route.param
        if route.endpoint == "update_workflow":
            return self._definitions.update_reply(param, body, now)
        return self._definitions.import_reply(body, query, now, under=param)

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
            params = _run_params(incoming, record)
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
        # The latency counts from the request's arrival: 50 ms means answered 50 ms after
        # it came in, however long reading and checking it took.
        arrived = incoming.arrived_at
        if arrived is None:
            arrived = asyncio.get_running_loop().time()
        await self._sleep_until(arrived + delay + self._latency)
        await self._open.wait()
        now = self._clock()
        callout: bool | None = None
        active = True
        if not self._runs.is_run(workflow_id):
            # Only a definition that exists runs, as at Zuora (UNCONFIRMED: the body).
            definition = self._definitions.find(workflow_id)
            if definition is None:
                return json_reply(404, errors_body(404, f"Workflow {workflow_id} is not found"))
            callout, active = definition.callout_trigger, definition.status == "Active"
        reply, run = self._runs.run_reply(
            workflow_id, params, now, callout_enabled=callout, active=active
        )
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


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


def _slow_delays(fault: Fault | None) -> tuple[float, float]:
    if fault is None or fault.kind != "slow":
        return 0.0, 0.0
    return (0.0, fault.delay) if fault.record_first else (fault.delay, 0.0)


def _run_params(incoming: Incoming, record: RecordedRequest) -> dict[str, Any]:
    """A run's parameters: the JSON object the record decoded already (a copy, so the
    record stays as received), else the body parsed by the run's own rules."""
    if type(record.body) is dict and not is_form(incoming.headers.get("Content-Type")):
        return dict(record.body)
    return parse_json_object(incoming.raw_body, record.content_encoding)


def _form(incoming: Incoming) -> dict[str, str] | None:
    content_type = incoming.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    decoded = decode_for_record(
        incoming.raw_body, incoming.headers.get("Content-Encoding"), content_type
    )
    return decoded if isinstance(decoded, dict) else None
