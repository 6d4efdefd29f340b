"""Every exception this package raises, in one tree.

::

    ZuoraError                              anything raised by zuora_wf_async
    ├── InvalidRequestError (ValueError)    our caller's input; raised before a byte is sent
    ├── ClientStateError (RuntimeError)     client closed, or used from another event loop
    ├── TransportError                      no HTTP answer: connect failed, dropped, timed out
    │   └── RequestTimeoutError (TimeoutError)
    ├── ResponseDecodeError                 a body that is not what the API documents
    ├── RunWaitTimeoutError (TimeoutError)  wait_for_run ran out of time (.last_detail)
    ├── WorkflowNotRunnableError            pre-flight: the workflow would refuse every run
    ├── TaskUpdateError                     update_tasks failed part way (.updated, .unsent_ids)
    ├── BatchInputError                     a batch's items raised; .outcomes: what ran
    └── ZuoraAPIError                       Zuora answered with an error status
        ├── BadRequestError                 400
        │   └── CalloutNotEnabledError      400: the workflow's Callout trigger is off
        ├── UnauthorizedError               401: bad, missing or expired token or credentials
        ├── ForbiddenError                  403: the OAuth client lacks a Workflow permission
        ├── NotFoundError                   404
        ├── MissingParametersError          406: required workflow parameters absent (.parameters)
        ├── ConflictError                   409 of an unrecognised kind
        │   ├── WorkflowIdIsRunError        409: the id given is a run's id, not a definition's
        │   └── IdempotencyInProgressError  409: the same Idempotency-Key is still being processed
        ├── IdempotencyKeyReusedError       422: the key was used for a different request
        ├── WorkflowValidationError         422 to PATCH /workflows/{id}: fields refused (.reasons)
        ├── RateLimitError                  429 (.retry_after, .rate_limit)
        └── ServerError                     5xx

*Whose fault* reads off the tree: ``InvalidRequestError`` and ``ClientStateError`` are
local mistakes to fix in the calling code; ``ZuoraAPIError`` is Zuora's verdict on a request
it received; ``TransportError`` means the outcome is unknown, which is exactly the case a
retry under the same ``Idempotency-Key`` is safe for.

No message, ``repr`` or attribute of these errors ever holds a token or client secret, and
parameter values are kept out of messages (406's echo is on ``.parameters`` only). Errors
that carry server text (``TransportError``, ``ResponseDecodeError``, ``ZuoraAPIError``)
pass it through ``_core.redact.scrub`` as they are built, whoever builds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, CIMultiDictProxy

from zuora_wf_async._core.redact import REDACTED, SECRET_HEADERS, scrub, scrub_json

if TYPE_CHECKING:
    from zuora_wf_async._batch.outcomes import RunOutcome
    from zuora_wf_async._core.ratelimit import RateLimitInfo
    from zuora_wf_async._models import Task, WorkflowRunDetail

__all__ = [
    "BadRequestError",
    "BatchInputError",
    "CalloutNotEnabledError",
    "ClientStateError",
    "ConflictError",
    "ForbiddenError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "InvalidRequestError",
    "MissingParametersError",
    "NotFoundError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "RunWaitTimeoutError",
    "ServerError",
    "TaskUpdateError",
    "TransportError",
    "UnauthorizedError",
    "WorkflowIdIsRunError",
    "WorkflowNotRunnableError",
    "WorkflowValidationError",
    "ZuoraAPIError",
    "ZuoraError",
]


class ZuoraError(Exception):
    """Base of every error raised by this package.

    ``attempts`` and ``elapsed`` are filled in by the client when a call gives up, so a
    caller can see how hard it tried; they stay 0 for errors raised before any attempt.
    """

    attempts: int = 0
    elapsed: float = 0.0
    #: True exactly when the request may have been carried out by Zuora although this
    #: error says it failed (no answer, a timeout, a 5xx, 409 "same key in progress"): a
    #: resend must then use the same ``Idempotency-Key``, never a new one. False for errors
    #: raised before anything was sent and for Zuora's final verdicts (400, 404, ...).
    may_have_run: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker's error crosses to its pool by pickle: by state, as .args lacks keywords.
        state = {
            name: CIMultiDict(value) if isinstance(value, CIMultiDictProxy) else value
            for name, value in self.__dict__.items()
        }
        return (_unpickled, (type(self), self.args, state))


def _unpickled(cls: type[ZuoraError], args: tuple[Any, ...], state: dict[str, Any]) -> ZuoraError:
    error = cls.__new__(cls, *args)
    error.args = args  # OSError's __new__ (TimeoutError's) leaves .args to __init__
    for name, value in state.items():
        setattr(error, name, CIMultiDictProxy(value) if isinstance(value, CIMultiDict) else value)
    return error


class InvalidRequestError(ZuoraError, ValueError):
    """The caller's input cannot make a valid request; nothing was sent.

    ``field`` names what is wrong (``"params['id']"``, ``"idempotency_key"``) so a
    program can react, and the message says how to fix it.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}; {fix}")


class ClientStateError(ZuoraError, RuntimeError):
    """The client cannot be used in its current state (closed, or bound to another loop)."""


class TransportError(ZuoraError):
    """The request got no usable HTTP answer; Zuora may or may not have acted on it.

    ``idempotency_key`` is the key that was sent, so the caller can retry safely.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        idempotency_key: str | None = None,
        track_id: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.idempotency_key = idempotency_key
        self.track_id = track_id
        super().__init__(scrub(message))


class RequestTimeoutError(TransportError, TimeoutError):
    """One attempt ran past its timeout."""


class ResponseDecodeError(ZuoraError):
    """A success response whose body is not what the API documents.

    ``field`` is the path of the first offending field (``"createdAt"``) or ``"body"``
    when the body is not JSON at all.
    """

    def __init__(self, message: str, *, field: str = "body", status: int = 0) -> None:
        self.field = scrub(field)
        self.status = status
        super().__init__(scrub(message))


class ZuoraAPIError(ZuoraError):
    """Zuora answered with an error status.

    Carries what support will ask for: ``status``, ``request_id`` (``Zuora-Request-Id``),
    ``track_id``, ``idempotency_key``, plus Zuora's own ``messages`` and the decoded ``body``.
    Everything that came from the server is scrubbed of known secrets on the way in.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
        track_id: str | None = None,
        idempotency_key: str | None = None,
        messages: Sequence[str] = (),
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.request_id = None if request_id is None else scrub(request_id)
        self.track_id = None if track_id is None else scrub(track_id)
        self.idempotency_key = idempotency_key
        self.messages = tuple(map(scrub, messages))
        self.body = None if body is None else scrub_json(body)
        # Case-insensitive like the response's own, names and values scrubbed, and a
        # credential header's value (Authorization, Set-Cookie...) hidden whole.
        scrubbed: CIMultiDict[str] = CIMultiDict()
        for name, value in (headers or {}).items():
            hidden = name.lower() in SECRET_HEADERS
            scrubbed.add(scrub(name), REDACTED if hidden else scrub(value))
        self.headers: Mapping[str, str] = CIMultiDictProxy(scrubbed)
        super().__init__(scrub(message))


class BadRequestError(ZuoraAPIError):
    """400: Zuora rejected the request as malformed."""


class CalloutNotEnabledError(BadRequestError):
    """400: the workflow cannot be started by API until its Callout trigger is switched on."""


class UnauthorizedError(ZuoraAPIError):
    """401: the token is missing, wrong or expired, or the OAuth credentials are wrong."""


class ForbiddenError(ZuoraAPIError):
    """403: the OAuth client's user lacks the permission (Workflow Run/View Access)."""


class NotFoundError(ZuoraAPIError):
    """404: no such workflow, run or task."""


class MissingParametersError(ZuoraAPIError):
    """406: the workflow requires parameters the body did not carry.

    ``parameters`` is Zuora's echo of the body it received.
    """

    def __init__(self, message: str, *, parameters: Any = None, **kwargs: Any) -> None:
        self.parameters = scrub_json(parameters)
        super().__init__(message, **kwargs)


class ConflictError(ZuoraAPIError):
    """409 that is neither a replay, a run id nor a key in progress."""


class WorkflowIdIsRunError(ConflictError):
    """409: the id passed as ``workflow_id`` is a workflow *run*; pass the definition's id."""


class IdempotencyInProgressError(ConflictError):
    """409: a request with the same Idempotency-Key is still being processed; retry later."""


class IdempotencyKeyReusedError(ZuoraAPIError):
    """422: the Idempotency-Key was first used for a different request."""


class WorkflowValidationError(ZuoraAPIError):
    """422 to ``PATCH /workflows/{id}``: Zuora refused the update's fields.

    ``reasons`` holds Zuora's ``(fieldName, title)`` pairs, e.g. ``("status", "on is not a
    valid status...")``. The same status on a run's POST means a reused Idempotency-Key
    (``IdempotencyKeyReusedError``), so the two are told apart by the request.
    """

    def __init__(
        self, message: str, *, reasons: Sequence[tuple[str, str]] = (), **kwargs: Any
    ) -> None:
        self.reasons = tuple((scrub(field), scrub(title)) for field, title in reasons)
        super().__init__(message, **kwargs)


class RateLimitError(ZuoraAPIError):
    """429: a rate or concurrency limit was hit.

    ``retry_after`` is how many seconds Zuora asked us to wait (``Retry-After``, else
    ``RateLimit-Reset``), or None when it said nothing; ``rate_limit`` holds the parsed
    ``RateLimit-*`` headers.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        rate_limit: RateLimitInfo | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.rate_limit = rate_limit
        super().__init__(message, **kwargs)


class ServerError(ZuoraAPIError):
    """5xx: Zuora failed; the request may or may not have been acted on."""


class RunWaitTimeoutError(ZuoraError, TimeoutError):
    """The run had not ended when ``wait_for_run``'s ``timeout`` ran out.

    The run goes on at Zuora. ``last_detail`` is the last state seen (its ``status`` says
    where it was stuck, Queued or Processing; None when no poll was answered in time, and
    then ``__cause__`` is the last poll's failure); ``polls`` counts the polls answered and
    ``elapsed`` the seconds waited. Also a ``TimeoutError``.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: int,
        timeout: float,
        last_detail: WorkflowRunDetail | None,
        polls: int,
        elapsed: float,
    ) -> None:
        self.run_id = run_id
        self.timeout = timeout
        self.last_detail = last_detail
        self.polls = polls
        self.elapsed = elapsed
        super().__init__(message)


class WorkflowNotRunnableError(ZuoraError):
    """Pre-flight: the workflow exists but Zuora would refuse every run of it.

    Raised by ``run_many``/``stream_runs`` (and ``zuora-wf batch``) before the first run,
    once, instead of thousands of identical failures: the workflow is not Active, or its
    Callout trigger is off. ``reason`` says which and how to fix it. Nothing was sent.
    """

    def __init__(self, message: str, *, workflow_id: int, reason: str) -> None:
        self.workflow_id = workflow_id
        self.reason = reason
        super().__init__(message)


class TaskUpdateError(ZuoraError):
    """``update_tasks`` sent its updates 50 to a request and one request failed.

    The requests before it were applied by Zuora: ``updated`` holds the tasks they
    answered with. ``failed_ids`` are the task ids of the request that failed, ``error``
    its error (also ``__cause__``); ``unsent_ids`` the ids of the requests never sent.
    ``may_have_run`` is the failed request's: True when Zuora may have applied it anyway
    (no answer, a 5xx), so resend ``failed_ids`` (batch_update is safe to repeat) and then
    ``unsent_ids``.
    """

    def __init__(
        self,
        message: str,
        *,
        updated: Sequence[Task],
        failed_ids: Sequence[int],
        error: ZuoraError,
        unsent_ids: Sequence[int],
    ) -> None:
        self.updated = tuple(updated)
        self.failed_ids = tuple(failed_ids)
        self.error = error
        self.unsent_ids = tuple(unsent_ids)
        self.may_have_run = error.may_have_run
        super().__init__(message)


class BatchInputError(ZuoraError):
    """``run_many``/``stream_runs``: reading the caller's items raised, so the batch stopped.

    Nothing was cancelled: no item was read after the failure, and the runs already
    started were let end (they exist at Zuora; with generated keys the caller could not
    find them otherwise). ``outcomes`` holds ``run_many``'s outcome for every item read,
    in input order; ``stream_runs`` has yielded each of them before raising, so there it is
    empty. ``items_read`` counts the items read before the failure, and the caller's own
    exception is ``__cause__``. ``may_have_run`` is true once any item was read: the
    outcomes say which runs exist.
    """

    def __init__(
        self, *, cause: BaseException, items_read: int, outcomes: Sequence[RunOutcome] = ()
    ) -> None:
        self.items_read = items_read
        self.outcomes = list(outcomes)
        self.may_have_run = items_read > 0
        # The type only (its text may quote the caller's rows), but an OSError's reason
        # and file name (the disk under a journal filled up) are not the caller's data.
        what = type(cause).__name__
        if isinstance(cause, OSError) and cause.strerror:
            reason = cause.strerror
            what += f" ({reason}: {cause.filename})" if cause.filename else f" ({reason})"
        if not items_read:
            ended = "nothing was sent"
        else:
            found = "are on .outcomes" if self.outcomes else "were each yielded"
            ended = f"no more were read, and those read ran to their end (their outcomes {found})"
        super().__init__(
            f"reading the batch's items raised {what} after {items_read} item(s): {ended}; "
            "the exception is __cause__"
        )
