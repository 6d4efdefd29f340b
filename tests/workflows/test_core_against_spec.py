"""Every request the client builds, checked against Zuora's official document, and every
official 200 example read by our readers. Pure: no server, no event loop."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from zuora_wf_async._core import definition_requests, task_requests, version_requests
from zuora_wf_async._core import workflow_readers as readers
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._errors import InvalidRequestError, ResponseDecodeError
from zuora_wf_async._models import Task, TaskStatus
from zuora_wf_async._workflow_models import (
    TaskUpdate,
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
)

BASE = "https://rest.test.zuora.com"
HEADERS: dict[str, Any] = {"track_id": "trace-1", "entity_ids": "e-1", "org_ids": "o-1,o-2"}
EXPORT = {
    "workflow": {"name": "Call Echo", "version": "0.0.1", "callout_trigger": True},
    "tasks": [{"id": 849, "name": "Call Echo", "action_type": "Callout"}],
    "linkages": [
        {
            "linkage_type": "Start",
            "source_task_id": None,
            "source_workflow_id": 286,
            "target_task_id": 849,
        }
    ],
}

BUILDERS: dict[str, Callable[[], PreparedRequest]] = {
    "list_workflows": lambda: definition_requests.prepare_list_workflows(
        base_url=BASE,
        filters={
            "name": "Nightly",
            "callout_trigger": True,
            "ondemand_trigger": False,
            "scheduled_trigger": True,
            "interval": "0 0 * * *",
        },
        **HEADERS,
    ),
    "get_workflow": lambda: definition_requests.prepare_get_workflow(
        base_url=BASE, workflow_id=48, **HEADERS
    ),
    "update_workflow": lambda: definition_requests.prepare_update_workflow(
        base_url=BASE,
        workflow_id="48",
        idempotency_key="k-1",
        name="N",
        status=WorkflowStatus.INACTIVE,
        active_version_id=49,
        **HEADERS,
    ),
    "delete_workflow": lambda: definition_requests.prepare_delete_workflow(
        base_url=BASE, workflow_id=48, **HEADERS
    ),
    "get_task": lambda: task_requests.prepare_get_task(base_url=BASE, task_id=2771, **HEADERS),
    "rerun_task": lambda: task_requests.prepare_rerun_task(
        base_url=BASE, task_id=2771, idempotency_key="k-2", **HEADERS
    ),
    "update_tasks": lambda: task_requests.prepare_update_tasks(
        base_url=BASE,
        entries=task_requests.chunk_task_updates(
            [
                TaskUpdate(id=2771, status=TaskStatus.SUCCESS, tags=["a"], concurrent_limit=5),
                {"id": "2772", "name": "If", "workflow_id": 476},
            ]
        )[0],
        **HEADERS,
    ),
    "task_usage": lambda: task_requests.prepare_task_usage(
        base_url=BASE, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31), **HEADERS
    ),
    "export": lambda: version_requests.prepare_export(
        base_url=BASE, workflow_id=286, version="0.0.1", **HEADERS
    ),
    "import": lambda: version_requests.prepare_import(
        base_url=BASE,
        export=EXPORT,
        idempotency_key="k-3",
        workflow_id=286,
        version="0.0.2",
        activate=True,
        **HEADERS,
    ),
    "list_versions": lambda: version_requests.prepare_list_versions(
        base_url=BASE, workflow_id=48, **HEADERS
    ),
    "import_version": lambda: version_requests.prepare_import_version(
        base_url=BASE,
        workflow_id=48,
        export=WorkflowExport(
            workflow=EXPORT["workflow"],
            tasks=tuple(EXPORT["tasks"]),
            linkages=tuple(EXPORT["linkages"]),
        ),
        version="0.0.3",
        activate=False,
        idempotency_key="k-4",
        **HEADERS,
    ),
    "delete_version": lambda: version_requests.prepare_delete_version(
        base_url=BASE, version_id=113, **HEADERS
    ),
}

EXPECTED_ROUTE = {
    "list_workflows": ("GET", "/workflows"),
    "get_workflow": ("GET", "/workflows/{workflow_id}"),
    "update_workflow": ("PATCH", "/workflows/{workflow_id}"),
    "delete_workflow": ("DELETE", "/workflows/{workflow_id}"),
    "get_task": ("GET", "/workflows/tasks/{task_id}"),
    "rerun_task": ("POST", "/workflows/tasks/{task_id}/rerun"),
    "update_tasks": ("PUT", "/workflows/tasks/batch_update"),
    "task_usage": ("GET", "/workflows/metrics.json"),
    "export": ("GET", "/workflows/{workflow_id}/export"),
    "import": ("POST", "/workflows/import"),
    "list_versions": ("GET", "/workflows/{workflow_id}/versions"),
    "import_version": ("POST", "/workflows/{workflow_id}/versions/import"),
    "delete_version": ("DELETE", "/workflows/versions/{version_id}"),
}


def _body(request: PreparedRequest) -> Any:
    return None if request.body is None else json.loads(request.body)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_request_fits_the_official_document(name: str, spec: Any) -> None:
    request = BUILDERS[name]()
    template, operation, _ = spec.operation_for(request.method, request.path)
    assert (request.method, template) == EXPECTED_ROUTE[name]
    assert (
        spec.request_problems(request.method, request.url, dict(request.headers), _body(request))
        == []
    )
    declared = {p.get("name") for p in map(spec.resolve, operation.get("parameters", []))}
    # A POST or PATCH that takes a key always carries one, on the request and the header.
    if "Idempotency-Key" in declared:
        assert request.idempotency_key
        assert request.headers["Idempotency-Key"] == request.idempotency_key
    else:
        assert request.idempotency_key is None
        assert "Idempotency-Key" not in request.headers
    assert request.headers["Zuora-Entity-Ids"] == "e-1"
    assert request.url.startswith(BASE + request.path)


def test_the_checker_itself_catches_a_bad_request(spec: Any) -> None:
    """The table above proves something only if the checker can fail."""
    problems = spec.request_problems(
        "PUT",
        f"{BASE}/workflows/tasks/batch_update?page=x",
        {"Idempotency-Key": "k"},
        {"data": [{"name": "no id", "concurrent_limit": 0}]},
    )
    assert any("page" in p for p in problems)
    assert any("Idempotency-Key" in p for p in problems)
    assert any("required" in p for p in problems)
    assert any("below" in p for p in problems)


def test_update_tasks_is_split_into_requests_of_fifty() -> None:
    chunks = task_requests.chunk_task_updates([{"id": n} for n in range(1, 121)])
    assert [len(chunk) for chunk in chunks] == [50, 50, 20]
    assert chunks[2][-1] == {"id": 120}


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda: definition_requests.prepare_get_workflow(base_url=BASE, workflow_id="abc"),
            "workflow_id",
        ),
        (
            lambda: definition_requests.prepare_get_workflow(base_url=BASE, workflow_id=True),
            "workflow_id",
        ),
        (lambda: task_requests.prepare_get_task(base_url=BASE, task_id=0), "task_id"),
        (
            lambda: version_requests.prepare_delete_version(base_url=BASE, version_id=-1),
            "version_id",
        ),
        (
            lambda: definition_requests.prepare_list_workflows(
                base_url=BASE, filters={"status": "x"}
            ),
            "status",
        ),
        (
            lambda: definition_requests.prepare_list_workflows(
                base_url=BASE, filters={"callout_trigger": "yes"}
            ),
            "callout_trigger",
        ),
        (
            lambda: definition_requests.prepare_list_workflows(base_url=BASE, page_length=51),
            "page_length",
        ),
        (
            lambda: definition_requests.prepare_update_workflow(
                base_url=BASE, workflow_id=1, idempotency_key="k"
            ),
            "update_workflow",
        ),
        (
            lambda: definition_requests.prepare_update_workflow(
                base_url=BASE, workflow_id=1, idempotency_key="k", status="on"
            ),
            "status",
        ),
        (
            lambda: definition_requests.prepare_update_workflow(
                base_url=BASE, workflow_id=1, idempotency_key="k" * 256, name="n"
            ),
            "idempotency_key",
        ),
        (lambda: task_requests.chunk_task_updates([]), "updates"),
        (
            lambda: task_requests.chunk_task_updates([{"id": 1, "statuz": "Error"}]),
            "updates[0]['statuz']",
        ),
        (
            lambda: task_requests.chunk_task_updates([{"id": 1, "status": "Done"}]),
            "updates[0].status",
        ),
        (
            lambda: task_requests.chunk_task_updates([TaskUpdate(id=1, concurrent_limit=0)]),
            "updates[0].concurrent_limit",
        ),
        (
            lambda: task_requests.prepare_task_usage(
                base_url=BASE, start="2026-01-01", end=dt.date(2026, 1, 2)
            ),
            "start",
        ),
        (
            lambda: task_requests.prepare_task_usage(
                base_url=BASE, start=dt.date(2026, 2, 1), end=dt.date(2026, 1, 2)
            ),
            "end",
        ),
        (
            lambda: version_requests.prepare_export(base_url=BASE, workflow_id=1, version=""),
            "version",
        ),
        (
            lambda: version_requests.prepare_import(
                base_url=BASE, export={"tasks": []}, idempotency_key="k"
            ),
            "export['workflow']",
        ),
        (
            lambda: definition_requests.prepare_get_workflow(
                base_url=BASE, workflow_id=1, entity_ids="a,b"
            ),
            "entity_ids",
        ),
    ],
)
def test_bad_input_is_refused_before_sending(build: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build()
    assert caught.value.field == field


def _raw(body: Any, status: int = 200, *, gzipped: bool = False) -> RawResponse:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        data, headers["Content-Encoding"] = gzip.compress(data), "gzip"
    return RawResponse(status=status, headers=headers, body=data)


READERS: dict[tuple[str, str], Callable[[RawResponse], Any]] = {
    ("GET", "/workflows"): readers.read_workflow_page,
    ("GET", "/workflows/{workflow_id}"): readers.read_workflow,
    ("PATCH", "/workflows/{workflow_id}"): readers.read_workflow,
    ("DELETE", "/workflows/{workflow_id}"): readers.read_deleted,
    ("GET", "/workflows/tasks/{task_id}"): readers.read_task,
    ("POST", "/workflows/tasks/{task_id}/rerun"): readers.read_task,
    ("PUT", "/workflows/tasks/batch_update"): readers.read_tasks,
    ("GET", "/workflows/metrics.json"): readers.read_usage,
    ("GET", "/workflows/{workflow_id}/export"): readers.read_export,
    ("POST", "/workflows/import"): readers.read_workflow,
    ("GET", "/workflows/{workflow_id}/versions"): readers.read_versions,
    ("POST", "/workflows/{workflow_id}/versions/import"): readers.read_workflow,
    ("DELETE", "/workflows/versions/{version_id}"): readers.read_deleted,
}


@pytest.mark.parametrize(("method", "template"), sorted(READERS))
def test_every_official_200_example_is_read(method: str, template: str, spec: Any) -> None:
    example = spec.example_200(method, template)
    value = READERS[(method, template)](_raw(example, gzipped=True))
    assert value is not None
    assert READERS[(method, template)](_raw(example)) == value


def test_official_examples_read_into_the_right_values(spec: Any) -> None:
    page = readers.read_workflow_page(_raw(spec.example_200("GET", "/workflows")))
    first = page.items[0]
    assert (first.id, first.status, first.callout_trigger) == (48, WorkflowStatus.ACTIVE, True)
    assert first.active_version is not None
    assert first.active_version.id == 49
    assert [v.version for v in first.latest_inactive_versions] == ["0.0.2", "0.0.3"]
    assert page.next_page == "https://rest.zuora.com/workflows?page=2&page_length=1"
    patched = readers.read_workflow(_raw(spec.example_200("PATCH", "/workflows/{workflow_id}")))
    assert patched.created_at == dt.datetime(2021, 2, 4, 5, 39, 10, 530000, tzinfo=dt.UTC)
    usage = readers.read_usage(_raw(spec.example_200("GET", "/workflows/metrics.json")))
    assert usage[0] == TaskUsage(date=dt.date(2019, 1, 16), task_count=1417)
    assert [day.date.month for day in usage] == [1, 5, 8]  # sorted, the example is not
    task = readers.read_task(_raw(spec.example_200("GET", "/workflows/tasks/{task_id}")))
    assert isinstance(task, Task)
    assert (task.id, task.workflow_id, task.status) == (
        2771,
        476,
        "Success",
    )
    export = readers.read_export(_raw(spec.example_200("GET", "/workflows/{workflow_id}/export")))
    assert export.name == "Call Echo"
    assert export.tasks[0]["id"] == 849
    # An export goes back in unchanged, but for null workflow settings, which the import
    # schema does not allow and which mean "not set" anyway.
    example = spec.example_200("GET", "/workflows/{workflow_id}/export")
    body = version_requests.export_document(export)
    assert body["tasks"] == example["tasks"]
    assert body["linkages"] == example["linkages"]
    assert body["workflow"] == {k: v for k, v in example["workflow"].items() if v is not None}
    assert "finished_at" in example["workflow"]
    assert "finished_at" not in body["workflow"]
    path = "/workflows/286/versions/import?version=0.0.2"
    assert spec.request_problems("POST", BASE + path, {}, body) == []
    versions = readers.read_versions(
        _raw(spec.example_200("GET", "/workflows/{workflow_id}/versions"))
    )
    assert [(v.id, v.version) for v in versions] == [(48, "0.0.1"), (49, "0.0.2")]
    assert readers.read_deleted(
        _raw(spec.example_200("DELETE", "/workflows/versions/{version_id}"))
    ) == WorkflowDeletion(id=113, success=True)
    assert readers.read_deleted(
        _raw(spec.example_200("DELETE", "/workflows/{workflow_id}"))
    ) == WorkflowDeletion(id=19080, success=True)


# Where the official document contradicts itself: (what, the schema's pointer, the
# example's pointer). The test proves each still exists in the document, and that our
# readers take both readings.
DISAGREEMENTS = [
    (
        "DeleteWorkflowSuccess.id is a string; the example sends 19080",
        "components/schemas/DeleteWorkflowSuccess/properties/id/type",
        "string",
        ("DELETE", "/workflows/{workflow_id}", "200", "id"),
        19080,
    ),
    (
        "DeleteWorkflowError says `Errors`; the examples say `errors`",
        "components/schemas/DeleteWorkflowError/properties/Errors/type",
        "array",
        ("DELETE", "/workflows/versions/{version_id}", "403", "errors"),
        None,
    ),
    (
        "BadRequestResponse says `Errors` with a string status; the example `errors`, 400",
        "components/schemas/BadRequestResponse/properties/Errors/items/properties/status/type",
        "string",
        ("PUT", "/workflows/tasks/batch_update", "400", "errors"),
        None,
    ),
    (
        "GetWorkflowResponse.originalWorkflowId is a string; the example sends 19027",
        "components/schemas/GetWorkflowResponse/properties/originalWorkflowId/type",
        "string",
        ("GET", "/workflows/workflow_runs/{workflow_run_id}", "200", "originalWorkflowId"),
        19027,
    ),
    (
        "DetailedWorkflow.status is an integer; the import example sends 'Active'",
        "components/schemas/DetailedWorkflow/properties/status/type",
        "integer",
        ("POST", "/workflows/{workflow_id}/versions/import", "request", "workflow.status"),
        "Active",
    ),
    (
        "Linkage.linkage_type has no 'Finish'; the import example uses it",
        "components/schemas/Linkage/properties/linkage_type/enum",
        None,
        ("POST", "/workflows/{workflow_id}/versions/import", "request", "linkages.0.linkage_type"),
        "Finish",
    ),
    (
        "the export 404 example says errors[].status 400",
        None,
        None,
        ("GET", "/workflows/{workflow_id}/export", "404", "errors.0.status"),
        400,
    ),
    (
        "the export example's workflow has nulls; DetailedWorkflow (the import body) allows none",
        "components/schemas/DetailedWorkflow/properties/finished_at/type",
        "string",
        ("GET", "/workflows/{workflow_id}/export", "200", "workflow.finished_at"),
        None,  # null in the example: export_document leaves such settings out
    ),
]


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.split("/"):
        node = node[part]
    return node


def _example(document: Any, method: str, template: str, status: str) -> Any:
    operation = document["paths"][template][method.lower()]
    if status == "request":
        return operation["requestBody"]["content"]["application/json"]["schema"]["example"]
    content = operation["responses"][status]["content"]["application/json"]
    return content["examples"]["response"]["value"] if "examples" in content else content["example"]


@pytest.mark.parametrize("row", DISAGREEMENTS, ids=[row[0] for row in DISAGREEMENTS])
def test_each_listed_disagreement_is_in_the_document(row: tuple[Any, ...], spec: Any) -> None:
    _, pointer, schema_says, (method, template, status, field), example_says = row
    if pointer is not None:
        value = _pointer(spec.document, pointer)
        if schema_says is None:
            assert example_says not in value
        else:
            assert value == schema_says
    node = _example(spec.document, method, template, status)
    for part in field.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    if example_says is not None:
        assert node == example_says


@pytest.mark.parametrize("deleted_id", [19080, "19080"])
def test_delete_reader_takes_string_or_integer_id(deleted_id: object) -> None:
    assert readers.read_deleted(_raw({"id": deleted_id, "success": True})) == WorkflowDeletion(
        id=19080, success=True
    )


def test_a_delete_without_a_body_or_id_stands_for_the_id_requested() -> None:
    empty = RawResponse(status=200, headers={}, body=b"")
    assert readers.read_deleted(empty, deleted_id=7) == WorkflowDeletion(id=7, success=True)
    assert readers.read_deleted(_raw({"success": True}), deleted_id=7).id == 7
    with pytest.raises(ResponseDecodeError, match="id"):
        readers.read_deleted(_raw({"success": True}))


@pytest.mark.parametrize(
    ("version", "query"),
    [(None, ""), ("latest", "?version=latest"), ("0.0.2", "?version=0.0.2")],
)
def test_export_sends_a_version_only_when_asked(version: str | None, query: str, spec) -> None:
    """No version: Zuora exports the active one (the document's default), not the latest."""
    request = version_requests.prepare_export(base_url=BASE, workflow_id=286, version=version)
    assert request.url == f"{BASE}/workflows/286/export{query}"
    assert spec.request_problems("GET", request.url, dict(request.headers), None) == []


_FAILED_AT = dt.datetime(2019, 9, 19, 12, 35, 43, 942000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("failed_at", "attempt", "key"),
    [
        (_FAILED_AT, None, "zuora-wf-rerun-task-2771-failed-20190919T123543.942000Z"),
        (
            _FAILED_AT.astimezone(dt.timezone(dt.timedelta(hours=2))),
            None,
            "zuora-wf-rerun-task-2771-failed-20190919T123543.942000Z",
        ),
        (
            _FAILED_AT + dt.timedelta(milliseconds=1),
            None,
            "zuora-wf-rerun-task-2771-failed-20190919T123543.943000Z",
        ),
        (_FAILED_AT, "night-1", "zuora-wf-rerun-task-2771-attempt-night-1"),
        (None, None, None),
    ],
)
def test_rerun_key_names_the_failure(
    failed_at: dt.datetime | None, attempt: str | None, key: str | None
) -> None:
    assert task_requests.rerun_key(2771, failed_at=failed_at, attempt=attempt) == key


@pytest.mark.parametrize("attempt", ["", " a", "a ", "é", "a\n", "x" * 240])
def test_a_bad_attempt_id_names_the_field(attempt: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        task_requests.rerun_key(2771, attempt=attempt)
    assert caught.value.field == "attempt"


@pytest.mark.parametrize("status", ["Active", 1])
def test_workflow_status_is_read_as_text_or_integer(status: object) -> None:
    workflow = readers.read_workflow(_raw({"id": "7", "status": status}))
    assert workflow.id == 7
    assert workflow.status is not None
    assert workflow.status.value == str(status)
    assert workflow.status.is_known is (status == "Active")


def test_unknown_fields_and_status_values_are_kept_open() -> None:
    workflow = readers.read_workflow(_raw({"id": 1, "status": "Paused", "shiny": {"new": 1}}))
    assert workflow.status == "Paused"
    assert not workflow.status.is_known


def test_correctly_spelt_inactive_versions_are_read_too() -> None:
    workflow = readers.read_workflow(_raw({"id": 1, "latest_inactive_versions": [{"id": 2}]}))
    assert [v.id for v in workflow.latest_inactive_versions] == [2]


def test_a_delete_that_says_success_false_is_not_a_deletion() -> None:
    with pytest.raises(ResponseDecodeError):
        readers.read_deleted(_raw({"id": 1, "success": False}))


def test_next_page_on_another_host_is_reissued_against_base_url() -> None:
    first = definition_requests.prepare_list_workflows(
        base_url="http://127.0.0.1:8080", filters={"name": "N"}
    )
    follow = definition_requests.prepare_rebased_next_page(
        first,
        "https://rest.zuora.com/workflows?page=2&page_length=50",
        base_url="http://127.0.0.1:8080",
    )
    assert follow.url == "http://127.0.0.1:8080/workflows?page=2&page_length=50&name=N"
    with pytest.raises(ResponseDecodeError):
        definition_requests.prepare_rebased_next_page(
            first, "https://evil.example/steal", base_url="http://127.0.0.1:8080"
        )


@pytest.mark.parametrize(
    ("workflow", "problem"),
    [
        (Workflow(id=1, status=WorkflowStatus.ACTIVE, callout_trigger=True), None),
        (Workflow(id=1, status=WorkflowStatus.INACTIVE, callout_trigger=True), "Inactive"),
        (
            Workflow(id=1, status=WorkflowStatus.ACTIVE, callout_trigger=False),
            "Callout trigger off",
        ),
        (Workflow(id=1), None),
    ],
)
def test_preflight_problem(workflow: Workflow, problem: str | None) -> None:
    found = definition_requests.preflight_problem(workflow)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_the_rerun_key_of_the_official_task_example(spec: Any) -> None:
    """The official task (2771, ended 2019-09-19T12:35:43.942Z) read as Zuora sends it,
    keyed by that failure: the same answer gives the same key, a later end another."""
    page = readers.read_task_page(_raw(spec.example_200("GET", "/workflows/tasks")))
    task = page.items[0]
    assert task.end_time is not None
    key = task_requests.rerun_key(task.id, failed_at=task.end_time)
    assert key == "zuora-wf-rerun-task-2771-failed-20190919T123543.942000Z"
    assert (
        spec.request_problems(
            "POST", f"{BASE}/workflows/tasks/2771/rerun", {"Idempotency-Key": key}, None
        )
        == []
    )


class _LyingText(str):
    __slots__ = ()

    def __format__(self, spec: str) -> str:
        return "/oauth/token"

    def strip(self, chars: str | None = None) -> str:
        return "other"


def test_an_attempt_id_is_read_by_its_characters_not_its_methods() -> None:
    key = task_requests.rerun_key(2771, attempt=_LyingText("night-1"))
    assert key == "zuora-wf-rerun-task-2771-attempt-night-1"
    assert type(key) is str
