"""Every retry rule, one table row each: what a call does after a failed attempt.

``next_step`` is pure: the failure and what the call knows go in, ``Resend`` or ``Stop``
comes out. The loop (``_call.Call.run``) only acts on it, so these rows are the rules.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.requests import TOKEN_PATH, prepare_run
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._core.retry import (
    Resend,
    RetryPolicy,
    Stop,
    may_have_run,
    next_step,
)
from zuora_wf_async._errors import (
    BadRequestError,
    IdempotencyInProgressError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnauthorizedError,
)

POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0, deadline=60.0)
NO_DEADLINE = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0, deadline=None)


def api(cls: type, status: int, **extra: Any) -> Any:
    return cls(f"{status}", status=status, method="POST", path="/workflows/1/run", **extra)


def facts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "policy": POLICY,
        "failures": 1,
        "auth_resends": 0,
        "refreshed": False,
        "token_replaced": False,
        "can_refresh": True,
        "time_left": 60.0,
        "budget_left": True,
    }
    base.update(overrides)
    # The loop's backoff schedule: the ceiling after this many failures, half-jittered.
    policy = base["policy"]
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** (base["failures"] - 1))
    base.setdefault("backoff", ceiling * 0.5)
    return base


TIMEOUT = RequestTimeoutError("timed out", method="POST", path="/workflows/1/run")
DROPPED = TransportError("dropped", method="POST", path="/workflows/1/run")
IN_PROGRESS = api(IdempotencyInProgressError, 409)
RUN_399 = prepare_run(
    base_url="https://rest.test.zuora.com", workflow_id=399, body=b"{}", idempotency_key="k-1"
)
# Zuora's official example of the 409 for a run id given as a workflow id, verbatim.
INSTANCE_409 = json.dumps(
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
ANOTHER_INSTANCE_409 = json.dumps(
    {
        "errors": [
            {"title": "This request is already being processed by another instance; retry later"}
        ]
    }
).encode()

RULES = [
    # (row id, failure, facts, expected step)
    (
        "transport error: back off (1st: U(0, 1s))",
        DROPPED,
        facts(),
        Resend("transport: TransportError", 0.5, spends_budget=True),
    ),
    (
        "timeout: back off on the curve (3rd: U(0, 4s))",
        TIMEOUT,
        facts(failures=2),
        Resend("transport: RequestTimeoutError", 1.0, spends_budget=True),
    ),
    (
        "the curve is capped at max_delay",
        TIMEOUT,
        facts(failures=2, policy=RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=1.5)),
        Resend("transport: RequestTimeoutError", 0.75, spends_budget=True),
    ),
    (
        "500/502/503/504: back off",
        api(ServerError, 503),
        facts(),
        Resend("503 server error", 0.5, spends_budget=True),
    ),
    (
        "503 with Retry-After: wait what it says",
        api(ServerError, 503, headers={"Retry-After": "7"}),
        facts(),
        Resend("503 server error", 7.0, spends_budget=True),
    ),
    (
        "501 is not transient",
        api(ServerError, 501),
        facts(),
        Stop("501 server error is not transient"),
    ),
    (
        "429: wait Retry-After, without spending the budget",
        api(RateLimitError, 429, retry_after=3.0),
        facts(budget_left=False),
        Resend("429 rate limited", 3.0),
    ),
    (
        "429 with Retry-After: 0 backs off instead of a tight loop",
        api(RateLimitError, 429, retry_after=0.0),
        facts(),
        Resend("429 rate limited", 0.5),
    ),
    (
        "a delay longer than the time left stops at once",
        api(RateLimitError, 429, retry_after=30.0),
        facts(time_left=5.0),
        Stop("waiting 30s would pass the deadline (5s left)", exhausted=True, past_deadline=True),
    ),
    (
        "a delay equal to the time left stops too",
        DROPPED,
        facts(time_left=0.5),
        Stop(
            "waiting 0.5s would pass the deadline (0.5s left)", exhausted=True, past_deadline=True
        ),
    ),
    (
        "a resend left with under a second before the deadline is not started",
        DROPPED,
        facts(time_left=1.2),
        Stop(
            "after waiting 0.5s, less than 1s would be left for the next attempt "
            "(1.2s left before the deadline)",
            exhausted=True,
            past_deadline=True,
        ),
    ),
    (
        "a short deadline needs a tenth of itself for the next attempt",
        DROPPED,
        facts(time_left=0.6, policy=RetryPolicy(max_attempts=3, base_delay=1.0, deadline=2.0)),
        Stop(
            "after waiting 0.5s, less than 0.2s would be left for the next attempt "
            "(0.6s left before the deadline)",
            exhausted=True,
            past_deadline=True,
        ),
    ),
    (
        "max_attempts made: stop",
        DROPPED,
        facts(failures=3),
        Stop("3 attempts made", exhausted=True),
    ),
    (
        "an empty budget refuses a retry that spends it",
        DROPPED,
        facts(budget_left=False),
        Stop("the client's retry budget is exhausted", exhausted=True, out_of_budget=True),
    ),
    (
        "401: refresh the token and resend at once, not counted",
        api(UnauthorizedError, 401),
        facts(failures=3),
        Resend(
            "401: refresh the token",
            0.0,
            refresh_token=True,
            counts_as_attempt=False,
            auth_resend=True,
        ),
    ),
    (
        "401 on a token another call replaced: resend with the new one, no refresh",
        api(UnauthorizedError, 401),
        facts(refreshed=True, token_replaced=True),
        Resend("401: refresh the token", 0.0, counts_as_attempt=False, auth_resend=True),
    ),
    (
        "401 on the token this call fetched (revoked again): refresh again",
        api(UnauthorizedError, 401),
        facts(refreshed=True, auth_resends=1),
        Resend(
            "401: refresh the token",
            0.0,
            refresh_token=True,
            counts_as_attempt=False,
            auth_resend=True,
        ),
    ),
    (
        "401 again on the token this call fetched, twice: final",
        api(UnauthorizedError, 401),
        facts(refreshed=True, auth_resends=2),
        Stop("401 again after 2 token refreshes"),
    ),
    (
        "401 resends are bounded by max_attempts on their own count",
        api(UnauthorizedError, 401),
        facts(auth_resends=3, token_replaced=True),
        Stop("401 again after 3 token refreshes"),
    ),
    (
        "401 with a fixed bearer token: stop",
        api(UnauthorizedError, 401),
        facts(can_refresh=False),
        Stop("401 with a fixed bearer token, which cannot be refreshed"),
    ),
    (
        "401 from /oauth/token: the credentials are wrong",
        UnauthorizedError("401", status=401, method="POST", path=TOKEN_PATH),
        facts(),
        Stop("401 from /oauth/token: the client credentials are wrong"),
    ),
    (
        "409 in progress under a deadline: past max_attempts, no budget spent",
        IN_PROGRESS,
        facts(failures=9, budget_left=False),
        Resend("409: same Idempotency-Key still in progress", 4.0, counts_as_attempt=False),
    ),
    (
        "409 in progress still ends at the deadline",
        IN_PROGRESS,
        facts(failures=9, time_left=1.0),
        Stop("waiting 4s would pass the deadline (1s left)", exhausted=True, past_deadline=True),
    ),
    (
        "409 in progress without a deadline: max_attempts is the bound",
        IN_PROGRESS,
        facts(policy=NO_DEADLINE, failures=3, time_left=math.inf),
        Stop("3 attempts made", exhausted=True),
    ),
    ("400 is final", api(BadRequestError, 400), facts(), Stop("400 is final")),
    ("404 is final", api(NotFoundError, 404), facts(), Stop("404 is final")),
    (
        "an unreadable 2xx is final",
        ResponseDecodeError("bad"),
        facts(),
        Stop("ResponseDecodeError is not retryable"),
    ),
]


@pytest.mark.parametrize(
    ("failure", "known", "expected"), [row[1:] for row in RULES], ids=[row[0] for row in RULES]
)
def test_next_step(failure, known, expected):
    assert next_step(failure, **known) == expected


MAY_HAVE_RUN = [
    ("no answer to a POST", DROPPED, "POST", True),
    ("a timeout of a POST", TIMEOUT, "POST", True),
    ("a 5xx to a POST", api(ServerError, 502), "POST", True),
    ("a 500 to a POST", api(ServerError, 500), "POST", True),
    ("a 501 to a POST was refused: not implemented", api(ServerError, 501), "POST", False),
    ("409 in progress", IN_PROGRESS, "POST", True),
    ("an unreadable 2xx to a POST", ResponseDecodeError("bad"), "POST", True),
    ("a 429 was refused, not run", api(RateLimitError, 429), "POST", False),
    ("a 400 was refused", api(BadRequestError, 400), "POST", False),
    ("a 401 was refused", api(UnauthorizedError, 401), "POST", False),
    ("a GET has nothing to run", DROPPED, "GET", False),
    ("a PUT (stop) with no answer", DROPPED, "PUT", True),
    (
        "409 'another instance; retry later' to a keyed run POST: in progress, may have run",
        api_error(
            RawResponse(status=409, headers={}, body=ANOTHER_INSTANCE_409),
            RUN_399,
        ),
        "POST",
        True,
    ),
    (
        "409 in Zuora's documented words for the id in the path: a run id, nothing ran",
        api_error(RawResponse(status=409, headers={}, body=INSTANCE_409), RUN_399),
        "POST",
        False,
    ),
]


@pytest.mark.parametrize(
    ("error", "method", "expected"),
    [row[1:] for row in MAY_HAVE_RUN],
    ids=[row[0] for row in MAY_HAVE_RUN],
)
def test_may_have_run(error, method, expected):
    assert may_have_run(error, method=method) is expected
