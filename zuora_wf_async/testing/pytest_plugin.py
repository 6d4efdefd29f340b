"""pytest plugin: a ``fake_zuora`` fixture yielding a started :class:`FakeZuora`.

Registered as the ``zuora_wf_async`` ``pytest11`` entry point, so it loads in every pytest
session of a project that installs this package. The async fixture needs pytest-asyncio;
without it the plugin defines nothing rather than breaking the session. Override the
``fake_zuora_options`` fixture (a dict of :class:`FakeZuora` keyword arguments) to configure
the fake per test module or per test.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ._server import FakeZuora

__all__ = ["fake_zuora_options"]


@pytest.fixture
def fake_zuora_options() -> dict[str, Any]:
    """Keyword arguments for the ``fake_zuora`` fixture's :class:`FakeZuora`; none by default."""
    return {}


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def fake_zuora(fake_zuora_options: dict[str, Any]) -> AsyncIterator[FakeZuora]:
        """A started :class:`FakeZuora` on a free loopback port, closed after the test."""
        async with FakeZuora(**fake_zuora_options) as fake:
            yield fake

    __all__ += ["fake_zuora"]
