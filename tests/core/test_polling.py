"""Following runs, the pure parts: the poll plan, run and task requests, the new records.

Tables of cases; nothing sleeps, and randomness is a constant handed in.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from zuora_wf_async import InvalidRequestError, ResponseDecodeError, RunStatus
from zuora_wf_async._converter import decode
from zuora_wf_async._core import definition_requests
from zuora_wf_async._core import follow as follow_build
from zuora_wf_async._core.polling import PollPlan, poll_budget
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.requests import validate_id
from zuora_wf_async._models import Task, TaskCounts, TaskStatus, WorkflowRunDetail

BASE = "https://rest.test.zuora.com"

# -- the poll plan ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("poll", "expected"),
    [
        *[(0, 2.0), (1, 3.0), (2, 4.5), (3, 6.75), (4, 10.125), (5, 15.1875), (6, 22.78125)],
        *[(7, 30.0), (50, 30.0), (10**9, 30.0)],
    ],
)
def test_intervals_grow_by_half_up_to_the_cap(poll, expected):
    assert PollPlan().base_delay(poll) == pytest.approx(expected)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 1.0), (0.5, 0.9), (0.999999, 0.8000002)])
def test_jitter_only_shortens_by_up_to_a_fifth(draw, factor):
    plan = PollPlan(poll_interval=1.0, max_poll_interval=8.0)
    for poll in range(10):
        base = plan.base_delay(poll)
        delay = plan.delay(poll, lambda d=draw: d)
        assert delay == pytest.approx(base * factor)
        assert delay <= plan.max_poll_interval


@pytest.mark.parametrize(
    ("now", "deadline", "expected"),
    [
        (0.0, 100.0, 2.0),  # plenty of time: the interval
        (0.0, 1.5, 1.5),  # the last wait ends at the deadline, for one final poll there
        (5.0, 5.0, None),  # deadline reached: stop
        (6.0, 5.0, None),
        (0.0, math.inf, 2.0),  # no timeout
    ],
)
def test_next_wait_stops_at_the_deadline(now, deadline, expected):
    assert PollPlan().next_wait(0, now=now, deadline=deadline, random=lambda: 0.0) == expected


def test_no_timeout_means_an_infinite_deadline():
    assert PollPlan.checked(timeout=None).deadline(10.0) == math.inf
    assert PollPlan.checked(timeout=0).deadline(10.0) == 10.0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": "60"}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": -2}, "poll_interval"),
        ({"poll_interval": None}, "poll_interval"),
        ({"max_poll_interval": 0}, "max_poll_interval"),
        ({"poll_interval": 10, "max_poll_interval": 5}, "max_poll_interval"),
        ({"until_pending": 1}, "until_pending"),
        ({"until_pending": None}, "until_pending"),
        ({"until_pending": "yes"}, "until_pending"),
    ],
)
def test_bad_wait_options_name_their_field(options, field):
    with pytest.raises(InvalidRequestError) as caught:
        PollPlan.checked(**options)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("until_pending", "terminal", "pending", "done"),
    [
        (False, False, False, False),  # running
        (False, False, True, False),  # Pending: wait on for the end
        (False, True, True, True),  # Finished with tasks pending: the run has ended
        (False, True, False, True),
        (True, False, False, False),
        (True, False, True, True),  # Pending: the caller asked to stop here
        (True, True, True, True),
        (True, True, False, True),
    ],
)
def test_a_wait_ends_at_the_end_or_at_pending_when_asked(until_pending, terminal, pending, done):
    plan = PollPlan.checked(until_pending=until_pending)
    assert plan.until_pending is until_pending
    assert plan.is_done(terminal=terminal, pending=pending) is done


@pytest.mark.parametrize(
    ("max_concurrency", "configured", "expected"),
    [(32, None, 8), (4, None, 1), (3, None, 1), (1, None, 1), (100, None, 25), (32, 5, 5)],
)
def test_poll_budget_is_a_quarter_unless_configured(max_concurrency, configured, expected):
    assert poll_budget(max_concurrency, configured) == expected


@pytest.mark.parametrize("configured", [0, -1, True, 2.0])
def test_a_bad_poll_concurrency_is_refused(configured):
    with pytest.raises(InvalidRequestError, match="poll_concurrency"):
        poll_budget(32, configured)


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    ("check", "field"),
    [
        (lambda: poll_budget(32, -(10**5000)), "poll_concurrency"),
        (lambda: PollPlan.checked(until_pending=_Unprintable()), "until_pending"),
    ],
)
def test_a_hostile_value_is_refused_in_a_short_message(check, field):
    """A 5,000-digit int (whose repr raises past Python's digit limit) or an object whose
    repr raises is named by its type, not printed (found by test_hostile_calls)."""
    with pytest.raises(InvalidRequestError) as caught:
        check()
    assert caught.value.field == field
    assert len(str(caught.value)) < 300


# -- run and task requests ----------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(19080, 19080), ("19080", 19080), ("7", 7)])
def test_run_ids_are_positive_ints_or_their_digits(value, expected):
    assert validate_id(value, "run_id") == expected


@pytest.mark.parametrize("value", [0, -1, "0", "-5", "abc", "", " 1", "1e3", "١٢", True, 1.0, None])
def test_bad_run_ids_are_refused(value):
    with pytest.raises(InvalidRequestError) as caught:
        validate_id(value, "run_id")
    assert caught.value.field == "run_id"


def test_run_detail_and_stop_requests():
    detail = follow_build.prepare_run_detail(base_url=BASE, run_id=19080, entity_ids="e1")
    stop = follow_build.prepare_stop(base_url=BASE, run_id=19080, track_id="t-1")
    assert (detail.method, detail.url) == ("GET", f"{BASE}/workflows/workflow_runs/19080")
    assert detail.headers["Zuora-Entity-Ids"] == "e1"
    assert (stop.method, stop.url, stop.body) == (
        "PUT",
        f"{BASE}/workflows/workflow_runs/19080/stop",
        None,
    )
    assert stop.headers["Zuora-Track-Id"] == "t-1"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [("page", "1"), ("page_length", "100")]),
        (
            {"workflow_run_id": "476", "page_length": 20},
            [("workflow_id", "476"), ("page", "1"), ("page_length", "20")],
        ),
        (
            {"filters": {"tags": ["a", "b"], "instance": True, "name": "If", "id": 5}},
            [
                *[("id", "5"), ("instance", "true"), ("name", "If")],
                *[("tags", "a,b"), ("page", "1"), ("page_length", "100")],
            ],
        ),
        (
            {"filters": {"call_type": None, "instance": False}, "page": 3},
            [("instance", "false"), ("page", "3"), ("page_length", "100")],
        ),
    ],
)
def test_task_query(kwargs, expected):
    assert list(follow_build.task_query(**kwargs)) == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_length": 0}, "page_length"),
        ({"page_length": 101}, "page_length"),
        ({"page_length": "20"}, "page_length"),
        ({"page": 0}, "page"),
        ({"workflow_run_id": 0}, "workflow_run_id"),
        ({"workflow_run_id": 1, "filters": {"workflow_id": 1}}, "workflow_run_id"),
        ({"filters": {"status": "Error"}}, "filters['status']"),
        ({"filters": {"tags": "billing"}}, "filters['tags']"),
        ({"filters": {"tags": ["ok", 3]}}, "filters['tags']"),
        ({"filters": {"tags": ["a,b"]}}, "filters['tags']"),
        ({"filters": {"instance": "true"}}, "filters['instance']"),
        ({"filters": {"name": ""}}, "filters['name']"),
        ({"filters": {"object_id": True}}, "filters['object_id']"),
    ],
)
def test_bad_task_queries_name_their_field(kwargs, field):
    with pytest.raises(InvalidRequestError) as caught:
        follow_build.task_query(**kwargs)
    assert caught.value.field == field


def _first_page(base: str = BASE) -> PreparedRequest:
    query = follow_build.task_query(workflow_run_id=476, filters={"tags": ["a"]}, page_length=2)
    return follow_build.prepare_tasks(base_url=base, query=query, track_id="t")


def _next(next_page: object, base: str = BASE) -> PreparedRequest:
    return definition_requests.prepare_rebased_next_page(
        _first_page(base), next_page, base_url=base
    )


@pytest.mark.parametrize(
    "next_page",
    [
        f"{BASE}/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        "https://REST.test.zuora.com:443/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        "/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        # Zuora builds the link on a canonical host; its path and query are what count.
        "https://rest.zuora.com/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        "https://evil.example/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        "http://rest.test.zuora.com:8443/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        "https://user:pw@evil.example/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
        "//evil.example/workflows/tasks?workflow_id=476&tags=a&page=2&page_length=2",
    ],
)
def test_next_page_is_reissued_against_base_url_whatever_its_host(next_page):
    request = _next(next_page)
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "rest.test.zuora.com",
        request.path,
    )
    assert request.path == "/workflows/tasks"
    assert sorted(parse_qsl(parts.query)) == [
        ("page", "2"),
        ("page_length", "2"),
        ("tags", "a"),
        ("workflow_id", "476"),
    ]
    assert request.headers["Zuora-Track-Id"] == "t"


def test_filters_next_page_leaves_out_are_sent_again_but_never_the_old_page():
    # Zuora's sample next_page carries only page and page_length.
    request = _next("https://rest.zuora.com/workflows/tasks?page=2&page_length=2")
    assert sorted(parse_qsl(urlsplit(request.url).query)) == [
        ("page", "2"),
        ("page_length", "2"),
        ("tags", "a"),
        ("workflow_id", "476"),
    ]
    without_page = _next(f"{BASE}/workflows/tasks?cursor=x")
    assert "page" not in dict(parse_qsl(urlsplit(without_page.url).query))


@pytest.mark.parametrize(
    "link", ["https://gateway.example.com/zuora/workflows/tasks?page=2", "/workflows/tasks?page=2"]
)
def test_next_page_keeps_a_base_path_prefix(link):
    base = "https://gateway.example.com/zuora"
    request = _next(link, base)
    assert request.url.startswith(f"{base}/workflows/tasks?")
    assert request.path == "/workflows/tasks"


@pytest.mark.parametrize(
    "next_page",
    [
        "https://evil.example/steal?page=2",
        f"{BASE}/workflows/workflow_runs/1?page=2",
        f"{BASE}/workflows/tasks/5?page=2",
        f"{BASE}/other/workflows/tasks?page=2",
    ],
)
def test_next_page_to_another_path_is_refused(next_page):
    with pytest.raises(ResponseDecodeError, match="not the listing") as caught:
        _next(next_page)
    assert caught.value.field == "pagination.next_page"


def test_next_page_outside_the_base_path_is_refused():
    with pytest.raises(ResponseDecodeError, match="not the listing"):
        _next("https://gateway.example.com/other/tasks", "https://gateway.example.com/zuora")


@pytest.mark.parametrize("next_page", [3, "", "   ", ["x"]])
def test_a_next_page_that_is_not_a_url_is_a_decode_error(next_page):
    with pytest.raises(ResponseDecodeError, match="URL"):
        _next(next_page)


# -- the records --------------------------------------------------------------------------

DETAIL = {
    "cpuTime": "19:01:04",
    "createdAt": "2019-09-10 19:32:21 UTC",
    "finishedAt": "2019-09-10 19:33:34 UTC",
    "id": 19063,
    "name": "WF-19027-00000032",
    "originalWorkflowId": 19027,
    "runTime": 64.513026,
    "status": "Finished",
    "tasks": {
        "error": 0,
        "pending": 0,
        "processing": 0,
        "queued": 0,
        "stopped": 0,
        "success": 4,
        "total": 4,
    },
    "type": "Workflow::Instance",
    "updatedAt": "2019-09-10 19:33:34 UTC",
}


def test_the_official_run_detail_example_decodes():
    detail = decode(DETAIL, WorkflowRunDetail)
    assert detail == WorkflowRunDetail(
        id=19063,
        name="WF-19027-00000032",
        original_workflow_id=19027,
        status=RunStatus.FINISHED,
        created_at=datetime(2019, 9, 10, 19, 32, 21, tzinfo=UTC),
        updated_at=datetime(2019, 9, 10, 19, 33, 34, tzinfo=UTC),
        finished_at=datetime(2019, 9, 10, 19, 33, 34, tzinfo=UTC),
        run_time=64.513026,
        cpu_time="19:01:04",
        tasks=TaskCounts(success=4, total=4),
        type="Workflow::Instance",
    )
    assert (detail.is_terminal, detail.succeeded, detail.messages) == (True, True, None)


@pytest.mark.parametrize(
    ("changes", "terminal", "succeeded"),
    [
        ({}, True, True),
        ({"tasks": {"error": 1, "success": 3, "total": 4}}, True, False),
        ({"tasks": {"stopped": 1, "success": 3, "total": 4}}, True, False),
        ({"status": "Stopped"}, True, False),
        ({"status": "Stopping"}, False, False),
        ({"status": "Processing", "finishedAt": None}, False, False),
        ({"status": "Queued"}, False, False),
        ({"status": "Paused"}, False, False),  # unknown: kept, not terminal
    ],
)
def test_terminal_and_succeeded(changes, terminal, succeeded):
    detail = decode({**DETAIL, **changes}, WorkflowRunDetail)
    assert (detail.is_terminal, detail.succeeded) == (terminal, succeeded)


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"originalWorkflowId": "19027"}, lambda d: d.original_workflow_id == 19027),
        ({"runTime": 3}, lambda d: d.run_time == 3.0 and isinstance(d.run_time, float)),
        ({"runTime": "1.5"}, lambda d: d.run_time == 1.5),
        ({"finishedAt": None}, lambda d: d.finished_at is None),
        ({"messages": {"Task 1": ["hi"]}}, lambda d: d.messages == {"Task 1": ["hi"]}),
        ({"tasks": {"error": 2}}, lambda d: d.tasks == TaskCounts(error=2)),
        ({"status": "Paused"}, lambda d: d.status == "Paused" and not d.status.is_known),
        ({"somethingNew": 1}, lambda d: d.id == 19063),
    ],
)
def test_run_detail_decoding_rules(changes, check):
    body = {**DETAIL, **changes}
    if "finishedAt" in changes and changes["finishedAt"] is None:
        del body["finishedAt"]
    assert check(decode(body, WorkflowRunDetail))


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"runTime": True}, "run_time"), ({"runTime": "fast"}, "run_time"), ({"id": None}, "id")],
)
def test_bad_run_details_name_the_field(changes, field):
    with pytest.raises(ResponseDecodeError) as caught:
        decode({**DETAIL, **changes}, WorkflowRunDetail)
    assert field in caught.value.field


TASK = {
    "action_type": "If",
    "call_type": "SOAP",
    "end_time": "2019-09-19T12:35:43.942Z",
    "error": None,
    "error_class": None,
    "error_details": None,
    "id": 2771,
    "instance": True,
    "name": "If",
    "object": None,
    "object_id": None,
    "original_task_id": 2582,
    "original_workflow_id": 416,
    "parameters": {"if_clause": "{% if 0 > 1 %}True{% endif %}"},
    "start_time": "2019-09-19T12:35:43.857Z",
    "status": "Success",
    "tags": [],
    "workflow_id": 476,
}


def test_the_official_task_example_decodes():
    task = decode(TASK, Task)
    assert (task.id, task.workflow_id, task.original_workflow_id) == (2771, 476, 416)
    assert task.status is TaskStatus.SUCCESS
    assert task.start_time == datetime(2019, 9, 19, 12, 35, 43, 857000, tzinfo=UTC)
    assert task.end_time == datetime(2019, 9, 19, 12, 35, 43, 942000, tzinfo=UTC)
    assert (task.instance, task.tags, task.failed, task.error) == (True, (), False, None)
    assert task.parameters == TASK["parameters"]


def test_failed_and_unknown_task_statuses():
    failed = decode(
        {**TASK, "status": "Error", "error_class": "WorkflowError::Callout", "error": "500"},
        Task,
    )
    assert (failed.failed, failed.error_class) == (True, "WorkflowError::Callout")
    odd = decode({**TASK, "status": "Retrying"}, Task)
    assert (odd.status, odd.status.is_known if odd.status else None) == ("Retrying", False)
    definition = decode({"id": 1, "status": None, "instance": False}, Task)
    assert definition.status is None


def test_a_task_bool_is_never_read_from_a_string():
    with pytest.raises(ResponseDecodeError) as caught:
        decode({**TASK, "instance": "false"}, Task)
    assert caught.value.field.endswith("instance")
