"""``WorkflowClient``: the public face of the package; it composes, it does not send.

Where things happen (the map for a newcomer):
- Each operation is written once, as a function of the client that the class takes as its
  method: ``_starting`` (run_workflow, run_and_wait), ``_follow`` (get, stop, wait),
  ``_operations`` (definitions, versions), ``_task_operations`` (tasks); each builds its
  request with a pure ``_core`` builder and hands it, with a pure reader, to the call path.
  ``_batch`` runs many. The methods written here are the lifecycle and the batch's doors.
- ``Pipeline.call`` (``_call.call``) sends every request: the retry loop (slot, token,
  transport, hooks), over the parts ``_pipeline`` opens; ``_transport`` is aiohttp.
- ``_options.Settings``: the client's options, each checked once, read by the call path.
- ``_core/retry.py`` decides every retry (``next_step``: resend after a delay, or stop).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import random
import ssl
import time
import warnings
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Literal, Self, Unpack

import aiohttp

from zuora_wf_async import _follow, _operations, _starting, _task_operations
from zuora_wf_async._auth import Auth
from zuora_wf_async._batch.fanout import FanOut, RunItem
from zuora_wf_async._batch.options import BatchKeywords, BatchOptions
from zuora_wf_async._batch.outcomes import RunOutcome
from zuora_wf_async._batch.stream import RunStream
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy
from zuora_wf_async._core.workflow_fields import single_entity_id
from zuora_wf_async._encoding import BodyEncoder
from zuora_wf_async._env import (
    check_override_names,
    options_from_env,
    require_connection_options,
)
from zuora_wf_async._errors import InvalidRequestError
from zuora_wf_async._events import ClientStats, RequestEvent, ResponseEvent, RetryEvent
from zuora_wf_async._options import Settings
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._shared import DEFAULT_TENANT_CONCURRENCY, SharedLimits
from zuora_wf_async._starting import RunStarter

DEFAULT_TIMEOUT = 60.0
DEFAULT_GZIP_THRESHOLD = 1024


class WorkflowClient:
    """An asyncio client for Zuora's Workflow API.

    Use one client per service (and per event loop): it owns one ``aiohttp.ClientSession``,
    created inside the running loop when the client is entered or first used, and closed by
    ``async with`` or ``aclose()``. ``max_concurrency`` bounds requests in flight across
    every call made through the client (default: ``tenant_concurrency``, Zuora's 40 per
    tenant; a concurrency 429 lowers it, and it climbs back within seconds once they
    stop); ``poll_concurrency`` bounds the polls of
    ``wait_for_run(s)`` among them (default: a quarter of ``max_concurrency``).
    With OpenTelemetry installed (the ``otel`` extra) every call is a span and feeds
    ``zuora.client.*`` metrics, through ``tracer_provider``/``meter_provider`` (default:
    the global ones); ``propagate_trace_context=True`` also sends Zuora a ``traceparent``.
    ``shared_limits`` (a Redis URL, or ``SharedLimits``) shares the tenant's limits with
    every other process using it: ``tenant_concurrency`` requests in flight in all, the
    quota window, and the pauses and cuts after 429s (see the many-processes guide).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: Auth,
        max_concurrency: int | None = None,
        entity_ids: Sequence[str] | None = None,
        org_ids: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        gzip_threshold: int | None = DEFAULT_GZIP_THRESHOLD,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | Literal["default"] | None = "default",
        max_rate: float | None = None,
        on_retry: Callable[[RetryEvent], object] | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        on_response: Callable[[ResponseEvent], object] | None = None,
        auto_track_id: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        poll_concurrency: int | None = None,
        tracer_provider: Any = None,  # OpenTelemetry options: see _telemetry/
        meter_provider: Any = None,
        propagate_trace_context: bool = False,
        shared_limits: str | SharedLimits | None = None,
        tenant_concurrency: int = DEFAULT_TENANT_CONCURRENCY,
    ) -> None:
        if base_url is None:
            raise InvalidRequestError(
                "base_url",
                "is required",
                "pass Zuora's REST host, e.g. 'https://rest.test.zuora.com', or use from_env()",
            )
        # Each option checked once, in one record (_options.Settings) the call path reads.
        settings = Settings(
            base_url=build.normalize_base_url(base_url),
            auth=auth,
            # Workflow operations take one entity id (Zuora-Entity-Ids is single there).
            entity_ids=single_entity_id(build.validate_id_list("entity_ids", entity_ids)),
            org_ids=build.validate_id_list("org_ids", org_ids),
            tenant_concurrency=tenant_concurrency,
            # By default the tenant's limit: one process may use all of it.
            max_concurrency=tenant_concurrency if max_concurrency is None else max_concurrency,
            gzip_threshold=gzip_threshold,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            max_rate=max_rate,
            retry=retry,
            retry_budget=retry_budget,
            on_retry=on_retry,
            on_request=on_request,
            on_response=on_response,
            clock=clock,
            sleep=sleep,
            rng=rng,
            ssl_context=ssl_context,
            trace_configs=trace_configs,
            auto_track_id=auto_track_id,
            shared_limits=shared_limits,
            propagate_trace_context=propagate_trace_context,
        )
        # The options as a caller reads them back (the CLI does).
        self.base_url = settings.base_url
        self.auth = settings.auth
        self.max_concurrency = settings.max_concurrency
        self.tenant_concurrency = settings.tenant_concurrency
        self.shared_limits = settings.shared_limits
        self.timeout = settings.timeout
        self.gzip_threshold = settings.gzip_threshold
        self.retry = settings.retry
        self.retry_budget = settings.retry_budget
        self.max_rate = settings.max_rate
        # Imported here, not with the package: the adapter matters only once a client exists.
        from zuora_wf_async._telemetry.otel import resolve_telemetry

        telemetry = resolve_telemetry(  # the no-op unless opentelemetry is importable
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            propagate_trace_context=settings.propagate_trace_context,
            base_url=settings.base_url,
            clock=settings.clock,
        )
        self._pipeline = Pipeline(settings, telemetry)
        self._encoder = BodyEncoder(gzip_threshold=settings.gzip_threshold)
        self._starter = RunStarter(self._pipeline, self._encoder)
        self._follower = _follow.RunFollower(self._pipeline, poll_concurrency=poll_concurrency)
        # The pre-flight verdicts of _operations: {workflow id: (when, problem or None)}.
        self._preflight: dict[int, tuple[float, str | None]] = {}
        self._fanout = FanOut(
            self._starter,
            self._follower,
            self._pipeline,
            preflight=functools.partial(_operations.preflight, self),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """A client configured from ``ZUORA_*`` environment variables.

        Reads ``ZUORA_BASE_URL``, ``ZUORA_CLIENT_ID`` and ``ZUORA_CLIENT_SECRET`` (or
        ``ZUORA_BEARER_TOKEN``), ``ZUORA_ENTITY_IDS`` (one entity id: Workflow operations
        take a single one), comma-separated ``ZUORA_ORG_IDS``, ``ZUORA_TENANT_CONCURRENCY``
        (the tenant's in-flight limit: the default ``max_concurrency``, and the limit
        shared through ``ZUORA_REDIS_URL``). Keyword ``overrides`` win over the
        environment.
        """
        options = options_from_env(os.environ if environ is None else environ)
        check_override_names(overrides, inspect.signature(cls).parameters)
        options.update(overrides)
        require_connection_options(options)
        return cls(**options)

    def __repr__(self) -> str:
        return (
            f"WorkflowClient({self.base_url!r}, auth={self.auth!r}, "
            f"max_concurrency={self.max_concurrency}, state={self._pipeline.state})"
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._pipeline.ensure_open()
        try:
            await self._pipeline.start_shared_limits()  # ConfigurationError before any request
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session; the client cannot be used afterwards. Safe to call twice."""
        await self._pipeline.aclose()

    # -- state -------------------------------------------------------------------------

    @property
    def auto_track_id(self) -> bool:
        """Whether calls without a ``track_id`` get a fresh ``Zuora-Track-Id``."""
        return self._pipeline.settings.auto_track_id

    @property
    def in_flight(self) -> int:
        """Requests being sent or awaited right now."""
        return self._pipeline.in_flight

    @property
    def token_fetches(self) -> int:
        """How many OAuth tokens this client has fetched."""
        return self._pipeline.stats().token_fetches

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the client's pacing and retry state, for metrics and tests."""
        return self._pipeline.stats()

    @property
    def effective_concurrency(self) -> int:
        """Requests allowed in flight now: ``max_concurrency`` until Zuora pushes back."""
        return self._pipeline.effective_concurrency

    @property
    def poll_budget(self) -> int:
        """How many polls may be in flight at once (see ``poll_concurrency``)."""
        return self._follower.poll_budget

    # -- runs (each written in its module, documented there) ---------------------------

    run_workflow = _starting.run_workflow
    run_and_wait = _starting.run_and_wait
    get_run = _follow.get_run
    stop_run = _follow.stop_run
    wait_for_run = _follow.wait_for_run
    wait_for_runs = _follow.wait_for_runs
    iter_tasks = _task_operations.iter_tasks

    # -- many runs ---------------------------------------------------------------------

    def stream_runs(
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        **options: Unpack[BatchKeywords],
    ) -> RunStream:
        """Start one run per item and yield each ``RunOutcome`` as it completes.

        ``items`` are parameter mappings or ``RunRequest``s, from a list, a generator or
        an async iterable; they are read only as far as ``window`` (default: eight
        times the client's ``max_concurrency``, so runs sleeping out a ``Retry-After`` do
        not hold up the rest) ahead of the outcomes handed back, and only into a free slot
        of the client's limit. An item's key is its own ``idempotency_key``, else
        ``key_fn(params)``, else a fresh UUID4. Nothing raises halfway: a failed item (a
        ``key_fn`` that raises included) is an outcome with ``error`` set, and a raising
        ``on_progress`` is logged and ignored. If
        ``items`` itself raises, no more are read, the runs already started end and are
        yielded, then ``BatchInputError`` is raised (the caller's exception as its
        ``__cause__``).

        The options (keywords, each checked before anything is sent): ``key_fn``,
        ``track_id``, ``retry``, ``on_progress`` (called with a ``Progress`` after each
        outcome), ``window``, ``wait``, ``wait_timeout``, ``poll_interval``,
        ``max_poll_interval``, ``total``, ``journal``, ``preflight``.

        With ``wait=True`` each outcome comes back only once its run has ended, with the
        final ``detail`` (``outcome.succeeded`` tells a clean finish); waits poll within the
        client's poll budget, and the default window (``8 * max_concurrency``) is what keeps
        runs waiting in Zuora's queue from holding up the start of the next ones.

        **Pre-flight:** before the first run the workflow is checked once (``GET
        /workflows/{id}``, cached per client for a minute): if it is not Active or its
        Callout trigger is off, ``WorkflowNotRunnableError`` is raised from the first
        ``anext`` and nothing is sent; a workflow that does not exist raises
        ``NotFoundError``. ``preflight=False`` skips the check.

        ``total`` is handed to ``on_progress`` (for a generator, whose length is unknown).
        With ``journal=`` (a ``BatchJournal``) the batch resumes: items the journal records
        as done are skipped (no outcome), each other item is journaled ``started`` before it
        is sent and its outcome after, and every item needs a deterministic key (its own,
        or ``key_fn``'s).

        Leaving the loop early closes the stream (no more items are read, the runs in
        flight are cancelled); ``async with`` the stream, or ``await stream.aclose()``, does
        it at once.
        """
        batch = BatchOptions.from_keywords(options)
        return self._fanout.stream(workflow_id, items, batch, operation="stream_runs")

    def iter_runs(
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        **options: Unpack[BatchKeywords],
    ) -> RunStream:
        """Deprecated: the old name of ``stream_runs`` (it starts runs; ``iter_tasks`` and
        ``iter_workflows`` list things). Same arguments, same stream; it warns with
        ``DeprecationWarning`` and goes in the next release."""
        warnings.warn(
            "iter_runs is deprecated: call stream_runs (same arguments); iter_runs goes in "
            "the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        batch = BatchOptions.from_keywords(options)
        return self._fanout.stream(workflow_id, items, batch, operation="iter_runs")

    async def run_many(
        self,
        workflow_id: int,
        items: Iterable[RunItem] | AsyncIterable[RunItem],
        **options: Unpack[BatchKeywords],
    ) -> list[RunOutcome]:
        """Start one run per item; return every outcome, in input order.

        Never raises halfway: each item gets a ``RunOutcome`` with ``run`` or ``error``.
        Call ``raise_for_failures(outcomes)`` to fail fast instead. If ``items`` itself
        raises, the runs already started end, then ``BatchInputError`` carries every
        outcome (``.outcomes``), with the caller's exception as its ``__cause__``. The
        options (``window``, ``key_fn``, ``wait``, ``journal``, ...), the pre-flight check
        and ``total`` are as for ``stream_runs``; a pre-flight failure raises before
        anything is sent.
        """
        return await self._fanout.run_many(workflow_id, items, BatchOptions.from_keywords(options))

    # -- the Workflow API (definitions, tasks, versions, usage) --
    # Each written once, as a function of the client, in _operations (definitions and
    # versions) and _task_operations (tasks); every one takes track_id= and retry=.

    iter_workflows = _operations.iter_workflows
    get_workflow = _operations.get_workflow
    update_workflow = _operations.update_workflow
    delete_workflow = _operations.delete_workflow
    export_workflow = _operations.export_workflow
    import_workflow = _operations.import_workflow
    list_workflow_versions = _operations.list_workflow_versions
    import_workflow_version = _operations.import_workflow_version
    delete_workflow_version = _operations.delete_workflow_version
    get_task = _task_operations.get_task
    rerun_task = _task_operations.rerun_task
    rerun_failed_tasks = _task_operations.rerun_failed_tasks
    update_tasks = _task_operations.update_tasks
    get_task_usage = _task_operations.get_task_usage
