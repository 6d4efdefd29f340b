"""Hostile input to public calls: InvalidRequestError naming the field, nothing sent.

Issue 22, item 10: each of these escaped as a built-in exception (ValueError, TypeError,
RecursionError, UnicodeEncodeError, OverflowError), and ``import_workflow`` *sent* NaN
and duplicate keys through a plain ``json.dumps``. Every request body and every path and
query value now goes through one validated encoder, and every constructor option is
checked for its type.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from _hostile import RaisingList, RaisingMapping

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    RetryBudget,
    RetryPolicy,
    WorkflowClient,
    derive_key,
)


def _deep(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


def _cycle() -> dict[str, Any]:
    settings: dict[str, Any] = {"name": "wf"}
    settings["self"] = settings
    return settings


def _export(**workflow: Any) -> dict[str, Any]:
    return {"workflow": {"name": "wf", **workflow}, "tasks": [], "linkages": []}


Call = Callable[[WorkflowClient], Awaitable[object]]


async def _first_task(client: WorkflowClient, **options: Any) -> object:
    async for task in client.iter_tasks(**options):
        return task
    return None


CALLS: list[Any] = [
    pytest.param(lambda c: c.get_run("1" * 5000), "run_id", id="get_run-5000-digits"),
    pytest.param(lambda c: c.get_run(10**5000), "run_id", id="get_run-huge-int"),
    pytest.param(lambda c: c.stop_run("9" * 20), "run_id", id="stop_run-20-digits"),
    pytest.param(
        lambda c: _first_task(c, workflow_run_id="1" * 5000),
        "workflow_run_id",
        id="iter_tasks-5000-digits",
    ),
    pytest.param(
        lambda c: _first_task(c, workflow_id=10**5000), "filters['workflow_id']", id="filter-huge"
    ),
    pytest.param(lambda c: _first_task(c, name="\ud800"), "filters['name']", id="filter-surrogate"),
    pytest.param(lambda c: _first_task(c, page=10**5000), "page", id="page-huge"),
    pytest.param(lambda c: c.get_workflow("1" * 5000), "workflow_id", id="get_workflow-5000"),
    pytest.param(lambda c: c.get_task(10**5000), "task_id", id="get_task-huge-int"),
    pytest.param(
        lambda c: c.export_workflow(396, version=10**5000), "version", id="export-huge-version"
    ),
    pytest.param(
        lambda c: c.update_workflow(396, name="\ud800"), "name", id="update-name-surrogate"
    ),
    pytest.param(
        lambda c: c.update_workflow(396, description="\udfff"),
        "description",
        id="update-description-surrogate",
    ),
    pytest.param(
        lambda c: c.import_workflow({"workflow": {"name": "wf"}, "tasks": [_deep(10_000)]}),
        "export['tasks'][0]",
        id="import-10000-deep",
    ),
    pytest.param(
        lambda c: c.import_workflow({"workflow": _cycle()}), "export['workflow']", id="import-cycle"
    ),
    pytest.param(
        lambda c: c.import_workflow(_export(description="\ud800")),
        "export['workflow']['description']",
        id="import-lone-surrogate",
    ),
    pytest.param(
        lambda c: c.import_workflow(_export(start=date(2026, 11, 1))),
        "export['workflow']['start']",
        id="import-date",
    ),
    pytest.param(
        lambda c: c.import_workflow(_export(ratio=math.nan)),
        "export['workflow']['ratio']",
        id="import-NaN",
    ),
    pytest.param(
        lambda c: c.import_workflow({"workflow": {"name": "wf", 1: "a", "1": "b"}}),
        "export['workflow']",
        id="import-duplicate-keys",
    ),
    pytest.param(
        lambda c: c.import_workflow({"workflow": {"name": "wf"}, "tasks": [{"n": 10**5000}]}),
        "export['tasks'][0]['n']",
        id="import-integer-past-the-digit-limit",
    ),
    pytest.param(
        lambda c: c.import_workflow_version(396, _export(x=math.inf), version="0.0.2"),
        "export['workflow']['x']",
        id="import-version-infinity",
    ),
    pytest.param(
        lambda c: c.import_workflow({"workflow": RaisingMapping()}),
        "export['workflow']",
        id="import-raising-mapping",
    ),
    pytest.param(
        lambda c: c.import_workflow(RaisingMapping()), "export", id="import-raising-export"
    ),
    pytest.param(
        lambda c: c.run_workflow(396, RaisingMapping()), "params", id="run-raising-mapping"
    ),
    pytest.param(
        lambda c: c.run_workflow(396, {"rows": RaisingList([1])}),
        "params['rows']",
        id="run-raising-list",
    ),
    pytest.param(
        lambda c: c.run_workflow(396, {"rows": [RaisingMapping()] * 200}),
        "params['rows'][0]",
        id="run-raising-mapping-in-a-large-body",
    ),
    pytest.param(
        lambda c: c.update_tasks([RaisingMapping()]), "updates[0]", id="update_tasks-raising"
    ),
    pytest.param(lambda c: c.update_tasks(RaisingList([1])), "updates", id="updates-raising"),
    pytest.param(lambda c: c.update_tasks(5), "updates", id="updates-an-int"),
    pytest.param(
        lambda c: c.update_tasks([{"id": 1, "name": "\ud800"}]),
        "updates[0].name",
        id="update_tasks-surrogate",
    ),
    pytest.param(
        lambda c: c.update_tasks([{"id": 1, "tags": RaisingList(["a"])}]),
        "updates[0].tags",
        id="update_tasks-raising-tags",
    ),
]


@pytest.mark.parametrize(("call", "field"), CALLS)
async def test_a_hostile_argument_is_refused_naming_it_before_anything_is_sent(
    fake, zuora, call, field
):
    with pytest.raises(InvalidRequestError) as caught:
        await call(zuora)
    assert caught.value.field == field or caught.value.field.startswith(field)
    assert caught.value.fix
    assert fake.requests == []  # not even a token request


OPTIONS: list[Any] = [
    pytest.param({"entity_ids": 5}, "entity_ids", id="entity_ids-an-int"),
    pytest.param({"org_ids": RaisingList(["a"])}, "org_ids", id="org_ids-raising"),
    pytest.param({"max_response_bytes": math.inf}, "max_response_bytes", id="bytes-infinite"),
    pytest.param({"max_response_bytes": 1.5}, "max_response_bytes", id="bytes-fraction"),
    pytest.param({"timeout": math.inf}, "timeout", id="timeout-infinite"),
    pytest.param({"max_rate": math.nan}, "max_rate", id="max_rate-NaN"),
    pytest.param({"retry_budget": 5}, "retry_budget", id="retry_budget-an-int"),
    pytest.param({"on_retry": "log"}, "on_retry", id="hook-not-callable"),
    pytest.param({"clock": 0}, "clock", id="clock-not-callable"),
    pytest.param({"rng": 42}, "rng", id="rng-a-seed"),
    pytest.param({"ssl_context": "verify"}, "ssl_context", id="ssl_context-text"),
    pytest.param({"trace_configs": 5}, "trace_configs", id="trace_configs-an-int"),
    pytest.param({"auto_track_id": "yes"}, "auto_track_id", id="auto_track_id-text"),
    # repr() of an int past Python's digit limit raises ValueError: named by its type.
    pytest.param(
        {"propagate_trace_context": 10**5000},
        "propagate_trace_context",
        id="propagate_trace_context-a-huge-int",
    ),
]


@pytest.mark.parametrize(("options", "field"), OPTIONS)
def test_a_constructor_option_of_the_wrong_type_is_refused_naming_it(options, field):
    with pytest.raises(InvalidRequestError) as caught:
        WorkflowClient("https://rest.test.zuora.com", auth=BearerToken("tok-9f8e7d6c"), **options)
    assert caught.value.field == field
    assert caught.value.fix


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(lambda: RetryBudget(capacity="10"), "RetryBudget", id="budget-text"),
        pytest.param(lambda: RetryBudget(capacity=math.inf), "RetryBudget", id="budget-inf"),
        pytest.param(lambda: RetryBudget(refill=math.nan), "RetryBudget", id="budget-NaN"),
        pytest.param(
            lambda: RetryPolicy(base_delay=math.inf), "RetryPolicy.base_delay", id="policy-inf"
        ),
        pytest.param(
            lambda: RetryPolicy(max_attempts=-(10**5000)),
            "RetryPolicy.max_attempts",
            id="policy-huge-negative",
        ),
        pytest.param(derive_key, "parts", id="derive_key-nothing"),
        pytest.param(lambda: derive_key("\ud800"), "parts[0]", id="derive_key-surrogate"),
        pytest.param(
            lambda: WorkflowClient.from_env({"ZUORA_BASE_URL": 5}), "ZUORA_BASE_URL", id="env-int"
        ),
        pytest.param(lambda: WorkflowClient.from_env(5), "environ", id="environ-an-int"),
        pytest.param(
            lambda: WorkflowClient.from_env({}, base_url="https://x", tiemout=3),
            "tiemout",
            id="from_env-misspelt-option",
        ),
    ],
)
def test_other_constructors_refuse_hostile_values_naming_them(build, field):
    with pytest.raises(InvalidRequestError) as caught:
        build()
    assert caught.value.field == field
