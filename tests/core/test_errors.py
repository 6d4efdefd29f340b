"""The error tree as drawn in ``_errors``' docstring, and the public API it belongs to."""

from __future__ import annotations

import importlib

import pytest

import zuora_wf_async
from zuora_wf_async import _errors
from zuora_wf_async._core.redact import register
from zuora_wf_async._errors import (
    BadRequestError,
    CalloutNotEnabledError,
    ClientStateError,
    ConflictError,
    ForbiddenError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    MissingParametersError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnauthorizedError,
    WorkflowIdIsRunError,
    ZuoraAPIError,
    ZuoraError,
)


@pytest.mark.parametrize(
    ("leaf", "bases"),
    [
        pytest.param(ZuoraError, (Exception,), id="ZuoraError"),
        pytest.param(InvalidRequestError, (ZuoraError, ValueError), id="InvalidRequestError"),
        pytest.param(ClientStateError, (ZuoraError, RuntimeError), id="ClientStateError"),
        pytest.param(TransportError, (ZuoraError,), id="TransportError"),
        pytest.param(RequestTimeoutError, (TransportError, TimeoutError), id="RequestTimeoutError"),
        pytest.param(ResponseDecodeError, (ZuoraError,), id="ResponseDecodeError"),
        pytest.param(ZuoraAPIError, (ZuoraError,), id="ZuoraAPIError"),
        pytest.param(BadRequestError, (ZuoraAPIError,), id="BadRequestError"),
        pytest.param(CalloutNotEnabledError, (BadRequestError,), id="CalloutNotEnabledError"),
        pytest.param(UnauthorizedError, (ZuoraAPIError,), id="UnauthorizedError"),
        pytest.param(ForbiddenError, (ZuoraAPIError,), id="ForbiddenError"),
        pytest.param(NotFoundError, (ZuoraAPIError,), id="NotFoundError"),
        pytest.param(MissingParametersError, (ZuoraAPIError,), id="MissingParametersError"),
        pytest.param(ConflictError, (ZuoraAPIError,), id="ConflictError"),
        pytest.param(WorkflowIdIsRunError, (ConflictError,), id="WorkflowIdIsRunError"),
        pytest.param(IdempotencyInProgressError, (ConflictError,), id="IdempotencyInProgressError"),
        pytest.param(IdempotencyKeyReusedError, (ZuoraAPIError,), id="IdempotencyKeyReusedError"),
        pytest.param(RateLimitError, (ZuoraAPIError,), id="RateLimitError"),
        pytest.param(ServerError, (ZuoraAPIError,), id="ServerError"),
    ],
)
def test_error_tree_matches_the_drawing(leaf, bases):
    """Each class has exactly the parents drawn in the errors module's docstring."""
    assert leaf.__bases__ == bases
    assert issubclass(leaf, ZuoraError)


@pytest.mark.parametrize(
    ("leaf", "not_a"),
    [
        pytest.param(IdempotencyKeyReusedError, ConflictError, id="422-is-not-a-conflict"),
        pytest.param(CalloutNotEnabledError, ConflictError, id="callout-is-not-a-conflict"),
        pytest.param(RequestTimeoutError, ZuoraAPIError, id="timeout-is-not-an-api-answer"),
        pytest.param(ResponseDecodeError, ZuoraAPIError, id="decode-is-not-an-api-error"),
        pytest.param(InvalidRequestError, ZuoraAPIError, id="local-is-not-remote"),
    ],
)
def test_error_tree_keeps_branches_apart(leaf, not_a):
    assert not issubclass(leaf, not_a)


def test_every_error_is_exported_from_errors_and_the_package():
    exported = {
        name
        for name in vars(_errors)
        if isinstance(getattr(_errors, name), type)
        and issubclass(getattr(_errors, name), ZuoraError)
    }
    assert exported == set(_errors.__all__)
    assert exported <= set(zuora_wf_async.__all__)


def test_invalid_request_error_message_names_field_problem_and_fix():
    error = InvalidRequestError("params['id']", "is a name Zuora reserves", "rename it")
    assert error.field == "params['id']"
    assert error.problem == "is a name Zuora reserves"
    assert error.fix == "rename it"
    assert str(error) == "params['id']: is a name Zuora reserves; rename it"
    assert isinstance(error, ValueError)


def test_zuora_api_error_carries_data():
    error = ZuoraAPIError(
        "boom",
        status=503,
        method="POST",
        path="/p",
        request_id="r",
        track_id="t",
        idempotency_key="k",
        messages=["a", "b"],
        body={"x": 1},
        headers={"H": "v"},
    )
    assert (error.status, error.method, error.path) == (503, "POST", "/p")
    assert (error.request_id, error.track_id, error.idempotency_key) == ("r", "t", "k")
    assert error.messages == ("a", "b")
    assert error.body == {"x": 1}
    assert error.headers == {"H": "v"}
    assert str(error) == "boom"


def test_a_hand_built_api_error_scrubs_its_headers_names_and_values():
    """The error's constructor is where a response's headers are scrubbed, so one built
    by hand is scrubbed as one built from an answer: names too, credentials whole."""
    secret = "hand-built-secret-7e4d2c1b"
    register(secret)
    error = ZuoraAPIError(
        "boom",
        status=500,
        headers={f"X-{secret}": f"Bearer {secret}", "Set-Cookie": "session=s", "Date": "d"},
    )
    assert dict(error.headers) == {"X-***": "Bearer ***", "Set-Cookie": "***", "Date": "d"}
    assert error.headers["x-***"] == "Bearer ***"  # still case-insensitive


def test_errors_start_with_no_attempts():
    """attempts and elapsed stay 0 until the client records a give-up."""
    error = InvalidRequestError("f", "p", "x")
    assert error.attempts == 0
    assert error.elapsed == 0.0


def test_rate_limit_and_missing_parameters_keep_their_extras():
    rate = RateLimitError("slow down", status=429, retry_after=3.0)
    assert rate.retry_after == 3.0
    assert rate.rate_limit is None
    missing = MissingParametersError("need more", status=406, parameters={"a": 1})
    assert missing.parameters == {"a": 1}
    assert missing.status == 406


def test_transport_error_carries_the_key_for_a_safe_retry():
    error = RequestTimeoutError("timed out", method="POST", path="/p", idempotency_key="k")
    assert error.idempotency_key == "k"
    assert isinstance(error, TimeoutError)


# --- the public API ----------------------------------------------------------------------

PUBLIC_API = [
    "BadRequestError",
    "BatchError",
    "BatchInputError",
    "BatchJournal",
    "BearerToken",
    "CalloutNotEnabledError",
    "ClientStateError",
    "ClientStats",
    "ConfigurationError",
    "ConflictError",
    "ForbiddenError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "InvalidRequestError",
    "JournalBusyError",
    "JournalError",
    "MissingParametersError",
    "NotFoundError",
    "OAuthCredentials",
    "Progress",
    "RateLimitError",
    "RateLimitInfo",
    "RequestEvent",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseEvent",
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "RunOutcome",
    "RunRequest",
    "RunStatus",
    "RunStream",
    "RunWaitTimeoutError",
    "ServerError",
    "SharedLimits",
    "SharedLimitsError",
    "Task",
    "TaskCounts",
    "TaskRerunOutcome",
    "TaskStatus",
    "TaskUpdate",
    "TaskUpdateError",
    "TaskUsage",
    "TransportError",
    "UnauthorizedError",
    "Workflow",
    "WorkflowClient",
    "WorkflowDeletion",
    "WorkflowExport",
    "WorkflowIdIsRunError",
    "WorkflowNotRunnableError",
    "WorkflowRun",
    "WorkflowRunDetail",
    "WorkflowStatus",
    "WorkflowValidationError",
    "WorkflowVersionRef",
    "ZuoraAPIError",
    "ZuoraError",
    "__version__",
    "derive_key",
    "from_dict",
    "raise_for_failures",
    "to_dict",
]


def test_public_api_is_pinned():
    """Adding or removing a public name is a deliberate change to this list."""
    assert zuora_wf_async.__all__ == PUBLIC_API


def test_public_all_is_sorted_and_unique():
    names = zuora_wf_async.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", zuora_wf_async.__all__)
def test_every_public_name_is_importable(name):
    module = importlib.import_module("zuora_wf_async")
    assert getattr(module, name) is not None


@pytest.mark.parametrize("name", _errors.__all__)
def test_errors_all_names_exist(name):
    assert isinstance(getattr(_errors, name), type)
