"""An asyncio-first client for Zuora's Workflow API.

::

    async with WorkflowClient("https://rest.test.zuora.com", auth=OAuthCredentials(...)) as zuora:
        run = await zuora.run_workflow(396, {"accountId": "A-1"})
"""

import logging

import attrs

from zuora_wf_async._auth import BearerToken, OAuthCredentials
from zuora_wf_async._batch.journal import BatchJournal, JournalBusyError, JournalError
from zuora_wf_async._batch.keys import derive_key
from zuora_wf_async._batch.outcomes import (
    BatchError,
    Progress,
    RunOutcome,
    RunRequest,
    raise_for_failures,
)
from zuora_wf_async._batch.stream import RunStream
from zuora_wf_async._client import WorkflowClient
from zuora_wf_async._core.ratelimit import RateLimitInfo
from zuora_wf_async._core.retry import RetryBudget, RetryPolicy
from zuora_wf_async._errors import (
    BadRequestError,
    BatchInputError,
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
    RunWaitTimeoutError,
    ServerError,
    TaskUpdateError,
    TransportError,
    UnauthorizedError,
    WorkflowIdIsRunError,
    WorkflowNotRunnableError,
    WorkflowValidationError,
    ZuoraAPIError,
    ZuoraError,
)
from zuora_wf_async._events import ClientStats, RequestEvent, ResponseEvent, RetryEvent
from zuora_wf_async._models import (
    RunStatus,
    Task,
    TaskCounts,
    TaskStatus,
    WorkflowRun,
    WorkflowRunDetail,
)
from zuora_wf_async._records_json import from_dict, to_dict
from zuora_wf_async._shared import ConfigurationError, SharedLimits, SharedLimitsError
from zuora_wf_async._workflow_models import (
    TaskRerunOutcome,
    TaskUpdate,
    TaskUsage,
    Workflow,
    WorkflowDeletion,
    WorkflowExport,
    WorkflowStatus,
    WorkflowVersionRef,
)

__version__ = "0.1.0.dev0"

# A library adds no handler of its own but this one (the logging HOWTO's advice): an app
# that never configured logging then prints nothing of ours, not every give-up on stderr.
logging.getLogger("zuora_wf_async").addHandler(logging.NullHandler())

__all__ = [
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

# Public names print as zuora_wf_async.X (as httpx does), never as the private module that
# defines them: ``zuora_wf_async.InvalidRequestError`` in a traceback, not ``..._errors``.
# Every record's annotations are resolved first: typing looks them up in the module that
# ``__module__`` names (a subclass's, its bases' too), and cattrs reads them lazily.
_publics = [globals()[_name] for _name in __all__]
for _public in filter(attrs.has, _publics):
    attrs.resolve_types(_public)
for _public in _publics:
    if isinstance(_public, type) or callable(_public):
        _public.__module__ = __name__
del _public, _publics, attrs
