"""The three ways of sending the same batch of run requests that the benchmarks compare.

* ``ours``: ``WorkflowClient.run_many`` (the package under test).
* ``raw``: a minimal hand-written aiohttp loop: the same URL, headers and compact JSON
  body, an ``asyncio.Semaphore`` of the same width, the body read and JSON-decoded.
* ``sdk``: the official synchronous ``zuora-sdk`` driven by a thread pool of that width.

Each driver opens its session, warms its connections up (not measured), then hands the
measured part to a callback, so all three are timed the same way.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from zuora_wf_async import BearerToken, WorkflowClient

from ._server import ServerInfo

__all__ = [
    "WIDTH",
    "WORKFLOW_ID",
    "params",
    "raw_batch",
    "raw_one",
    "raw_session",
    "run_ours",
    "run_raw",
    "run_sdk",
]

WORKFLOW_ID = 396
WIDTH = 32
WARMUP = 2 * WIDTH


def params(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """Small, realistic workflow parameters, generated lazily."""
    for index in range(start, start + count):
        yield {
            "accountId": f"A-{index:08d}",
            "invoiceNumber": f"INV-{index:08d}",
            "amount": round(index * 1.01, 2),
        }


# -- ours ------------------------------------------------------------------------------


async def ours_batch(client: WorkflowClient, items: Iterable[dict[str, Any]]) -> int:
    outcomes = await client.run_many(WORKFLOW_ID, items)
    return sum(outcome.ok for outcome in outcomes)


async def run_ours(info: ServerInfo, count: int, measure: Callable[[], Any]) -> tuple[int, Any]:
    """Warm up, then ``run_many`` ``count`` runs between two calls of ``measure``."""
    auth = BearerToken(info.token)
    async with WorkflowClient(info.base_url, auth=auth, max_concurrency=WIDTH) as client:
        await ours_batch(client, params(WARMUP))
        batch = list(params(count, start=WARMUP))
        before = measure()
        ok = await ours_batch(client, batch)
        return ok, (before, measure())


# -- raw aiohttp -----------------------------------------------------------------------


async def raw_one(
    session: aiohttp.ClientSession, info: ServerInfo, item: dict[str, Any]
) -> Any | None:
    """One run request as a careful engineer would write it by hand with aiohttp."""
    body = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Authorization": f"Bearer {info.token}",
        "Accept": "application/json",
        "Accept-Encoding": "gzip",
        "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    url = f"{info.base_url}/workflows/{WORKFLOW_ID}/run"
    async with session.post(url, data=body, headers=headers) as response:
        payload = await response.read()
        if response.status != 200:
            return None
    return json.loads(payload)


async def raw_batch(
    session: aiohttp.ClientSession, info: ServerInfo, items: Iterable[dict[str, Any]]
) -> list[Any]:
    """``raw_one`` for every item under a semaphore of the same width, via ``gather``."""
    semaphore = asyncio.Semaphore(WIDTH)

    async def one(item: dict[str, Any]) -> Any:
        async with semaphore:
            return await raw_one(session, info, item)

    return await asyncio.gather(*(one(item) for item in items))


def raw_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WIDTH))


async def run_raw(info: ServerInfo, count: int, measure: Callable[[], Any]) -> tuple[int, Any]:
    async with raw_session() as session:
        await raw_batch(session, info, params(WARMUP))
        batch = list(params(count, start=WARMUP))
        before = measure()
        results = await raw_batch(session, info, batch)
        return sum(result is not None for result in results), (before, measure())


# -- zuora-sdk -------------------------------------------------------------------------


def run_sdk(info: ServerInfo, count: int, measure: Callable[[], Any]) -> tuple[int, Any]:
    from zuora_sdk.api.workflows_api import WorkflowsApi
    from zuora_sdk.api_client import ApiClient
    from zuora_sdk.configuration import Configuration

    config = Configuration(host=info.base_url, access_token=info.token)
    config.connection_pool_maxsize = WIDTH
    api = WorkflowsApi(ApiClient(config))

    def one(item: dict[str, Any]) -> bool:
        run = api.post_run_workflow(
            WORKFLOW_ID,
            inputparameters=item,
            idempotency_key=str(uuid.uuid4()),
            accept_encoding="gzip",
        )
        return run.id is not None

    with ThreadPoolExecutor(max_workers=WIDTH) as pool:
        list(pool.map(one, params(WARMUP)))
        batch = list(params(count, start=WARMUP))
        before = measure()
        ok = sum(pool.map(one, batch))
        after = measure()
    api.api_client.rest_client.pool_manager.clear()
    return ok, (before, after)
