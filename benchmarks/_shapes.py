"""The ways of sending one batch of run requests that the CPU benchmark compares.

Two hand-written aiohttp loops, the floor a careful user would write without us:

* ``raw_gather``: one task per run under ``asyncio.Semaphore(WIDTH)``, ``asyncio.gather``;
* ``raw_workers``: ``WIDTH`` workers pulling items from one shared iterator (no task per
  run, so far less garbage: usually the cheaper of the two).

One hand-written loop that does the least any client meeting this project's requirements
must do per call, so that a ratio can be read against what is possible at all:

* ``floor_workers``: ``raw_workers`` where each call also goes through a retry loop run by
  ``backoff.on_exception`` the way issue 10 requires it (a wait generator made per call
  that receives each failure, a ``giveup`` predicate, ``max_time`` read per call), holds a
  slot of an ``asyncio.Semaphore`` while it sends, and returns the run decoded into the
  ``WorkflowRun`` record by the package's converter (the brief's attrs + cattrs records).
  Nothing else: no pacing, no token cache, no validation, no hooks, no outcome records.

And ways through ``WorkflowClient`` (the package under test), as installed by
``pip install zuora-wf-async`` (no ``otel`` extra: ``opentelemetry`` is made unimportable
while the client is built, since this environment has it for the tests):

* ``run_workflow``: ``WIDTH`` workers calling ``run_workflow`` for items from one shared
  iterator, the cheapest loop a user would write around ``run_workflow``: the same shape
  as ``raw_workers``, so the two differ by the client alone;
* ``run_workflow_gather``: ``asyncio.gather`` of one ``run_workflow`` call per item, the
  shape of ``raw_gather`` (a task per run: what a FastAPI handler awaiting many runs does);
* ``run_many``: one ``run_many`` call;
* ``stream_runs``: ``async for outcome in client.stream_runs(...)``;

and ``run_many_otel``: ``run_many`` with ``opentelemetry-api`` importable (the ``otel``
extra) but no SDK configured, what an application that installs the extra and has not
set up tracing pays.

Every shape authenticates with OAuth client credentials (the raw loops fetch one token
up front, as a hand-written client would; ours through its token cache), sends the same
``POST /workflows/{id}/run`` with the same headers and compact JSON body, and reads and
JSON-decodes each answer. Each opens its own session, warms up ``WARMUP`` requests (not
measured), then calls ``meter.start()`` and ``meter.stop()`` around the measured batch.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from typing import Any, Protocol

import aiohttp
import backoff

from zuora_wf_async import OAuthCredentials, WorkflowClient, WorkflowRun
from zuora_wf_async._converter import decode  # the package's one converter

__all__ = [
    "FLOOR_SHAPE",
    "FLOOR_WITHOUT_RETRY_LOOP",
    "RAW_SHAPES",
    "SHAPES",
    "WIDTH",
    "WORKFLOW_ID",
    "Endpoint",
    "Meter",
    "params",
]

WORKFLOW_ID = 396
WIDTH = 64
WARMUP = 2 * WIDTH


class Meter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class Endpoint:
    """Where the server listens and the OAuth client to authenticate with."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url
        self.client_id = client_id
        self.client_secret = client_secret


def params(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """Small, realistic workflow parameters, generated lazily."""
    for index in range(start, start + count):
        yield {
            "accountId": f"A-{index:08d}",
            "invoiceNumber": f"INV-{index:08d}",
            "amount": round(index * 1.01, 2),
        }


# -- raw aiohttp -----------------------------------------------------------------------


async def _raw_token(session: aiohttp.ClientSession, endpoint: Endpoint) -> str:
    form = {
        "client_id": endpoint.client_id,
        "client_secret": endpoint.client_secret,
        "grant_type": "client_credentials",
    }
    async with session.post(f"{endpoint.base_url}/oauth/token", data=form) as response:
        response.raise_for_status()
        token: str = (await response.json())["access_token"]
    return token


class _Raw:
    """What a hand-written loop keeps: one session, one token, the URL."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint, token: str) -> None:
        self.session = session
        self.url = f"{endpoint.base_url}/workflows/{WORKFLOW_ID}/run"
        self.authorization = f"Bearer {token}"

    async def one(self, item: dict[str, Any]) -> Any | None:
        body = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Authorization": self.authorization,
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        async with self.session.post(self.url, data=body, headers=headers) as response:
            payload = await response.read()
            if response.status != 200:
                return None
        return json.loads(payload)


class _LeastRetryable:
    """``floor_workers``' call: a slot, one request, the record; backoff around it
    (without, with ``retry_loop=False``: what backoff's loop costs, for ``profile_hot_path``)."""

    def __init__(self, raw: _Raw, *, retry_loop: bool = True) -> None:
        self._raw = raw
        self._slots = asyncio.Semaphore(WIDTH)
        self.call: Callable[[dict[str, Any]], Awaitable[Any]] = self._attempt
        if not retry_loop:
            return
        self.call = backoff.on_exception(
            self._delays,
            _FailedError,
            max_tries=None,
            max_time=self._deadline,
            giveup=self._is_final,
            jitter=None,
            logger=None,
        )(self._attempt)

    @staticmethod
    def _deadline() -> float:
        return 60.0

    @staticmethod
    def _is_final(error: Exception) -> bool:
        # A raw loop's answer is a body or None: every failure here is worth a retry.
        return not isinstance(error, _FailedError)

    @staticmethod
    def _delays() -> Generator[float, BaseException | None, None]:
        error = yield 0.0  # backoff primes the generator
        while error is not None:
            error = yield 0.1

    async def _attempt(self, item: dict[str, Any]) -> Any:
        async with self._slots:
            data = await self._raw.one(item)  # the raw loop's own request, unchanged
        if data is None:
            raise _FailedError
        return decode(data, WorkflowRun)


class _FailedError(Exception):
    """A run request answered with anything but 200."""


async def _gather(raw: _Raw, items: Iterable[dict[str, Any]]) -> int:
    semaphore = asyncio.Semaphore(WIDTH)

    async def one(item: dict[str, Any]) -> Any:
        async with semaphore:
            return await raw.one(item)

    results = await asyncio.gather(*(one(item) for item in items))
    return sum(result is not None for result in results)


async def _workers(raw: _Raw, items: Iterable[dict[str, Any]]) -> int:
    source = iter(items)
    done = 0

    async def worker() -> None:
        nonlocal done
        for item in source:
            if await raw.one(item) is not None:
                done += 1

    await asyncio.gather(*(worker() for _ in range(WIDTH)))
    return done


async def _floor_workers(
    raw: _Raw, items: Iterable[dict[str, Any]], *, retry_loop: bool = True
) -> int:
    call = _LeastRetryable(raw, retry_loop=retry_loop).call
    source = iter(items)
    done = 0

    async def worker() -> None:
        nonlocal done
        for item in source:
            await call(item)
            done += 1

    await asyncio.gather(*(worker() for _ in range(WIDTH)))
    return done


def _raw_shape(
    batch: Callable[[_Raw, Iterable[dict[str, Any]]], Awaitable[int]],
) -> Callable[[Endpoint, int, Meter], Awaitable[int]]:
    async def shape(endpoint: Endpoint, count: int, meter: Meter) -> int:
        connector = aiohttp.TCPConnector(limit=WIDTH)
        async with aiohttp.ClientSession(connector=connector) as session:
            raw = _Raw(session, endpoint, await _raw_token(session, endpoint))
            await batch(raw, params(WARMUP))
            items = list(params(count, start=WARMUP))
            meter.start()
            ok = await batch(raw, items)
            meter.stop()
        return ok

    return shape


# -- ours ------------------------------------------------------------------------------


def _client(endpoint: Endpoint, *, otel: bool) -> WorkflowClient:
    auth = OAuthCredentials(client_id=endpoint.client_id, client_secret=endpoint.client_secret)
    if otel:
        return WorkflowClient(endpoint.base_url, auth=auth, max_concurrency=WIDTH)
    # None in sys.modules makes ``import opentelemetry`` raise ImportError: the client
    # then resolves its telemetry exactly as without the extra installed.
    saved = sys.modules.get("opentelemetry")
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    try:
        return WorkflowClient(endpoint.base_url, auth=auth, max_concurrency=WIDTH)
    finally:
        if saved is None:
            del sys.modules["opentelemetry"]
        else:
            sys.modules["opentelemetry"] = saved


async def _ours_run_workflow(client: WorkflowClient, items: list[dict[str, Any]]) -> int:
    source = iter(items)
    done = 0

    async def worker() -> None:
        nonlocal done
        for item in source:
            await client.run_workflow(WORKFLOW_ID, item)
            done += 1

    await asyncio.gather(*(worker() for _ in range(WIDTH)))
    return done


async def _ours_run_workflow_gather(client: WorkflowClient, items: list[dict[str, Any]]) -> int:
    runs = await asyncio.gather(*(client.run_workflow(WORKFLOW_ID, item) for item in items))
    return len(runs)


async def _ours_run_many(client: WorkflowClient, items: list[dict[str, Any]]) -> int:
    outcomes = await client.run_many(WORKFLOW_ID, items)
    return sum(outcome.ok for outcome in outcomes)


async def _ours_stream_runs(client: WorkflowClient, items: list[dict[str, Any]]) -> int:
    ok = 0
    # ``iter_runs`` in a tree from before issue 24 (a before-and-after run measures both).
    stream = getattr(client, "stream_runs", None) or client.iter_runs
    async for outcome in stream(WORKFLOW_ID, items):
        ok += outcome.ok
    return ok


def _our_shape(
    batch: Callable[[WorkflowClient, list[dict[str, Any]]], Awaitable[int]],
    *,
    otel: bool = False,
) -> Callable[[Endpoint, int, Meter], Awaitable[int]]:
    async def shape(endpoint: Endpoint, count: int, meter: Meter) -> int:
        async with _client(endpoint, otel=otel) as client:
            await batch(client, list(params(WARMUP)))
            items = list(params(count, start=WARMUP))
            meter.start()
            ok = await batch(client, items)
            meter.stop()
        return ok

    return shape


Shape = Callable[[Endpoint, int, Meter], Awaitable[int]]

SHAPES: dict[str, Shape] = {
    "raw_gather": _raw_shape(_gather),
    "raw_workers": _raw_shape(_workers),
    "floor_workers": _raw_shape(_floor_workers),
    "run_workflow": _our_shape(_ours_run_workflow),
    "run_workflow_gather": _our_shape(_ours_run_workflow_gather),
    "run_many": _our_shape(_ours_run_many),
    "stream_runs": _our_shape(_ours_stream_runs),
    "run_many_otel": _our_shape(_ours_run_many, otel=True),
}
RAW_SHAPES = ("raw_gather", "raw_workers")
# floor_workers without backoff's loop around each call: not benchmarked, a diagnostic
# (``python -m benchmarks.profile_hot_path --floor``) of what that loop costs.
FLOOR_WITHOUT_RETRY_LOOP: Shape = _raw_shape(functools.partial(_floor_workers, retry_loop=False))
FLOOR_SHAPE = "floor_workers"
# The raw loop of the same shape as each of ours: the like-for-like comparison.
SAME_SHAPE_RAW = {
    "run_workflow": "raw_workers",
    "run_workflow_gather": "raw_gather",
    "run_many": "raw_workers",
    "stream_runs": "raw_workers",
    "run_many_otel": "raw_workers",
}
