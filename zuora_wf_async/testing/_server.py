"""FakeZuora: the :class:`Backend` served over real HTTP on a loopback port.

This is the only module that imports ``aiohttp.web``. It turns an aiohttp request into an
:class:`Incoming`, and an :class:`Answer` back into bytes on the wire, or into a closed
connection when a fault drops the response.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self

import attrs
from aiohttp import web

from ._backend import Backend
from ._definitions import DEFAULT_WORKFLOW_IDS
from ._faults import FaultEngine, FaultPlan
from ._idempotency import IdempotencyStore
from ._records import Headers, Incoming
from ._runs import Lifecycle, RunStore, WorkflowConfig
from ._tenant import TenantLimits, TenantQuota
from ._tokens import TokenStore
from ._wire import Drop

__all__ = ["FIXED_EPOCH", "FakeZuora"]

# Under an injected clock, clock time t is this instant plus t seconds, so run timestamps
# are the same on every test run.
FIXED_EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)
MAX_BODY: Final = 16 * 1024 * 1024  # above Zuora's 5 MB task payload limit


def _wall_for(clock: Callable[[], float]) -> Callable[[float], datetime]:
    if clock is time.monotonic:
        anchor, at = datetime.now(UTC), clock()
        return lambda t: anchor + timedelta(seconds=t - at)
    return lambda t: FIXED_EPOCH + timedelta(seconds=t)


class FakeZuora(Backend):
    """A local Zuora Workflow API (OAuth and all 17 Workflow operations) for tests.

    Use ``async with FakeZuora() as fake:`` or ``await fake.start()`` / ``await fake.close()``.
    See the package docstring of ``zuora_wf_async.testing`` for the behaviour in full.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        token_ttl: float = 3599.0,
        queued_seconds: float = 0.0,
        processing_seconds: float = 0.0,
        stopping_seconds: float = 0.0,
        faults: FaultPlan | None = None,
        replay_status: int = 200,
        latency: float = 0.0,
        idempotency_ttl: float = 86400.0,
        client_id: str | None = None,
        client_secret: str | None = None,
        limits: TenantLimits | None = None,
        canonical_host: str | None = None,
        workflows: Iterable[int] = DEFAULT_WORKFLOW_IDS,
    ) -> None:
        if replay_status not in {200, 409}:
            raise ValueError(f"replay_status must be 200 or 409, got {replay_status}")
        client_id = client_id if client_id is not None else str(uuid.uuid4())
        client_secret = client_secret if client_secret is not None else uuid.uuid4().hex
        if len(client_id) != 36 or not 0 < len(client_secret) <= 42:
            raise ValueError("a Zuora client id is 36 characters and a secret at most 42")
        life = Lifecycle(
            queued_seconds=queued_seconds,
            processing_seconds=processing_seconds,
            stopping_seconds=stopping_seconds,
        )
        limits = limits or TenantLimits()
        super().__init__(
            clock=clock,
            tokens=TokenStore(client_id, client_secret, token_ttl),
            runs=RunStore(life, _wall_for(clock)),
            faults=FaultEngine(faults, TenantQuota(limits)),
            idempotency=IdempotencyStore(idempotency_ttl),
            replay_status=replay_status,
            latency=latency,
            limits=limits,
            canonical_host=canonical_host.rstrip("/") if canonical_host else None,
            workflows=workflows,
        )
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("FakeZuora is already started")
        self._reopen()
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # auto_decompress=False: the fake must see (and record) gzip bodies as sent.
        runner = web.AppRunner(app, access_log=None, auto_decompress=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self._shutdown()
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, once started."""
        if self._base_url is None:
            raise RuntimeError("FakeZuora is not started; use `async with` or `await start()`")
        return self._base_url

    # -- credentials and settings -------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self._tokens.client_id

    @property
    def client_secret(self) -> str:
        return self._tokens.client_secret

    @property
    def tokens_issued(self) -> int:
        return self._tokens.issued

    def issue_token(self) -> str:
        """A valid bearer token minted without HTTP (not counted as a token request)."""
        return self._tokens.issue(self._clock())

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid (the next use gets 401)."""
        self._tokens.expire_all()

    def configure_workflow(
        self, workflow_id: int, config: WorkflowConfig | None = None, **options: Any
    ) -> WorkflowConfig:
        """Set how a workflow definition answers runs; keyword options override ``config``."""
        base = config if config is not None else WorkflowConfig()
        merged = attrs.evolve(base, **options) if options else base
        self._runs.configure(workflow_id, merged)
        self._definitions.set_callout(workflow_id, merged.callout_enabled, self._clock())
        return merged

    def create_workflow(
        self,
        name: str = "Workflow",
        *,
        callout_trigger: bool = True,
        ondemand_trigger: bool = True,
        scheduled_trigger: bool = False,
        active: bool = True,
        tasks: Sequence[Mapping[str, Any]] = (),
    ) -> int:
        """A new definition with one version ``0.0.1``, as an import would make it; its id."""
        workflow = {
            "name": name,
            "callout_trigger": callout_trigger,
            "ondemand_trigger": ondemand_trigger,
            "scheduled_trigger": scheduled_trigger,
        }
        definition = self._definitions.create(workflow, tasks, [], self._clock(), active=active)
        return definition.id

    def workflow_record(self, workflow_id: int) -> dict[str, Any] | None:
        """The definition as ``GET /workflows/{id}`` would show it, or None (no HTTP)."""
        definition = self._definitions.find(workflow_id)
        return None if definition is None else self._definitions.definition_record(definition)

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived_at = asyncio.get_running_loop().time()
        pairs = tuple(request.query.items()) if request.query_string else ()
        incoming = Incoming(
            method=request.method,
            path=request.path,
            query=dict(pairs),
            query_pairs=pairs,
            headers=Headers(request.headers),  # every pair, a repeated name's too
            raw_body=await request.read(),
            arrived_at=arrived_at,
        )
        answer = await self.handle(incoming)
        if isinstance(answer, Drop):
            # Closing the transport and returning anything makes aiohttp write nothing;
            # the client sees the connection end (ServerDisconnectedError).
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
