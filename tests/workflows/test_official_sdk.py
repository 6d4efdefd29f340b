"""The official ``zuora-sdk`` runs each of its 16 Workflow operations against FakeZuora.

The SDK is synchronous (urllib3), so each call runs in a worker thread while FakeZuora
serves on the test's event loop. The SDK validates every answer against its pydantic
models, generated from Zuora's schema: a body in the wrong shape (an integer where the
schema says string, say) fails the call, which is what makes this a test of the fake.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import importlib.util
import re
import sys
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from zuora_wf_async.testing import FakeZuora, WorkflowConfig


def _lazy_package(name: str) -> None:
    """Install package ``name`` so that its ``__init__`` imports nothing until asked.

    The SDK's ``__init__`` modules import all 1,739 models and 87 APIs: 15 s of CPU, up to
    a minute on a busy machine, for the 20 models these tests use. The stand-in resolves
    each name on first use from the same ``from X import Y`` lines, so the SDK code that
    runs is unchanged; only *when* its modules load differs.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    assert spec is not None
    assert spec.origin is not None
    assert spec.submodule_search_locations
    source = Path(spec.origin).read_text()
    where = {
        symbol: module
        for module, symbol in re.findall(r"^from ([\w.]+) import (\w+)$", source, re.M)
    }
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec

    def __getattr__(symbol: str) -> Any:  # noqa: N807  # PEP 562 module __getattr__
        if symbol in where:
            return getattr(importlib.import_module(where[symbol]), symbol)
        try:  # a submodule, such as zuora_sdk.models
            return importlib.import_module(f"{name}.{symbol}")
        except ModuleNotFoundError:
            raise AttributeError(symbol) from None

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = package


for _name in ("zuora_sdk", "zuora_sdk.api", "zuora_sdk.models"):
    _lazy_package(_name)

from zuora_sdk import ApiClient, Configuration  # noqa: E402  # after the lazy packages
from zuora_sdk.api.workflows_api import WorkflowsApi  # noqa: E402
from zuora_sdk.models.patch_update_workflow_request import PATCHUpdateWorkflowRequest  # noqa: E402
from zuora_sdk.models.post_workflow_definition_import_request import (  # noqa: E402
    PostWorkflowDefinitionImportRequest,
)
from zuora_sdk.models.post_workflow_versions_import_request import (  # noqa: E402
    PostWorkflowVersionsImportRequest,
)
from zuora_sdk.models.put_tasks_request import PutTasksRequest  # noqa: E402

T = TypeVar("T")

# The SDK calls pydantic's deprecated ``construct``; that is its business, not a failure here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXPORT: dict[str, Any] = {
    "workflow": {"name": "Call Echo", "type": "Workflow::Setup", "version": "0.0.1"},
    "tasks": [{"id": 849, "name": "Call Echo", "action_type": "Callout", "call_type": "REST"}],
    "linkages": [
        {
            "linkage_type": "Start",
            "source_workflow_id": 1,
            "source_task_id": None,
            "target_task_id": 849,
        }
    ],
}


@pytest.fixture
async def sdk() -> AsyncIterator[tuple[FakeZuora, WorkflowsApi]]:
    async with FakeZuora() as fake:
        client = ApiClient(
            Configuration(host=fake.base_url),
            header_name="Authorization",
            header_value=f"Bearer {fake.issue_token()}",
        )
        with client:
            yield fake, WorkflowsApi(client)


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(function, *args, **kwargs)


async def test_the_official_sdk_runs_all_16_operations(sdk: tuple[FakeZuora, WorkflowsApi]) -> None:
    fake, api = sdk
    fake.configure_workflow(
        42, WorkflowConfig(task_count=2, failed_tasks=1, task_tags=("billing",))
    )

    run = await call(
        api.post_run_workflow, 42, idempotency_key="sdk-run-1", inputparameters={"a": 1}
    )
    assert (run.original_workflow_id, run.status) == (42, "Queued")
    detail = await call(api.get_workflow_run, str(run.id))
    assert detail.original_workflow_id == "42"  # typed string in the schema
    assert detail.tasks is not None
    assert detail.tasks.error == 1

    tasks = await call(api.get_workflows_tasks, workflow_id=str(run.id), tags=["billing", "x"])
    assert tasks.data is not None
    assert len(tasks.data) == 2
    failed = next(task for task in tasks.data if task.status == "Error")
    one = await call(api.get_workflows_task, str(failed.id))
    assert one.id == failed.id
    rerun = await call(api.post_workflows_task_rerun, str(failed.id), idempotency_key="sdk-rerun-1")
    assert rerun.status == "Success"
    updated = await call(
        api.put_workflows_tasks_update,
        update_request=PutTasksRequest.from_dict({"data": [{"id": failed.id, "name": "Renamed"}]}),
    )
    assert updated.data is not None
    assert updated.data[0].name == "Renamed"
    usage = await call(
        api.get_workflows_usages, dt.date(2000, 1, 1), dt.date(2100, 1, 1), "taskCount"
    )
    assert usage.metrics is not None
    assert sum(day.values.task_count for day in usage.metrics if day.values) == 3

    imported = await call(
        api.post_workflow_import,
        idempotency_key="sdk-import-1",
        activate=True,
        request=PostWorkflowDefinitionImportRequest.from_dict(EXPORT),
    )
    assert (imported.name, imported.version) == ("Call Echo", "0.0.1")
    workflow_id = imported.id
    assert workflow_id is not None
    listed = await call(api.get_workflows, page_length=50, callout_trigger=True)
    assert listed.data is not None
    assert workflow_id in [w.id for w in listed.data]
    definition = await call(api.get_workflow, str(workflow_id))
    assert definition.status == "Active"
    exported = await call(api.get_workflow_export, workflow_id, version="latest")
    assert exported.tasks is not None
    assert exported.tasks[0].name == "Call Echo"
    with_version = await call(
        api.post_workflow_versions_import,
        workflow_id,
        "0.0.2",
        idempotency_key="sdk-import-2",
        activate=False,
        request=PostWorkflowVersionsImportRequest.from_dict(EXPORT),
    )
    assert with_version.active_version is not None
    versions = await call(api.get_workflow_versions, workflow_id)
    assert versions.data is not None
    assert [v.version for v in versions.data] == ["0.0.1", "0.0.2"]
    second = next(v.id for v in versions.data if v.version == "0.0.2")
    patched = await call(
        api.p_atch_update_workflow,
        str(workflow_id),
        idempotency_key="sdk-patch-1",
        request=PATCHUpdateWorkflowRequest.from_dict({"active_workflow_version_id": second}),
    )
    assert patched.active_version is not None
    assert patched.active_version.id == second
    deleted_version = await call(api.delete_workflow_version, workflow_id)  # no longer active
    assert deleted_version.success is True
    assert deleted_version.id == str(workflow_id)
    deleted = await call(api.delete_workflow, str(workflow_id))
    assert (deleted.id, deleted.success) == (str(workflow_id), True)
    # 16 operations, each answered 200 (the 17th, stop, is not in the SDK).
    assert len({r.endpoint for r in fake.requests if r.status == 200}) == 16
