"""GET /workflows/workflow_runs/{id} and PUT .../stop: status judged by the clock."""

import pytest

from zuora_wf_async.testing import WorkflowConfig


@pytest.fixture
async def slow_fake(start_fake):
    return await start_fake(queued_seconds=10.0, processing_seconds=20.0, stopping_seconds=5.0)


async def test_status_progresses_with_the_clock(wire, slow_fake, clock):
    run_id = (await wire.run(slow_fake, 42)).body["id"]
    queued = (await wire.get_run(slow_fake, run_id)).body
    assert queued == {
        "id": run_id,
        "name": "WF-42-00000001",
        "originalWorkflowId": "42",  # a string, as GetWorkflowResponse types it
        "status": "Queued",
        "type": "Workflow::Instance",
        "createdAt": "2024-01-01 00:00:00 UTC",
        "updatedAt": "2024-01-01 00:00:00 UTC",
        "runTime": 0.0,
        "cpuTime": "00:00:00",
        "tasks": {
            "error": 0,
            "pending": 0,
            "processing": 0,
            "queued": 1,
            "stopped": 0,
            "success": 0,
            "total": 1,
        },
    }
    clock.advance(10.0)
    processing = (await wire.get_run(slow_fake, run_id)).body
    assert processing["status"] == "Processing"
    assert processing["updatedAt"] == "2024-01-01 00:00:10 UTC"
    assert processing["tasks"]["processing"] == 1
    assert "finishedAt" not in processing
    clock.advance(25.0)
    finished = (await wire.get_run(slow_fake, run_id)).body
    assert finished["status"] == "Finished"
    assert finished["finishedAt"] == "2024-01-01 00:00:30 UTC"
    assert finished["runTime"] == 30.0
    assert finished["tasks"]["success"] == 1


async def test_finished_runs_report_failed_tasks(wire, fake):
    fake.configure_workflow(42, WorkflowConfig(task_count=4, failed_tasks=1))
    run_id = (await wire.run(fake, 42)).body["id"]
    body = (await wire.get_run(fake, run_id)).body
    assert body["status"] == "Finished"
    assert body["tasks"] == {
        "error": 1,
        "pending": 0,
        "processing": 0,
        "queued": 0,
        "stopped": 0,
        "success": 3,
        "total": 4,
    }


@pytest.mark.parametrize("run_id", ["99999", "abc"])
async def test_unknown_runs_are_404(wire, fake, run_id):
    for result in (await wire.get_run(fake, run_id), await wire.stop(fake, run_id)):
        assert result.status == 404
        assert result.body == {
            "errors": [
                {"code": "Invalid", "status": 404, "title": f"Workflow run '{run_id}' is not found"}
            ]
        }


async def test_stop_goes_stopping_then_stopped(wire, slow_fake, clock):
    run_id = (await wire.run(slow_fake, 42)).body["id"]
    clock.advance(12.0)
    stop = await wire.stop(slow_fake, run_id)
    assert (stop.status, stop.body) == (200, {"success": True})
    stopping = (await wire.get_run(slow_fake, run_id)).body
    assert stopping["status"] == "Stopping"
    assert "finishedAt" not in stopping
    clock.advance(5.0)
    stopped = (await wire.get_run(slow_fake, run_id)).body
    assert stopped["status"] == "Stopped"
    assert stopped["finishedAt"] == "2024-01-01 00:00:17 UTC"
    assert stopped["tasks"]["stopped"] == 1
    clock.advance(100.0)
    assert (await wire.get_run(slow_fake, run_id)).body["status"] == "Stopped"
    assert (await wire.stop(slow_fake, run_id)).body == {"success": True}


async def test_stop_is_immediate_by_default(wire, start_fake):
    fake = await start_fake(queued_seconds=10.0)
    run_id = (await wire.run(fake, 42)).body["id"]
    await wire.stop(fake, run_id)
    assert (await wire.get_run(fake, run_id)).body["status"] == "Stopped"


async def test_a_finished_run_cannot_be_stopped(wire, fake):
    run_id = (await wire.run(fake, 42)).body["id"]
    result = await wire.stop(fake, run_id)
    assert (result.status, result.body) == (200, {"success": False})
    assert (await wire.get_run(fake, run_id)).body["status"] == "Finished"
