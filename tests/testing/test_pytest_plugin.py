"""The pytest plugin: a started fake per test, configurable, and harmless without asyncio."""

import importlib.util
from pathlib import Path

import pytest

import zuora_wf_async.testing
from zuora_wf_async.testing import FakeZuora, ManualClock

PLUGIN = Path(zuora_wf_async.testing.__file__).with_name("pytest_plugin.py")


@pytest.fixture
def fake_zuora_options():
    """Overrides the plugin's empty default for this module."""
    return {"clock": ManualClock(), "token_ttl": 5.0}


async def test_fixture_yields_a_started_configured_fake(fake_zuora, wire):
    assert isinstance(fake_zuora, FakeZuora)
    assert fake_zuora.base_url.startswith("http://127.0.0.1:")
    result = await wire.token(fake_zuora, wire.credentials(fake_zuora))
    assert result.body["expires_in"] == 5


def load_plugin_copy(name):
    spec = importlib.util.spec_from_file_location(f"zuora_wf_async.testing.{name}", PLUGIN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_pytest_asyncio_only_the_options_fixture_exists(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "pytest_asyncio" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    module = load_plugin_copy("_plugin_without_asyncio")
    assert not hasattr(module, "fake_zuora")
    assert module.__all__ == ["fake_zuora_options"]


def test_with_pytest_asyncio_the_fixture_exists():
    module = load_plugin_copy("_plugin_with_asyncio")
    assert module.__all__ == ["fake_zuora_options", "fake_zuora"]
