"""The fast path for run records agrees with the cattrs converter on every input.

``decode`` reads ``WorkflowRun`` and ``WorkflowRunDetail`` directly when a body has the
common shape and hands anything else to the converter. Whatever path a body takes, the
record (or the error) must be the one the converter alone gives.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async import _converter
from zuora_wf_async._converter import converter, decode, decode_slow
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._models import RunStatus, WorkflowRun, WorkflowRunDetail

_SPEC = json.loads(
    (Path(__file__).parent.parent / "data" / "zuora_workflow_openapi.json").read_text()
)


def _official_example(path: str, method: str) -> dict[str, Any]:
    content = _SPEC["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    example: dict[str, Any] = content["examples"]["response"]["value"]
    return example


RUN = _official_example("/workflows/{workflow_id}/run", "post")
DETAIL = _official_example("/workflows/workflow_runs/{workflow_run_id}", "get")


def _outcome(data: Any, cls: type, decoder: Any) -> tuple[str, Any]:
    try:
        return "ok", decoder(data, cls, status=200)
    except ResponseDecodeError as error:
        return "error", (error.field, str(error))


def _comparable(value: Any) -> Any:
    """``value`` with every NaN replaced by a marker: ``json.loads`` reads ``NaN``, and a
    NaN is not equal to itself, so two records that agree would compare unequal."""
    if attrs.has(type(value)):
        return type(value), _comparable(attrs.asdict(value, recurse=False))
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_comparable(item) for item in value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _agree(data: Any, cls: type) -> tuple[str, Any]:
    fast = _outcome(data, cls, decode)
    slow = _outcome(data, cls, decode_slow)
    assert _comparable(fast) == _comparable(slow)
    if fast[0] == "ok":
        assert type(fast[1]) is cls
        assert type(fast[1].status) is RunStatus
    return fast


def test_the_official_examples_take_the_fast_path_and_agree():
    assert _converter._fast_run(RUN) is not None
    assert _converter._fast_run_detail(DETAIL) is not None
    run = _agree(RUN, WorkflowRun)[1]
    assert run.id == 400
    assert run.original_workflow_id == 396
    detail = _agree(DETAIL, WorkflowRunDetail)[1]
    assert detail.tasks.success == 4
    assert detail.run_time == 64.513026
    assert detail.finished_at is not None


ODD_RUNS: dict[str, dict[str, Any]] = {
    "id-as-text": {"id": "400"},
    "workflow-id-as-text": {"originalWorkflowId": "396"},
    "id-a-bool": {"id": True},
    "id-a-float": {"id": 400.0},
    "name-a-number": {"name": 7},
    "name-null": {"name": None},
    "status-unknown": {"status": "Paused"},
    "status-a-number": {"status": 3},
    "type-null": {"type": None},
    "type-a-number": {"type": 1},
    "iso-timestamps": {
        "createdAt": "2022-08-04T12:35:43.942Z",
        "updatedAt": "2022-08-04T12:35:44Z",
    },
    "offset-timestamp": {"createdAt": "2022-08-04T12:35:43+02:00"},
    "naive-timestamp": {"createdAt": "2022-08-04 16:09:18"},
    "garbage-timestamp": {"createdAt": "yesterday"},
    "timestamp-a-number": {"updatedAt": 1_700_000_000},
    "extra-fields": {"extra": {"nested": [1, 2]}, "tasks": {"total": 3}},
}
MISSING = ["id", "name", "originalWorkflowId", "status", "createdAt", "updatedAt", "type"]


@pytest.mark.parametrize("changes", list(ODD_RUNS.values()), ids=list(ODD_RUNS))
def test_odd_run_bodies_agree(changes):
    _agree({**RUN, **changes}, WorkflowRun)
    _agree({**DETAIL, **changes}, WorkflowRunDetail)


@pytest.mark.parametrize("missing", MISSING)
def test_a_missing_field_agrees(missing):
    _agree({key: value for key, value in RUN.items() if key != missing}, WorkflowRun)
    _agree({key: value for key, value in DETAIL.items() if key != missing}, WorkflowRunDetail)


ODD_DETAILS: dict[str, dict[str, Any]] = {
    "run-time-an-int": {"runTime": 64},
    "run-time-as-text": {"runTime": "64.5"},
    "run-time-a-bool": {"runTime": True},
    "run-time-null": {"runTime": None},
    "finished-null": {"finishedAt": None},
    "finished-garbage": {"finishedAt": "soon"},
    "cpu-time-a-number": {"cpuTime": 12},
    "tasks-null": {"tasks": None},
    "tasks-a-list": {"tasks": [1, 2]},
    "tasks-partial": {"tasks": {"total": 2}},
    "tasks-count-as-text": {"tasks": {"total": "2"}},
    "tasks-count-a-bool": {"tasks": {"error": False}},
    "tasks-extra-key": {"tasks": {"total": 2, "skipped": 1}},
    "messages-an-object": {"messages": {"task 1": ["failed"]}},
    "messages-a-string": {"messages": "raw"},
}


@pytest.mark.parametrize("changes", list(ODD_DETAILS.values()), ids=list(ODD_DETAILS))
def test_odd_detail_bodies_agree(changes):
    _agree({**DETAIL, **changes}, WorkflowRunDetail)


def test_tasks_absent_agrees():
    _agree({key: value for key, value in DETAIL.items() if key != "tasks"}, WorkflowRunDetail)


@pytest.mark.parametrize("body", [None, [], "text", 5, [RUN]], ids=repr)
def test_non_object_bodies_agree(body):
    assert _agree(body, WorkflowRun)[0] == "error"


class _DictSubclass(dict):  # type: ignore[type-arg]
    pass


def test_a_dict_subclass_takes_the_converter_and_agrees():
    assert _converter._fast_run(_DictSubclass(RUN)) is None
    _agree(_DictSubclass(RUN), WorkflowRun)


anything = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
timestamps = st.sampled_from(
    ["2019-09-19 18:25:33 UTC", "2022-08-04T12:35:43.942Z", "2022-08-04 16:09:18", "bad"]
)


@given(
    changes=st.dictionaries(
        st.sampled_from([*MISSING, "finishedAt", "runTime", "cpuTime", "tasks", "messages"]),
        anything | timestamps | st.dictionaries(st.sampled_from(["total", "error"]), anything),
        max_size=4,
    ),
    drop=st.lists(st.sampled_from(MISSING), max_size=2),
)
@settings(max_examples=200, deadline=None)
def test_any_mutation_of_the_official_examples_agrees(changes, drop):
    for base, cls in ((RUN, WorkflowRun), (DETAIL, WorkflowRunDetail)):
        body = {key: value for key, value in {**base, **changes}.items() if key not in drop}
        _agree(body, cls)


def test_a_hook_registered_for_a_run_record_is_honoured():
    """Another module replacing the hook for WorkflowRun turns the fast path off for it."""
    original = converter.get_structure_hook(WorkflowRun)
    try:
        converter.register_structure_hook(
            WorkflowRun, lambda data, cls: original({**data, "name": "from-the-hook"}, cls)
        )
        assert decode(RUN, WorkflowRun).name == "from-the-hook"
    finally:
        converter.register_structure_hook(WorkflowRun, original)
    assert decode(RUN, WorkflowRun).name == RUN["name"]


def test_hooks_registered_for_other_types_keep_the_fast_path():
    """cattrs regenerates every hook when any is registered; the fast path survives that."""
    converter.register_structure_hook(complex, lambda value, _cls: complex(value))
    assert _converter._fast_path(WorkflowRun) is _converter._fast_run
    assert _converter._fast_path(WorkflowRunDetail) is _converter._fast_run_detail


@pytest.mark.parametrize("field", ["messages", "runTime"])
def test_a_nan_the_server_sent_agrees(field):
    """``json.loads`` reads ``NaN``: both paths keep it, and the comparison must see that."""
    kind, detail = _agree({**DETAIL, field: float("nan")}, WorkflowRunDetail)
    assert kind == "ok"
    value = detail.messages if field == "messages" else detail.run_time
    assert math.isnan(value)
