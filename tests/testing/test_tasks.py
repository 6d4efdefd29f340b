"""GET /workflows/tasks on the fake: tasks per run, statuses by the clock, filters, paging."""

import asyncio
from urllib.parse import urlsplit

import pytest

from zuora_wf_async.testing import Fault, FaultPlan, WorkflowConfig


async def tasks(wire, fake, query):
    return await wire.request(fake, "GET", "/workflows/tasks", params=query)


@pytest.fixture
async def slow_fake(start_fake):
    return await start_fake(queued_seconds=10.0, processing_seconds=20.0, stopping_seconds=5.0)


async def test_a_runs_tasks_follow_its_status_and_agree_with_its_counts(wire, slow_fake, clock):
    slow_fake.configure_workflow(42, task_count=3, failed_tasks=1)
    run_id = (await wire.run(slow_fake, 42)).body["id"]
    seen = []
    for advance in (0.0, 10.0, 20.0):
        clock.advance(advance)
        listed = (await tasks(wire, slow_fake, {"workflow_id": run_id})).body["data"]
        detail = (await wire.get_run(slow_fake, run_id)).body
        statuses = [task["status"] for task in listed]
        for status in set(statuses):
            assert detail["tasks"][status.lower()] == statuses.count(status)
        seen.append(statuses)
    assert seen == [
        ["Queued"] * 3,
        ["Processing"] * 3,
        ["Success", "Success", "Error"],
    ]


async def test_task_fields_and_errors(wire, slow_fake, clock):
    slow_fake.configure_workflow(
        42, task_count=2, failed_tasks=1, task_tags=("billing",), task_error="boom"
    )
    run_id = (await wire.run(slow_fake, 42)).body["id"]
    clock.advance(30.0)
    first, second = (await tasks(wire, slow_fake, {"workflow_id": run_id})).body["data"]
    assert first == {
        "id": first["id"],
        "name": "Task 1",
        "action_type": "Callout",
        "call_type": "REST",
        "object": None,
        "object_id": None,
        "instance": True,
        "original_task_id": 1,
        "original_workflow_id": 42,
        "workflow_id": run_id,
        "task_id": None,
        "status": "Success",
        "tags": ["billing"],
        "parameters": {},
        "data": {},
        "error": None,
        "error_class": None,
        "error_details": None,
        "start_time": "2024-01-01T00:00:10.000Z",
        "end_time": "2024-01-01T00:00:30.000Z",
    }
    assert second["task_id"] == first["id"]
    assert (second["status"], second["error_class"], second["error"]) == (
        "Error",
        "WorkflowError::Callout",
        "boom",
    )


async def test_stopped_runs_have_stopped_tasks(wire, slow_fake, clock):
    slow_fake.configure_workflow(42, task_count=2)
    queued = (await wire.run(slow_fake, 42)).body["id"]
    await wire.stop(slow_fake, queued)
    clock.advance(5.0)
    listed = (await tasks(wire, slow_fake, {"workflow_id": queued})).body["data"]
    # Never started: no times (left out, as the schema types them non-null).
    assert [(t["status"], t.get("start_time"), t.get("end_time")) for t in listed] == [
        ("Stopped", None, None)
    ] * 2
    assert not {"start_time", "end_time"} & set(listed[0])


async def test_task_ids_are_unique_across_runs(wire, fake):
    fake.configure_workflow(42, task_count=3)
    for _ in range(3):
        await wire.run(fake, 42)
    listed = (await tasks(wire, fake, {"page_length": "100"})).body["data"]
    ids = [task["id"] for task in listed]
    assert ids == sorted(set(ids))
    assert len(ids) == 9


async def test_paging_follows_absolute_next_page_urls(wire, fake):
    fake.configure_workflow(42, task_count=5)
    run_id = (await wire.run(fake, 42)).body["id"]
    await wire.run(fake, 42)  # another run's tasks must not leak in
    query = {"workflow_id": str(run_id), "page_length": "2"}
    first = (await tasks(wire, fake, query)).body
    assert first["pagination"]["page"] == 1
    assert first["pagination"]["page_length"] == 2
    pages = [first]
    while "next_page" in pages[-1]["pagination"]:
        url = urlsplit(pages[-1]["pagination"]["next_page"])
        assert f"{url.scheme}://{url.netloc}" == fake.base_url
        body = (await wire.request(fake, "GET", f"{url.path}?{url.query}")).body
        pages.append(body)
    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    assert [page["pagination"]["page"] for page in pages] == [1, 2, 3]
    assert {task["workflow_id"] for page in pages for task in page["data"]} == {run_id}


async def test_default_page_length_is_20_and_an_exact_fit_has_no_next_page(wire, fake):
    fake.configure_workflow(42, task_count=20)
    await wire.run(fake, 42)
    body = (await tasks(wire, fake, {})).body
    assert len(body["data"]) == 20
    assert body["pagination"] == {"page": 1, "page_length": 20}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tags[]": "a"}, {"A"}),
        ({"name": "Task 1"}, {"A", "B"}),
        ({"instance": "true"}, {"A", "B"}),
        ({"instance": "false"}, set()),
        ({"call_type": "SOAP"}, set()),
        ({"action_type": "Callout", "original": "ignored"}, {"A", "B"}),
    ],
)
async def test_filters(wire, fake, query, expected):
    fake.configure_workflow(1, task_tags=("a",))
    fake.configure_workflow(2, task_tags=("b",))
    runs = {"A": (await wire.run(fake, 1)).body["id"], "B": (await wire.run(fake, 2)).body["id"]}
    listed = (await tasks(wire, fake, query)).body["data"]
    assert {
        name for name, run_id in runs.items() for t in listed if t["workflow_id"] == run_id
    } == (expected)


async def test_repeated_tags_match_any(wire, fake):
    fake.configure_workflow(1, task_tags=("a",))
    fake.configure_workflow(2, task_tags=("b",))
    fake.configure_workflow(3, task_tags=("c",))
    for workflow_id in (1, 2, 3):
        await wire.run(fake, workflow_id)
    listed = (await tasks(wire, fake, [("tags[]", "a"), ("tags[]", "c")])).body["data"]
    assert [task["original_workflow_id"] for task in listed] == [1, 3]


@pytest.mark.parametrize(
    "query",
    [
        {"page_length": "101"},
        {"page_length": "0"},
        {"page": "0"},
        {"page": "two"},
        {"instance": "yes"},
    ],
)
async def test_bad_paging_is_a_400(wire, fake, query):
    result = await tasks(wire, fake, query)
    assert result.status == 400
    assert result.body["errors"][0]["status"] == 400


async def test_tasks_need_a_token(wire, fake):
    result = await wire.request(fake, "GET", "/workflows/tasks", anonymous=True)
    assert result.status == 401
    assert (await wire.request(fake, "POST", "/workflows/tasks")).status == 405


async def test_concurrent_requests_are_counted_per_endpoint(wire, start_fake):
    slow = Fault.slow(0.02, endpoints=["get_run"])
    fake = await start_fake(faults=FaultPlan(rules=[slow]))
    run_id = (await wire.run(fake, 42)).body["id"]
    await asyncio.gather(*(wire.get_run(fake, run_id) for _ in range(5)))
    assert fake.peak_in_flight_by_endpoint["get_run"] == 5
    assert fake.peak_in_flight_by_endpoint["run"] == 1
    assert fake.in_flight_by_endpoint["get_run"] == 0
    fake.reset_peak()
    assert fake.peak_in_flight_by_endpoint["get_run"] == 0


async def test_the_tasks_endpoint_can_be_faulted(wire, start_fake):
    fake = await start_fake(
        faults=FaultPlan(rules=[Fault.error_before_record(503, on=[1], endpoints=["tasks"])])
    )
    assert (await tasks(wire, fake, {})).status == 503
    assert (await tasks(wire, fake, {})).status == 200


def test_a_workflow_config_takes_task_tags_as_a_string_or_list():
    assert WorkflowConfig(task_tags="a").task_tags == ("a",)
    assert WorkflowConfig(task_tags=["a", "b"]).task_tags == ("a", "b")
