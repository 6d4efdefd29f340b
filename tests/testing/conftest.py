"""Fixtures for the FakeZuora tests: a manual clock, fakes started on it, a raw HTTP wire.

The tests drive the fake with a plain ``aiohttp.ClientSession`` (never the project's
client), with ``auto_decompress=False`` so gzip is visible on the wire. Helpers are given
as fixtures because the suite runs with ``--import-mode=importlib``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from zuora_wf_async.testing import FakeZuora, ManualClock

StartFake = Callable[..., Awaitable[FakeZuora]]


@dataclass(frozen=True)
class Result:
    status: int
    headers: Mapping[str, str]
    raw: bytes
    body: Any  # JSON (gunzipped if needed), else text


class Wire:
    """Raw HTTP calls against a fake, returning fully read :class:`Result` values."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def request(
        self,
        fake: FakeZuora,
        method: str,
        path: str,
        *,
        token: str | None = None,
        anonymous: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Result:
        sent: dict[str, str] = {}
        if not anonymous:
            sent["Authorization"] = f"Bearer {token or fake.issue_token()}"
        sent.update(headers or {})
        async with self.http.request(
            method, fake.base_url + path, headers=sent, **kwargs
        ) as response:
            raw = await response.read()
            return Result(response.status, response.headers.copy(), raw, decode(response, raw))

    async def run(
        self,
        fake: FakeZuora,
        workflow_id: int | str = 42,
        params: Any = None,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Result:
        sent = dict(headers or {})
        if key is not None:
            sent["Idempotency-Key"] = key
        if params is not None:
            kwargs["json"] = params
        return await self.request(
            fake, "POST", f"/workflows/{workflow_id}/run", headers=sent, **kwargs
        )

    async def get_run(self, fake: FakeZuora, run_id: int | str, **kwargs: Any) -> Result:
        return await self.request(fake, "GET", f"/workflows/workflow_runs/{run_id}", **kwargs)

    async def stop(self, fake: FakeZuora, run_id: int | str, **kwargs: Any) -> Result:
        return await self.request(fake, "PUT", f"/workflows/workflow_runs/{run_id}/stop", **kwargs)

    async def token(
        self, fake: FakeZuora, form: Any, headers: Mapping[str, str] | None = None
    ) -> Result:
        return await self.request(
            fake, "POST", "/oauth/token", anonymous=True, data=form, headers=headers
        )

    def credentials(self, fake: FakeZuora, **overrides: str | None) -> dict[str, str]:
        form: dict[str, str | None] = {
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "grant_type": "client_credentials",
        }
        form.update(overrides)
        return {key: value for key, value in form.items() if value is not None}


def decode(response: aiohttp.ClientResponse, raw: bytes) -> Any:
    if response.headers.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def start_fake(clock: ManualClock) -> AsyncIterator[StartFake]:
    """Start fakes with options (on the test's ManualClock unless told otherwise)."""
    fakes: list[FakeZuora] = []

    async def start(**options: Any) -> FakeZuora:
        options.setdefault("clock", clock)
        fake = await FakeZuora(**options).start()
        fakes.append(fake)
        return fake

    yield start
    for fake in fakes:
        await fake.close()


@pytest.fixture
async def fake(start_fake: StartFake) -> FakeZuora:
    return await start_fake()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
def wire(http: aiohttp.ClientSession) -> Wire:
    return Wire(http)
