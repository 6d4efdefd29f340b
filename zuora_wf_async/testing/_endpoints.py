"""The fake's endpoints: what a request that got past the gateway gets (steps 7 to 9 of
the request algorithm in ``_backend``): an unknown path -> 404/405, documented header
limits -> 400, then the endpoint itself, after a ``slow`` fault's delay.

The endpoints that take an ``Idempotency-Key`` (run, task rerun, PATCH of a workflow, both
imports) share one key store: the first answer under a key is replayed to every repeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ._definitions import DefinitionStore
from ._delays import Delays
from ._idempotency import Claimed, Fingerprint, IdempotencyStore, InProgress, Mismatch, Replay
from ._limits import invalid_headers
from ._records import Execution, Incoming, RecordedRequest
from ._replies import in_progress, key_mismatch, not_found
from ._routes import Route
from ._runs import RunStore
from ._tokens import TokenStore
from ._wire import (
    BodyError,
    Reply,
    decode_for_record,
    errors_body,
    is_form,
    json_reply,
    parse_json_object,
)

__all__ = ["KEYED", "Endpoints"]

# The endpoints besides run whose POST or PATCH takes an Idempotency-Key.
KEYED: Final = frozenset({"update_workflow", "rerun_task", "import", "import_version"})


class Endpoints:
    """The endpoints' work, on the stores the :class:`Backend` shares with them."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        tokens: TokenStore,
        runs: RunStore,
        definitions: DefinitionStore,
        idempotency: IdempotencyStore,
        replay_status: int,
        latency: float,
        canonical_host: str | None,
        delays: Delays,
        runs_open: asyncio.Event,
        executions: list[Execution],
    ) -> None:
        self._clock = clock
        self._tokens = tokens
        self._runs = runs
        self._definitions = definitions
        self._idempotency = idempotency
        self._replay_status = replay_status
        self._latency = latency
        self._canonical_host = canonical_host
        self._delays = delays
        self._runs_open = runs_open  # cleared by pause_runs(): runs wait after their claim
        self._executions = executions  # the Backend's list, appended to in place

    async def serve(
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
        await self._delays.sleep(delay)
        return self._simple(incoming, route)

    def _origin(self, incoming: Incoming) -> str:
        """Where ``next_page`` links point: the canonical host if set, else the request's."""
        if self._canonical_host is not None:
            return self._canonical_host
        return f"http://{incoming.headers.get('Host') or '127.0.0.1'}"

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
        await self._delays.sleep(delay)
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
        await self._delays.sleep_until(arrived + delay + self._latency)
        await self._runs_open.wait()
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
            self._executions.append(
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
