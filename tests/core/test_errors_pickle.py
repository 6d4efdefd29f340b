"""Every error of the package survives pickle, its attributes and message intact.

A process pool, a task queue (Celery, RQ) or multiprocessing sends what a worker raised
back to its parent by pickling it. Python's default rebuilds an exception by calling its
class with ``.args``, which fails for errors whose constructors take keyword-only
arguments (every ``ZuoraAPIError``), and a response's headers (a read-only multidict)
did not pickle at all.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from zuora_wf_async import (
    BatchError,
    BatchInputError,
    ClientStateError,
    ConflictError,
    InvalidRequestError,
    MissingParametersError,
    RateLimitError,
    RateLimitInfo,
    RequestTimeoutError,
    ResponseDecodeError,
    RunOutcome,
    RunStatus,
    RunWaitTimeoutError,
    ServerError,
    TaskUpdateError,
    TransportError,
    WorkflowNotRunnableError,
    WorkflowRunDetail,
    WorkflowValidationError,
    ZuoraError,
)

_API = {
    "status": 503,
    "method": "POST",
    "path": "/workflows/396/run",
    "request_id": "req-1",
    "track_id": "trk-1",
    "idempotency_key": "key-1",
    "messages": ["try later"],
    "body": {"errors": [{"title": "try later"}]},
    "headers": {"Zuora-Request-Id": "req-1", "Retry-After": "3"},
}
_DETAIL = WorkflowRunDetail(
    id=7,
    name="WF-396-00000007",
    status=RunStatus.PROCESSING,
    original_workflow_id=396,
    created_at=datetime(2026, 12, 8, tzinfo=UTC),
    updated_at=datetime(2026, 12, 8, tzinfo=UTC),
)

ERRORS: list[ZuoraError] = [
    ZuoraError("plain"),
    ClientStateError("the client is closed"),
    InvalidRequestError("idempotency_key", "is empty", "pass a key or None"),
    TransportError("dropped", method="POST", path="/workflows/1/run", idempotency_key="k"),
    RequestTimeoutError("timed out", method="GET", path="/workflows/1"),
    ResponseDecodeError("not JSON", field="createdAt", status=200),
    ServerError("Zuora answered 503", **_API),
    ConflictError("409", **{**_API, "status": 409}),
    MissingParametersError("406", parameters={"accountId": "missing"}, **{**_API, "status": 406}),
    RateLimitError(
        "429",
        retry_after=3.0,
        rate_limit=RateLimitInfo(limit=50000, remaining=0, reset=3.0),
        **{**_API, "status": 429},
    ),
    WorkflowValidationError("422", reasons=[("name", "is taken")], **{**_API, "status": 422}),
    RunWaitTimeoutError(
        "still Processing", run_id=7, timeout=60.0, last_detail=_DETAIL, polls=4, elapsed=60.0
    ),
    WorkflowNotRunnableError("inactive", workflow_id=396, reason="the workflow is Inactive"),
    TaskUpdateError(
        "failed",
        updated=[],
        failed_ids=[1, 2],
        error=ServerError("503", **_API),
        unsent_ids=[3],
    ),
    BatchInputError(cause=ValueError("bad row"), items_read=3),
]


def _state(error: BaseException) -> dict[str, Any]:
    state = {key: value for key, value in vars(error).items() if key not in {"headers", "error"}}
    if hasattr(error, "headers"):
        state["headers"] = sorted(error.headers.items())
    if isinstance(getattr(error, "error", None), BaseException):
        state["error"] = (type(error.error), str(error.error))
    return state


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_an_error_comes_back_from_pickle_as_it_went(error):
    error.attempts, error.elapsed, error.may_have_run = 3, 1.5, True

    back = pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes

    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.args == error.args
    assert _state(back) == _state(error)
    assert (back.attempts, back.elapsed, back.may_have_run) == (3, 1.5, True)


def test_headers_come_back_read_only_and_case_insensitive():
    back = pickle.loads(pickle.dumps(ServerError("503", **_API)))  # noqa: S301 -- our own bytes
    assert back.headers["retry-after"] == "3"
    with pytest.raises(TypeError):
        back.headers["Retry-After"] = "0"  # type: ignore[index]


def test_a_batch_error_comes_back_with_its_outcomes_and_its_group():
    failed = [
        RunOutcome(
            index=i, params={"n": i}, idempotency_key=f"k{i}", error=ServerError("503", **_API)
        )
        for i in (2, 5)
    ]
    error = BatchError("2 run(s) failed: items 2, 5", failed)
    error.may_have_run = True

    back = pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes

    assert type(back) is BatchError
    assert str(back) == str(error)
    assert [o.index for o in back.outcomes] == [2, 5]
    assert [type(e) for e in back.exceptions] == [ServerError, ServerError]
    assert back.outcomes[0].error is back.exceptions[0]  # one error, not two copies
    assert back.may_have_run is True
