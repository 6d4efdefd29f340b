"""The retry rules live here, as data.

``classify`` turns one failed attempt (an error leaf or a transport error) into a decision:
``Retry`` (optionally after a server-given wait, optionally after refreshing the token) or
``GiveUp``. The loop that acts on decisions lives in ``_retrying``; this module only knows
what each failure means, so it is tested from a table without a socket or a sleep.

Why these rules are safe: every request we retry is idempotent. A run POST carries an
``Idempotency-Key`` fixed before the first attempt and the same body bytes, so a retry after
a timeout or a 5xx returns the first run instead of starting another; GETs and the stop PUT
are idempotent by nature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from zuora_wf_async._core.ratelimit import parse_retry_after
from zuora_wf_async._core.requests import TOKEN_PATH, PreparedRequest
from zuora_wf_async._core.responses import RawResponse, api_error
from zuora_wf_async._errors import (
    IdempotencyInProgressError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
    TransportError,
    UnauthorizedError,
    ZuoraAPIError,
)

__all__ = [
    "Decision",
    "GiveUp",
    "Retry",
    "RetryBudget",
    "RetryPolicy",
    "backoff_delay",
    "classify",
    "classify_response",
]

# Gateway and availability failures; 501/505 mean "never going to work" and are not here.
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})


@attrs.frozen
class Retry:
    """Try again: after ``after`` seconds if the server said so, else on the backoff curve."""

    reason: str
    after: float | None = None
    refresh_auth: bool = False
    # Server-paced waits (429) are not a sign of an outage, so they do not spend the budget.
    spends_budget: bool = True


@attrs.frozen
class GiveUp:
    reason: str


Decision = Retry | GiveUp


def classify(error: BaseException) -> Decision:
    """What to do after an attempt failed with ``error``."""
    if isinstance(error, TransportError):
        return Retry(f"transport: {type(error).__name__}")
    if isinstance(error, RateLimitError):
        return Retry("429 rate limited", after=error.retry_after, spends_budget=False)
    if isinstance(error, ServerError):
        if error.status in RETRYABLE_SERVER_STATUSES:
            return Retry(f"{error.status} server error", after=_retry_after(error))
        return GiveUp(f"{error.status} server error is not transient")
    if isinstance(error, UnauthorizedError):
        if error.path == TOKEN_PATH:
            return GiveUp("401 from /oauth/token: the client credentials are wrong")
        return Retry("401: refresh the token once", after=0.0, refresh_auth=True)
    if isinstance(error, IdempotencyInProgressError):
        return Retry("409: same Idempotency-Key still in progress")
    if isinstance(error, ZuoraAPIError):
        # 400, 403, 404, 406, 422 and the 409s other than "in progress" will not change.
        return GiveUp(f"{error.status} is final")
    return GiveUp(f"{type(error).__name__} is not retryable")


def _retry_after(error: ZuoraAPIError) -> float | None:
    # Zuora's guide asks clients to honour Retry-After on 503 as well as on 429.
    return parse_retry_after(error.headers)


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    idempotency_key: str | None = "key",
) -> Decision:
    """``classify`` for a raw ``(status, headers, body)``, as the table tests drive it."""
    request = PreparedRequest(
        method="POST",
        url="https://zuora.invalid/workflows/1/run",
        path="/workflows/1/run",
        headers={},
        idempotency_key=idempotency_key,
    )
    return classify(api_error(RawResponse(status=status, headers=headers, body=body), request))


def backoff_delay(attempt: int, *, base: float, cap: float, random: Callable[[], float]) -> float:
    """Capped exponential backoff with full jitter: ``U(0, min(cap, base * 2**(attempt-1)))``.

    Full jitter spreads a thundering herd evenly, which is what Zuora's guide recommends;
    ``random`` is injected (``random.Random(seed).random``) so tests know every delay.
    """
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return ceiling * random()


def _positive(field: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and field == "deadline":
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidRequestError(
                f"RetryPolicy.{field}", f"must be a positive number, got {value!r}", _FIXES[field]
            )

    return check


_FIXES = {
    "max_attempts": "pass the number of tries including the first, e.g. 5 (1 disables retries)",
    "base_delay": "pass seconds, e.g. 0.5",
    "max_delay": "pass seconds, e.g. 30",
    "deadline": "pass seconds for the whole call including retries, or None for no limit",
}


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard one call tries.

    ``max_attempts`` counts every try including the first. ``deadline`` bounds the whole
    call, retries and waits included: no attempt's timeout outlives it, and a ``Retry-After``
    longer than the time left gives up at once instead of sleeping past it.
    """

    max_attempts: int = attrs.field(default=5, validator=_positive("max_attempts"))
    base_delay: float = attrs.field(default=0.5, validator=_positive("base_delay"))
    max_delay: float = attrs.field(default=30.0, validator=_positive("max_delay"))
    deadline: float | None = attrs.field(default=300.0, validator=_positive("deadline"))

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.max_attempts, int):
            raise InvalidRequestError(
                "RetryPolicy.max_attempts",
                f"must be a whole number, got {self.max_attempts!r}",
                _FIXES["max_attempts"],
            )


class RetryBudget:
    """A token bucket of retries shared by every call on one client.

    Each retry spends one token; each success puts back ``refill`` tokens, up to
    ``capacity``. While Zuora is healthy the bucket stays full and retries are free; in an
    outage it drains after ``capacity`` retries and from then on a failure is returned at
    once, so the client adds at most ``refill`` retries per success instead of multiplying
    the load by ``max_attempts``.
    """

    def __init__(self, *, capacity: float = 100.0, refill: float = 0.2) -> None:
        if not capacity > 0 or not refill >= 0:
            raise InvalidRequestError(
                "RetryBudget",
                f"capacity must be > 0 and refill >= 0, got {capacity!r} and {refill!r}",
                "pass e.g. RetryBudget(capacity=100, refill=0.2)",
            )
        self.capacity = float(capacity)
        self.refill = float(refill)
        self.tokens = float(capacity)
        self.spent = 0
        self.refused = 0

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self.tokens:.1f}/{self.capacity:g}, refill={self.refill:g})"

    def try_spend(self) -> bool:
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.spent += 1
            return True
        self.refused += 1
        return False

    def record_success(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.refill)
