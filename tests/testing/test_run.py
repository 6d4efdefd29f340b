"""POST /workflows/{workflow_id}/run: validation in order, the success body, common headers."""

import gzip
import json
import uuid

import pytest

from zuora_wf_async.testing import WorkflowConfig


async def test_success_body_is_a_queued_instance(wire, fake, clock):
    clock.advance(90.0)
    result = await wire.run(fake, 42, {"accountId": "A-1"})
    assert result.status == 200
    assert result.body == {
        "id": 10000,
        "name": "WF-42-00000001",
        "originalWorkflowId": 42,
        "status": "Queued",
        "type": "Workflow::Instance",
        "createdAt": "2024-01-01 00:01:30 UTC",
        "updatedAt": "2024-01-01 00:01:30 UTC",
    }
    [execution] = fake.executions
    assert (execution.run_id, execution.workflow_id) == (10000, 42)
    assert execution.params == {"accountId": "A-1"}
    assert execution.created_at == 90.0


async def test_run_numbers_count_per_definition(wire, fake):
    names = [(await wire.run(fake, wid)).body["name"] for wid in (7, 7, 8)]
    assert names == ["WF-7-00000001", "WF-7-00000002", "WF-8-00000001"]


async def test_run_ids_skip_definition_ids(wire, fake):
    fake.configure_workflow(10000)
    assert (await wire.run(fake, 10000)).body["id"] == 10001


@pytest.mark.parametrize("body", [None, b"", b"  "])
async def test_an_absent_body_means_no_parameters(wire, fake, body):
    result = await wire.run(fake, data=body, headers={"Content-Type": "application/json"})
    assert result.status == 200
    assert fake.executions[0].params == {}


async def test_a_gzipped_body_is_decompressed(wire, fake):
    data = gzip.compress(json.dumps({"x": 1}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert (await wire.run(fake, data=data, headers=headers)).status == 200
    assert fake.executions[0].params == {"x": 1}


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"}),
        (b"{not json", {}),
        (b"[1, 2]", {}),
        (b'"text"', {}),
    ],
    ids=["corrupt-gzip", "bad-json", "array", "string"],
)
async def test_undecodable_or_non_object_bodies_are_400(wire, fake, data, headers):
    result = await wire.run(fake, data=data, headers=headers)
    assert result.status == 400
    [error] = result.body["errors"]
    assert (error["code"], error["status"]) == ("invalid", 400)
    assert fake.executions == []


@pytest.mark.parametrize(
    "name", ["controller", "action", "id", "user_email", "user_token", "format"]
)
async def test_reserved_parameter_names_are_400(wire, fake, name):
    result = await wire.run(fake, params={name: "x", "fine": 1})
    assert result.status == 400
    assert name in result.body["errors"][0]["title"]
    assert fake.executions == []


@pytest.mark.parametrize("workflow_id", ["abc", "-1", "1.5"])
async def test_a_non_integer_workflow_id_is_404(wire, fake, workflow_id):
    result = await wire.run(fake, workflow_id)
    assert result.status == 404
    assert result.body["errors"][0]["status"] == 404


async def test_callout_disabled_is_400(wire, fake):
    fake.configure_workflow(42, callout_enabled=False)
    result = await wire.run(fake, 42)
    assert result.status == 400
    assert result.body == {
        "errors": [
            {
                "code": "invalid",
                "status": 400,
                "title": "Callout mode is not turned on in this workflow.",
            }
        ]
    }


async def test_missing_required_parameters_are_406_with_the_body_echoed(wire, fake):
    fake.configure_workflow(42, WorkflowConfig(required_params=("Message", "Count")))
    params = {"Count": 3, "other": [1, 2]}
    result = await wire.run(fake, 42, params)
    assert result.status == 406
    assert result.body["parameters"] == params
    [error] = result.body["errors"]
    assert error["code"] == "invalid"
    assert error["status"] == 406
    assert "Ensure parameter 'Message' is present." in error["title"]
    assert (await wire.run(fake, 42, {"Message": "m", "Count": 1})).status == 200


async def test_running_a_run_id_is_409(wire, fake):
    run_id = (await wire.run(fake, 42)).body["id"]
    result = await wire.run(fake, run_id)
    assert result.status == 409
    [error] = result.body["errors"]
    assert error["code"] == "invalid"
    assert error["status"] == 409
    assert f"with Id {run_id} is an instance/run" in error["title"]
    assert len(fake.executions) == 1


@pytest.mark.parametrize(
    ("status", "expect"),
    [
        (400, {"errors": [{"code": "invalid", "status": 400, "title": "Bad Request"}]}),
        (401, {"message": "Authentication error"}),
        (403, {"code": 50000010, "message": "You do not have the Workflow Run Access permission."}),
        (404, {"errors": [{"code": "invalid", "status": 404, "title": "Workflow 5 is not found"}]}),
        (429, {"message": "API rate limit exceeded"}),
        (500, {"message": "An unexpected error occurred."}),
    ],
)
async def test_force_status_answers_that_status(wire, fake, status, expect):
    fake.configure_workflow(5, force_status=status)
    result = await wire.run(fake, 5)
    assert result.status == status
    assert result.body == expect
    assert fake.executions == []


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_forced_gateway_errors_are_html(wire, fake, status):
    fake.configure_workflow(5, force_status=status)
    result = await wire.run(fake, 5)
    assert result.status == status
    assert result.headers["Content-Type"].startswith("text/html")
    assert str(status) in result.body


async def test_force_body_overrides_the_default(wire, fake):
    fake.configure_workflow(5, force_status=418, force_body={"teapot": True})
    result = await wire.run(fake, 5)
    assert (result.status, result.body) == (418, {"teapot": True})


def test_workflow_config_validates():
    with pytest.raises(ValueError, match="failed_tasks"):
        WorkflowConfig(task_count=1, failed_tasks=2)
    with pytest.raises(ValueError, match="force_status"):
        WorkflowConfig(force_status=99)


async def test_common_headers(wire, fake):
    result = await wire.run(fake, headers={"Zuora-Track-Id": "trace-1"})
    assert uuid.UUID(result.headers["Zuora-Request-Id"])
    assert len(result.headers["Zuora-Request-Id"]) == 36
    assert result.headers["Zuora-Track-Id"] == "trace-1"
    # Zuora's multi-window shape: the closest window's limit, then every window's quota.
    windows = "50000;w=60, 2250000;w=3600, 27000000;w=86400"
    assert result.headers["RateLimit-Limit"] == f"50000, {windows}"
    assert result.headers["RateLimit-Remaining"] == "49999"
    assert result.headers["RateLimit-Reset"] == "60"
    assert fake.executions[0].track_id == "trace-1"
    plain = await wire.run(fake)
    assert "Zuora-Track-Id" not in plain.headers
    assert plain.headers["Zuora-Request-Id"] != result.headers["Zuora-Request-Id"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Idempotency-Key": "k" * 256},
        {"Zuora-Track-Id": "t" * 65},
        {"Zuora-Track-Id": "a:b"},
        {"Zuora-Track-Id": "quote'd"},
    ],
    ids=["long-key", "long-track-id", "colon", "quote"],
)
async def test_documented_header_limits_are_enforced(wire, fake, headers):
    result = await wire.run(fake, headers=headers)
    assert result.status == 400
    assert fake.executions == []


async def test_large_responses_are_gzipped_when_accepted(wire, fake):
    fake.configure_workflow(42, required_params=("missing",))
    params = {f"p{i}": "x" * 20 for i in range(60)}
    zipped = await wire.run(fake, 42, params, headers={"Accept-Encoding": "gzip"})
    assert zipped.status == 406
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert fake.requests[-1].response_headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.raw))["parameters"] == params
    plain = await wire.run(fake, 42, params, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert "Content-Encoding" not in fake.requests[-1].response_headers
    assert len(plain.raw) > 1000
    assert json.loads(plain.raw) == zipped.body


async def test_small_responses_are_never_gzipped(wire, fake):
    result = await wire.run(fake, headers={"Accept-Encoding": "gzip"})
    assert len(result.raw) <= 1000
    assert "Content-Encoding" not in result.headers
