"""Odd numbers in a run detail are read as missing, not as numbers (issue 22, low item).

``runTime: "NaN"`` (or a JSON NaN, an infinity, a negative duration) used to decode to a
float that breaks every sum or comparison a caller makes; a negative task count made
``succeeded`` and ``is_pending`` read nonsense. Both now read as Zuora leaving them out.
"""

from __future__ import annotations

import json
import math

import pytest

from zuora_wf_async._converter import decode
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._models import TaskCounts, WorkflowRunDetail

DETAIL = {
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Finished",
    "createdAt": "2019-09-19 18:25:33 UTC",
    "updatedAt": "2019-09-19 18:25:35 UTC",
    "finishedAt": "2019-09-19 18:25:35 UTC",
    "runTime": 2.5,
    "tasks": {"total": 2, "success": 2, "error": 0},
}


def _detail(**fields: object) -> WorkflowRunDetail:
    # Through json text, as the body arrives: json.loads reads NaN and Infinity too.
    return decode(json.loads(json.dumps({**DETAIL, **fields})), WorkflowRunDetail)


@pytest.mark.parametrize(
    "run_time",
    [
        pytest.param("NaN", id="text-NaN"),
        pytest.param(math.nan, id="json-NaN"),
        pytest.param(math.inf, id="json-Infinity"),
        pytest.param("-Infinity", id="text-minus-Infinity"),
        pytest.param("1e400", id="text-overflowing-to-infinity"),
        pytest.param(10**400, id="integer-too-large-for-a-float"),
        pytest.param(-3, id="negative"),
        pytest.param("-0.5", id="negative-text"),
    ],
)
def test_a_run_time_that_is_no_duration_reads_as_missing(run_time):
    assert _detail(runTime=run_time).run_time is None


@pytest.mark.parametrize(("run_time", "seconds"), [(0, 0.0), ("12.5", 12.5), (7, 7.0)])
def test_a_real_run_time_is_kept(run_time, seconds):
    assert _detail(runTime=run_time).run_time == seconds


def test_run_time_text_that_is_no_number_is_still_a_decode_error():
    with pytest.raises(ResponseDecodeError) as caught:
        _detail(runTime="soon")
    assert "run_time" in caught.value.field


def test_a_negative_task_count_reads_as_missing():
    detail = _detail(tasks={"total": 2, "success": 2, "error": -1, "pending": -7})
    assert detail.tasks == TaskCounts(total=2, success=2, error=0, pending=0)
    assert detail.succeeded
    assert not detail.is_pending


def test_a_count_that_is_no_number_is_still_a_decode_error():
    with pytest.raises(ResponseDecodeError):
        _detail(tasks={"total": "many"})
