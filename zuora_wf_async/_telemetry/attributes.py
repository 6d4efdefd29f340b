"""The values spans and metrics carry, from a call's path, value, error or answer.

Pure and tested from tables: every value here is bounded (a template, a category, a kind,
a type's name), so none of them makes a metric's cardinality grow with traffic.
"""

from __future__ import annotations

import functools
import re

from zuora_wf_async._core.pacing import Throttle, classify_429
from zuora_wf_async._core.ratelimit import parse_rate_limit
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._errors import (
    IdempotencyInProgressError,
    RateLimitError,
    ServerError,
    TransportError,
    UnauthorizedError,
    ZuoraAPIError,
)
from zuora_wf_async._models import WorkflowRun, WorkflowRunDetail

__all__ = [
    "attempt_error_type",
    "path_template",
    "retry_category",
    "run_id_of",
    "throttle_kind",
    "workflow_id_of",
]

_RUN_PATH = re.compile(r"^/workflows/workflow_runs/(\d+)(?:/|$)")
_WORKFLOW_PATH = re.compile(r"^/workflows/(\d+)(?:/|$)")


@functools.lru_cache(maxsize=1024)
def path_template(path: str) -> str:
    """A low-cardinality form of ``path`` for span names: id segments become ``{id}``."""
    return "/".join("{id}" if any(c.isdigit() for c in part) else part for part in path.split("/"))


def run_id_of(path: str, value: object) -> int | None:
    """The run a call was about: from a returned run, else from a run path."""
    if isinstance(value, WorkflowRun | WorkflowRunDetail):
        return value.id
    match = _RUN_PATH.match(path)
    return int(match[1]) if match else None


def workflow_id_of(path: str) -> int | None:
    """The workflow definition a path names (``/workflows/{id}...``), if any."""
    match = _WORKFLOW_PATH.match(path)
    return int(match[1]) if match else None


def retry_category(error: BaseException) -> str:
    """A bounded name for why an attempt is resent (a metric attribute)."""
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, TransportError):  # RequestTimeoutError included
        return "timeout" if isinstance(error, TimeoutError) else "transport"
    if isinstance(error, ServerError):
        return "server_error"
    if isinstance(error, UnauthorizedError):
        return "token_refresh"
    if isinstance(error, IdempotencyInProgressError):
        return "in_progress"
    return "other"


def throttle_kind(raw: RawResponse) -> str:
    """A 429's kind as ``_core.pacing`` tells it: ``quota`` (window spent) or ``concurrency``."""
    spent = classify_429(parse_rate_limit(raw.headers)) is Throttle.WINDOW_SPENT
    return "quota" if spent else "concurrency"


def attempt_error_type(error: BaseException) -> str:
    """An attempt's ``error.type``: the status code of an error answer (HTTP conventions),
    else the error's class name, never its message (which names the request)."""
    if isinstance(error, ZuoraAPIError) and error.status:
        return str(error.status)
    return type(error).__name__
