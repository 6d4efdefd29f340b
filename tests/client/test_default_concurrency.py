"""Zuora's limits as the defaults (issue 24): without shared limits a process may use the
tenant's documented 40 in flight (``tenant_concurrency``, ``ZUORA_TENANT_CONCURRENCY``)."""

from __future__ import annotations

import asyncio

import pytest

from zuora_wf_async import BearerToken, InvalidRequestError, WorkflowClient
from zuora_wf_async.testing import FakeZuora, TenantLimits

URL = "https://rest.test.zuora.com"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 40),  # Zuora documents 40 in flight for every tenant
        ({"tenant_concurrency": 200}, 200),  # a high-volume tenant
        ({"tenant_concurrency": 200, "max_concurrency": 16}, 16),  # an explicit cap wins
        ({"max_concurrency": 64}, 64),
    ],
)
async def test_max_concurrency_defaults_to_the_tenant_s_limit(options, expected):
    async with WorkflowClient(URL, auth=BearerToken("t"), **options) as zuora:
        assert zuora.max_concurrency == expected
        assert zuora.effective_concurrency == expected


async def test_the_environment_s_tenant_concurrency_is_the_default_ceiling():
    environ = {
        "ZUORA_BASE_URL": URL,
        "ZUORA_BEARER_TOKEN": "t",
        "ZUORA_TENANT_CONCURRENCY": "25",
    }
    async with WorkflowClient.from_env(environ) as zuora:
        assert (zuora.max_concurrency, zuora.tenant_concurrency) == (25, 25)


@pytest.mark.parametrize("bad", ["40", 0, True])
def test_a_bad_tenant_concurrency_is_named_as_such_when_it_is_the_default_ceiling(bad):
    with pytest.raises(InvalidRequestError, match="tenant_concurrency"):
        WorkflowClient(URL, auth=BearerToken("t"), tenant_concurrency=bad)


async def test_by_default_one_process_fills_the_tenant_and_never_passes_it():
    """120 runs at once against a tenant of 40 (50 ms each): the client sends 40 at once,
    as Zuora allows, and the tenant refuses none."""
    async with (
        FakeZuora(latency=0.05, limits=TenantLimits(concurrency=40)) as fake,
        WorkflowClient(fake.base_url, auth=BearerToken(fake.issue_token())) as zuora,
    ):
        await asyncio.gather(*(zuora.run_workflow(396, {"n": n}) for n in range(120)))
        stats = zuora.stats

    assert stats.peak_in_flight == 40
    assert fake.peak_tenant_in_flight <= 40
    assert [r.status for r in fake.requests_to("run") if r.status == 429] == []
    assert len(fake.executions) == 120
