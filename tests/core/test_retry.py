"""The retry rules as a table: one row per failure, no sockets, no sleeps."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping

import pytest

from zuora_wf_async import InvalidRequestError, RequestTimeoutError, TransportError
from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._core.retry import Decision, GiveUp, Retry, RetryBudget, RetryPolicy, classify


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    idempotency_key: str | None = "key",
    path: str = "/workflows/399/run",
) -> Decision:
    """``classify`` for a raw answer to a POST to ``path`` (399: the id of Zuora's
    documented 409 example), read into its error leaf as the call loop does."""
    request = PreparedRequest(
        method="POST",
        url=f"https://zuora.invalid{path}",
        path=path,
        headers={},
        idempotency_key=idempotency_key,
    )
    return classify(api_error(RawResponse(status=status, headers=headers, body=body), request))


def errors_body(status: int, title: str) -> bytes:
    return json.dumps({"errors": [{"code": "invalid", "status": status, "title": title}]}).encode()


# Zuora's official example for a run id passed as a workflow id (POST
# /workflows/{workflow_id}/run, 409, in the Workflow API's OpenAPI document), verbatim:
# ``classify_response`` sends its request to /workflows/399/run, the id it names.
RUN_409_INSTANCE = json.dumps(
    {
        "errors": [
            {
                "code": "invalid",
                "status": 406,
                "title": "Workflow WF-396-00000002 with Id 399 is an instance/run.",
            }
        ]
    }
).encode()
RUN_409_IN_PROGRESS = errors_body(409, "A request with this Idempotency-Key is in progress.")
# Mentions an "instance" and says nothing about the workflow id (issue 22).
RUN_409_ANOTHER_INSTANCE = errors_body(
    409, "This request is already being processed by another instance; retry later"
)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(429, {}, b"", Retry("429 rate limited", spends_budget=False), id="429-bare"),
        pytest.param(
            429,
            {"Retry-After": "7"},
            b"",
            Retry("429 rate limited", after=7.0, spends_budget=False),
            id="429-retry-after-seconds",
        ),
        pytest.param(
            429,
            {"RateLimit-Remaining": "0", "RateLimit-Reset": "12"},
            b"",
            Retry("429 rate limited", after=12.0, spends_budget=False),
            id="429-ratelimit-reset",
        ),
        pytest.param(
            429,
            {"Retry-After": "3", "RateLimit-Reset": "12"},
            b"",
            Retry("429 rate limited", after=3.0, spends_budget=False),
            id="429-retry-after-wins-over-reset",
        ),
        pytest.param(500, {}, b"oops", Retry("500 server error"), id="500"),
        pytest.param(502, {}, b"<html>bad gateway</html>", Retry("502 server error"), id="502"),
        pytest.param(
            503, {"Retry-After": "2"}, b"", Retry("503 server error", after=2.0), id="503-after"
        ),
        pytest.param(504, {}, b"", Retry("504 server error"), id="504"),
        pytest.param(501, {}, b"", GiveUp("501 server error is not transient"), id="501"),
        pytest.param(
            401,
            {},
            b'{"message": "Authentication error"}',
            Retry("401: refresh the token once", after=0.0, refresh_auth=True),
            id="401-refresh",
        ),
        pytest.param(
            409,
            {},
            RUN_409_IN_PROGRESS,
            Retry("409: same Idempotency-Key still in progress"),
            id="409-same-key-in-progress",
        ),
        pytest.param(
            409, {}, RUN_409_INSTANCE, GiveUp("409 is final"), id="409-documented-id-is-a-run"
        ),
        pytest.param(
            409,
            {},
            RUN_409_ANOTHER_INSTANCE,
            Retry("409: same Idempotency-Key still in progress"),
            id="409-another-instance-is-in-progress",
        ),
        pytest.param(
            409,
            {},
            errors_body(409, "The provided workflow_id references a workflow instance."),
            Retry("409: same Idempotency-Key still in progress"),
            id="409-loose-instance-words-are-in-progress",
        ),
        pytest.param(400, {}, errors_body(400, "Callout"), GiveUp("400 is final"), id="400"),
        pytest.param(403, {}, b'{"code": 1, "message": "no"}', GiveUp("403 is final"), id="403"),
        pytest.param(404, {}, b"", GiveUp("404 is final"), id="404"),
        pytest.param(406, {}, errors_body(406, "Required"), GiveUp("406 is final"), id="406"),
        pytest.param(422, {}, errors_body(422, "reused"), GiveUp("422 is final"), id="422"),
    ],
)
def test_classify_response(status, headers, body, expected):
    assert classify_response(status, headers, body) == expected


def test_a_gzipped_error_body_is_classified_by_its_content():
    headers = {"Content-Encoding": "gzip"}
    assert classify_response(409, headers, gzip.compress(RUN_409_INSTANCE)) == GiveUp(
        "409 is final"
    )


def test_an_unknown_409_without_a_key_is_final():
    assert classify_response(409, {}, b"{}", idempotency_key=None) == GiveUp("409 is final")


def test_the_documented_409_naming_another_id_is_in_progress():
    """The documented wording is an id-is-a-run answer only for the id the path holds."""
    assert classify_response(409, {}, RUN_409_INSTANCE, path="/workflows/396/run") == Retry(
        "409: same Idempotency-Key still in progress"
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            TransportError("connection reset"), Retry("transport: TransportError"), id="transport"
        ),
        pytest.param(
            RequestTimeoutError("slow"), Retry("transport: RequestTimeoutError"), id="timeout"
        ),
        pytest.param(
            InvalidRequestError("f", "bad", "fix"),
            GiveUp("InvalidRequestError is not retryable"),
            id="local-input",
        ),
        pytest.param(ValueError("x"), GiveUp("ValueError is not retryable"), id="foreign"),
    ],
)
def test_classify_exceptions(error, expected):
    assert classify(error) == expected


@pytest.mark.parametrize(
    ("options", "field"),
    [
        pytest.param({"max_attempts": 0}, "RetryPolicy.max_attempts", id="attempts-zero"),
        pytest.param({"max_attempts": 2.5}, "RetryPolicy.max_attempts", id="attempts-float"),
        pytest.param({"base_delay": -1}, "RetryPolicy.base_delay", id="base-negative"),
        pytest.param({"max_delay": 0}, "RetryPolicy.max_delay", id="max-zero"),
        pytest.param({"deadline": 0}, "RetryPolicy.deadline", id="deadline-zero"),
    ],
)
def test_retry_policy_rejects_nonsense(options, field):
    with pytest.raises(InvalidRequestError) as caught:
        RetryPolicy(**options)
    assert caught.value.field == field


def test_retry_policy_allows_no_deadline():
    assert RetryPolicy(deadline=None).deadline is None


def test_the_budget_drains_under_failure_and_refills_on_success():
    budget = RetryBudget(capacity=3, refill=0.5)

    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]
    assert budget.refused == 1
    budget.record_success()
    assert budget.try_spend() is False  # half a token is not a retry
    budget.record_success()
    assert budget.try_spend() is True
    for _ in range(100):
        budget.record_success()
    assert budget.tokens == 3  # never above capacity


def test_the_budget_rejects_nonsense():
    with pytest.raises(InvalidRequestError):
        RetryBudget(capacity=0)
