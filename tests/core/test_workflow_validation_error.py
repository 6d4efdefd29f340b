"""PATCH /workflows/{id}'s 422 is a validation failure, the run POST's 422 a reused key.

The two share a status; ``api_error`` tells them apart by the request (and, on PATCH, by
a message about the key). Checked from a table, then once end to end against FakeZuora.
"""

from __future__ import annotations

import json

import pytest

from zuora_wf_async import (
    IdempotencyKeyReusedError,
    WorkflowClient,
    WorkflowValidationError,
    ZuoraAPIError,
)
from zuora_wf_async._core import definition_requests
from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.requests import prepare_run
from zuora_wf_async._core.responses import RawResponse

BASE = "https://rest.test.zuora.com"
PATCH = definition_requests.prepare_update_workflow(
    base_url=BASE, workflow_id=42, idempotency_key="key-1", status="Active"
)
RUN = prepare_run(base_url=BASE, workflow_id=42, body=b"{}", idempotency_key="key-1")
# The official example of PATCH /workflows/{workflow_id}'s 422.
REASONS = {
    "reasons": [
        {
            "fieldName": "status",
            "title": "on is not a valid status. Choose from Active or Inactive",
        },
        {"fieldName": "interval", "title": "The entered cron interval is not valid."},
    ],
    "success": False,
}
KEY_REUSED = {
    "errors": [
        {
            "code": "invalid",
            "status": 422,
            "title": "Idempotency-Key reused with a different request.",
        }
    ]
}


def _error(body: object, request: PreparedRequest) -> ZuoraAPIError:
    raw = RawResponse(
        status=422, headers={"Zuora-Request-Id": "req-9"}, body=json.dumps(body).encode()
    )
    return api_error(raw, request)


@pytest.mark.parametrize(
    ("body", "request_", "leaf"),
    [
        pytest.param(REASONS, PATCH, WorkflowValidationError, id="patch-reasons"),
        pytest.param({"success": False}, PATCH, WorkflowValidationError, id="patch-no-reasons"),
        pytest.param(KEY_REUSED, PATCH, IdempotencyKeyReusedError, id="patch-key-reused"),
        pytest.param(KEY_REUSED, RUN, IdempotencyKeyReusedError, id="run-key-reused"),
        pytest.param(REASONS, RUN, IdempotencyKeyReusedError, id="run-422-any-body"),
    ],
)
def test_a_422_is_read_by_its_request(body, request_, leaf):
    error = _error(body, request_)
    assert type(error) is leaf
    assert (error.status, error.method, error.request_id) == (422, request_.method, "req-9")


def test_a_validation_error_names_each_refused_field():
    error = _error(REASONS, PATCH)
    assert isinstance(error, WorkflowValidationError)
    assert [field for field, _ in error.reasons] == ["status", "interval"]
    assert "status: on is not a valid status" in str(error)
    assert "interval: The entered cron interval" in str(error)
    assert "PATCH /workflows/42" in str(error)
    assert "req-9" in str(error)
    assert error.idempotency_key == "key-1"
    assert not isinstance(error, IdempotencyKeyReusedError)


async def test_update_workflow_raises_it_against_the_fake(zuora: WorkflowClient) -> None:
    with pytest.raises(WorkflowValidationError) as caught:
        await zuora.update_workflow(42, active_version_id=999_999)
    assert caught.value.status == 422
    assert "active_workflow_version_id" in [field for field, _ in caught.value.reasons]
