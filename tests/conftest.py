"""Shared fixtures: a FakeZuora on loopback and clients pointed at it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from zuora_wf_async import OAuthCredentials, WorkflowClient
from zuora_wf_async.testing import FakeZuora, ManualClock


@pytest.fixture
async def fake() -> AsyncIterator[FakeZuora]:
    async with FakeZuora() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    """The clients' clock: it moves only when the client sleeps, so backoff costs no time."""
    return ManualClock()


@pytest.fixture
def make_client(fake: FakeZuora, clock: ManualClock) -> Callable[..., WorkflowClient]:
    """Build a client for ``fake`` with OAuth credentials; options override the defaults.

    Waits go through the manual clock and jitter through a seeded source, so a test that
    retries for a simulated minute takes milliseconds and always waits the same.
    """

    def build(**options: Any) -> WorkflowClient:
        options.setdefault(
            "auth", OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        )
        options.setdefault("clock", clock)
        options.setdefault("sleep", clock.sleep)
        options.setdefault("rng", random.Random(0))
        return WorkflowClient(fake.base_url, **options)

    return build


@pytest.fixture
async def zuora(make_client: Callable[..., WorkflowClient]) -> AsyncIterator[WorkflowClient]:
    async with make_client() as client:
        yield client
