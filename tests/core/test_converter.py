"""Decoding Zuora's JSON into records: field renames, timestamps, ids, unknown statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from zuora_wf_async._converter import decode, make_converter
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._models import RunStatus, WorkflowRun

SAMPLE = {
    "createdAt": "2019-09-19 18:25:33 UTC",
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}
SAMPLE_TIME = datetime(2019, 9, 19, 18, 25, 33, tzinfo=UTC)


def test_decode_official_sample():
    """Zuora's documented 200 body decodes field for field, timestamps as aware UTC."""
    run = decode(SAMPLE, WorkflowRun)
    assert run == WorkflowRun(
        id=400,
        name="WF-396-00000003",
        original_workflow_id=396,
        status=RunStatus.QUEUED,
        created_at=SAMPLE_TIME,
        updated_at=SAMPLE_TIME,
        type="Workflow::Instance",
    )
    assert run.created_at.tzinfo is not None
    assert run.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        pytest.param(
            {"originalWorkflowId": "396"}, "original_workflow_id", 396, id="definition-id-as-string"
        ),
        pytest.param({"id": "400"}, "id", 400, id="run-id-as-string"),
        pytest.param(
            {"extra": {"nested": 1}, "tasks": {"total": 3}}, "id", 400, id="extra-fields-ignored"
        ),
        pytest.param({"type": None}, "type", None, id="type-null"),
        pytest.param(
            {"createdAt": "2022-08-04T16:09:18.000Z"},
            "created_at",
            datetime(2022, 8, 4, 16, 9, 18, tzinfo=UTC),
            id="iso-8601-with-z",
        ),
        pytest.param(
            {"createdAt": "2022-08-04T12:35:43.942Z"},
            "created_at",
            datetime(2022, 8, 4, 12, 35, 43, 942_000, tzinfo=UTC),
            id="iso-8601-milliseconds",
        ),
        pytest.param(
            {"createdAt": "2022-08-04 16:09:18"},
            "created_at",
            datetime(2022, 8, 4, 16, 9, 18, tzinfo=UTC),
            id="naive-read-as-utc",
        ),
        pytest.param({"status": "Finished"}, "status", RunStatus.FINISHED, id="known-status"),
    ],
)
def test_decode_tolerates_zuoras_variations(changes, attribute, expected):
    run = decode({**SAMPLE, **changes}, WorkflowRun)
    assert getattr(run, attribute) == expected


def test_decode_type_missing_is_none():
    """``type`` is in Zuora's sample but not its schema, so its absence is fine."""
    body = {key: value for key, value in SAMPLE.items() if key != "type"}
    assert decode(body, WorkflowRun).type is None


def test_decode_unknown_status_keeps_the_raw_string():
    """A status this version does not know decodes instead of failing the batch."""
    run = decode({**SAMPLE, "status": "Paused"}, WorkflowRun)
    assert isinstance(run.status, RunStatus)
    assert run.status.value == "Paused"
    assert run.status == "Paused"
    assert run.status.is_known is False
    assert run.status.is_terminal is False


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        pytest.param(RunStatus.QUEUED, False, id="queued"),
        pytest.param(RunStatus.PROCESSING, False, id="processing"),
        pytest.param(RunStatus.STOPPING, False, id="stopping-is-transient"),
        pytest.param(RunStatus.STOPPED, True, id="stopped"),
        pytest.param(RunStatus.FINISHED, True, id="finished"),
    ],
)
def test_known_statuses_are_known_and_only_finished_or_stopped_terminal(status, terminal):
    assert status.is_known is True
    assert status.is_terminal is terminal
    assert RunStatus(status.value) is status


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"id": "four hundred"}, "WorkflowRun.id", id="id-not-a-number"),
        pytest.param({"id": True}, "WorkflowRun.id", id="id-bool-rejected"),
        pytest.param({"id": 400.0}, "WorkflowRun.id", id="id-float-rejected"),
        pytest.param({"id": None}, "WorkflowRun.id", id="id-null"),
        pytest.param({"name": 3}, "WorkflowRun.name", id="name-not-a-string"),
        pytest.param(
            {"originalWorkflowId": [396]},
            "WorkflowRun.original_workflow_id",
            id="definition-id-list",
        ),
        pytest.param({"status": 3}, "WorkflowRun.status", id="status-not-a-string"),
        pytest.param(
            {"createdAt": 1568917533}, "WorkflowRun.created_at", id="timestamp-as-epoch-number"
        ),
        pytest.param(
            {"updatedAt": "yesterday"}, "WorkflowRun.updated_at", id="timestamp-unparseable"
        ),
        pytest.param({"type": 7}, "WorkflowRun.type", id="type-not-a-string"),
    ],
)
def test_decode_wrong_type_names_the_field(changes, field):
    """A wrong type is a ResponseDecodeError whose .field and message name the field."""
    with pytest.raises(ResponseDecodeError) as info:
        decode({**SAMPLE, **changes}, WorkflowRun, status=200)
    assert info.value.field == field
    assert field in str(info.value)
    assert info.value.status == 200


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param("id", id="id"),
        pytest.param("name", id="name"),
        pytest.param("status", id="status"),
        pytest.param("createdAt", id="created-at"),
    ],
)
def test_decode_missing_required_field_names_it(missing):
    body = {key: value for key, value in SAMPLE.items() if key != missing}
    with pytest.raises(ResponseDecodeError) as info:
        decode(body, WorkflowRun)
    assert info.value.field.startswith("WorkflowRun.")
    assert "missing" in str(info.value)


def test_decode_non_object_body_is_a_decode_error():
    with pytest.raises(ResponseDecodeError):
        decode(None, WorkflowRun)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2019-09-19 18:25:33 UTC", SAMPLE_TIME, id="zuora-run-format"),
        pytest.param("2019-09-19T18:25:33Z", SAMPLE_TIME, id="iso-z"),
        pytest.param("2019-09-19T18:25:33+00:00", SAMPLE_TIME, id="iso-offset-zero"),
        pytest.param(" 2019-09-19 18:25:33 UTC ", SAMPLE_TIME, id="padded"),
        pytest.param(
            "2019-09-19T20:25:33+02:00",
            datetime(2019, 9, 19, 20, 25, 33, tzinfo=timezone(timedelta(hours=2))),
            id="other-offset-same-instant",
        ),
    ],
)
def test_parse_timestamp_gives_aware_datetimes(text, expected):
    parsed = decode(text, datetime)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_make_converter_returns_independent_converters():
    """Each call builds a fresh converter holding the same hooks."""
    first, second = make_converter(), make_converter()
    assert first is not second
    assert first.structure(SAMPLE, WorkflowRun) == decode(SAMPLE, WorkflowRun)
