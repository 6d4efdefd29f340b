"""FakeZuora: a faithful local Zuora Workflow API for testing services that call it.

Like stripe-mock, it is a real HTTP server on loopback that behaves as Zuora documents, so
your tests exercise your real HTTP stack: OAuth, bearer auth, the run endpoint's validation
and errors, idempotency replay, gzip, rate limits and the run lifecycle, plus scriptable
faults (5xx, dropped connections, 429 bursts, quotas, slowness, token expiry).

Quick start::

    from zuora_wf_async.testing import FakeZuora, ManualClock

    clock = ManualClock()
    async with FakeZuora(clock=clock, queued_seconds=5) as fake:
        fake.base_url, fake.client_id, fake.client_secret   # point your client here
        fake.configure_workflow(42, required_params=("accountId",))
        ...                                                  # exercise your code
        assert fake.execution_counts_by_key() == {"my-key": 1}

With pytest and pytest-asyncio installed, the ``fake_zuora`` fixture yields a started fake;
override the ``fake_zuora_options`` fixture (a dict of keyword arguments) to configure it.

Constructor (all keyword-only, all optional)
--------------------------------------------
``host="127.0.0.1"``, ``port=0`` (a free port); ``clock=time.monotonic`` (judges token and
key expiry, run progress and quota windows: pass a :class:`ManualClock` in tests);
``token_ttl=3599.0``; ``queued_seconds=0.0``, ``processing_seconds=0.0``,
``stopping_seconds=0.0`` (run lifecycle); ``faults: FaultPlan | None``;
``replay_status=200`` (or 409, see Idempotency); ``latency=0.0`` (real seconds from a
run request's arrival to its answer, never less, so repeats can overlap it; reading and
checking the request is part of that time, not added to it); ``idempotency_ttl=86400.0``;
``client_id`` (36 characters) and ``client_secret`` (at most 42), random by default;
``limits`` (a :class:`TenantLimits`, a Production tenant's by default);
``canonical_host`` (None); ``workflows`` (the ids of the definitions the fake starts with,
``DEFAULT_WORKFLOW_IDS`` by default).

Endpoints
---------
``POST /oauth/token``
    Form body ``client_id``, ``client_secret``, ``grant_type=client_credentials``. 200:
    ``{"access_token", "token_type": "bearer", "expires_in": int(token_ttl), "scope",
    "jti"}``. Wrong credentials: 401 ``{"message": "Authentication error"}``. A missing
    field: 400 ``{"code": 50000022, "message"}``; another grant type, or an
    ``Authorization`` header (the docs say not to send one): 400 ``{"code": 50000020, ...}``.
    A JSON body is not a form, so it is a 400 as well. Answers carry
    ``X-RateLimit-Limit-minute`` / ``X-RateLimit-Remaining-minute`` (as the official
    OpenAPI document shows for this endpoint), not ``RateLimit-*``.

Any ``/workflows`` path
    Needs ``Authorization: Bearer <token>``; a missing, unknown or expired token is 401
    ``{"message": "Authentication error"}`` with ``WWW-Authenticate: Basic realm=Zuora API,
    ZSession realm=Zuora API, Bearer realm=Zuora API``. Unknown paths are 404
    ``{"message": "Not Found"}`` (after the auth check); a known path with the wrong method
    is 405 with ``Allow``.

``POST /workflows/{workflow_id}/run``, checked in this order
    * ``Idempotency-Key`` over 255 characters, or a ``Zuora-Track-Id`` over 64 characters,
      not US-ASCII or containing ``: ; " '``: 400 (Zuora documents the limits; the fake
      enforces them, on every endpoint, so that a client's own checks can be tested).
    * ``workflow_id`` not a non-negative integer: 404 ``{"errors": [...]}``.
    * body: JSON object, gunzipped first under ``Content-Encoding: gzip``; absent or blank
      means ``{}``. Corrupt gzip, invalid JSON or a non-object: 400 ``{"errors": [...]}``.
    * the Idempotency-Key store (below).
    * the workflow's ``force_status`` (see :class:`WorkflowConfig`).
    * ``workflow_id`` is a run id: 409 ``{"errors": [{"code": "invalid", "status": 409,
      "title": "Workflow WF-42-00000001 with Id 10000 is an instance/run."}]}``.
    * a reserved top-level name (``controller, action, id, user_email, user_token,
      format``): 400.
    * callout disabled: 400 ``{"errors": [{"code": "invalid", "status": 400, "title":
      "Callout mode is not turned on in this workflow."}]}``.
    * required parameters missing: 406 with one error per missing name (``"Required field
      for Workflow-X does not have a set value. Ensure parameter 'X' is present."``) and
      ``"parameters"``: the request body echoed.
    * otherwise 200 ``{"id", "name": "WF-{workflow_id}-{seq:08d}", "originalWorkflowId",
      "status": "Queued", "type": "Workflow::Instance", "createdAt", "updatedAt"}``.

    Only a workflow that exists runs: ``DEFAULT_WORKFLOW_IDS`` (``1`` to ``9``, ``42``,
    ``286``, ``396``, ``476``) from the start (or ``FakeZuora(workflows=[...])``), plus
    those added by ``add_workflow(id)``, ``configure_workflow(id, ...)``,
    ``create_workflow(...)`` or an import; any other id is 404 ``{"errors": [...]}``.
    Callout on and nothing required unless :meth:`FakeZuora.configure_workflow` says
    otherwise. Definitions and runs share one id space: run ids start at 10000 and skip
    ids used as definitions.

``GET /workflows/workflow_runs/{id}``
    ``{"id", "name", "originalWorkflowId"`` (a string, as the schema types it), ``"status",
    "type", "createdAt", "updatedAt",
    "runTime", "cpuTime", "tasks": {error, pending, processing, queued, stopped, success,
    total}}`` plus ``"finishedAt"`` once Finished or Stopped. Status by the clock:
    ``Queued`` for ``queued_seconds``, ``Processing`` for ``processing_seconds``, then
    ``Finished`` (still ``Finished`` with failed tasks, as at Zuora: see
    ``WorkflowConfig.failed_tasks``; with ``pending_tasks`` some stay ``Pending``, and
    ``pending_status=True`` reports the run itself as ``Pending``, the status Zuora's
    settings guide names but the API's enum does not).

``GET /workflows/tasks``
    The task instances of every run: ``WorkflowConfig.task_count`` per run (ids from a
    counter of their own), statuses following the run's (all Queued, all Processing, all
    Stopped once stopping; when Finished the last ``failed_tasks`` are ``Error`` with
    ``error_class``/``error``/``error_details`` from ``task_error_class``/``task_error``,
    the rest ``Success``), so the list agrees with the run's ``tasks`` counts. ``task_id``
    (the parent task) is null for a run's first task only; ``start_time`` and ``end_time``
    are left out (not null, which the schema does not allow) until known. Filters
    ``id``, ``name``, ``action_type``, ``object``, ``object_id``, ``call_type``,
    ``workflow_id`` (a run id: that run's tasks), ``instance`` (``false`` lists nothing: no
    definitions are kept), ``tags[]`` (repeatable, any-match; tags from
    ``WorkflowConfig.task_tags``); ``page`` (default 1) and ``page_length`` (default 20,
    1..100). Answer: ``{"data": [...], "pagination": {"page", "page_length", "next_page"}}``
    with ``next_page`` the absolute URL (on the Host the request used, every filter kept)
    of the next page, absent on the last.

``PUT /workflows/workflow_runs/{id}/stop``
    200 ``{"success": true}``; the run is ``Stopping`` for ``stopping_seconds`` (default 0:
    ``Stopped`` at once), then ``Stopped``. Stopping a Queued or Processing run works;
    stopping a Stopping/Stopped run again is ``{"success": true}``.

The definition, task, version and usage operations
    All 13 of them, in the official shapes (``_definitions``, ``_task_ops``): ``GET
    /workflows`` (filters ``name``, ``callout_trigger``, ``ondemand_trigger``,
    ``scheduled_trigger``, ``interval``; ``page_length`` at most 50), ``GET/PATCH/DELETE
    /workflows/{id}``, ``GET /workflows/{id}/versions``, ``GET /workflows/{id}/export``
    (``version``: ``latest``, a number such as ``0.0.2``, or the active version),
    ``POST /workflows/import`` (``workflow_definition_id``, ``version``, ``activate``),
    ``POST /workflows/{id}/versions/import``, ``DELETE /workflows/versions/{id}``, ``GET
    /workflows/tasks/{id}``, ``POST /workflows/tasks/{id}/rerun``, ``PUT
    /workflows/tasks/batch_update`` (its own 400/404 bodies) and ``GET
    /workflows/metrics.json``. The state hangs together: an import creates a definition
    with a version; PATCH switches the active version and the status (a bad status is a
    422 with ``reasons``); an ``Inactive`` workflow's runs are refused (400); a definition's
    Callout trigger is the one its runs obey; deleting the active version is a 403; a
    rerun makes the task succeed (the first ``WorkflowConfig.rerun_failures`` reruns of each
    task fail again: answered ``Processing``, then the task is ``Error`` with that rerun's
    times) and counts in the usage, which counts every task that
    started, per day; a deleted definition is gone (404, its runs too). The definitions
    that exist are listed by ``GET /workflows``; an id that does not exist is 404
    ``{"errors": ["Invalid ID / ..."]}`` on every definition operation, as at Zuora.
    ``add_workflow(id, name=, callout_trigger=, active=)`` defines one with the id a test
    wants (a deleted one comes back), ``create_workflow(name, callout_trigger=, active=)``
    makes one with a fresh id as an import would, ``workflow_record(id)`` shows one
    without HTTP. ``batch_update`` takes at most 50 tasks (the schema's limit; more is a
    400 and nothing is applied). PATCH, rerun and both imports take an ``Idempotency-Key``
    with the run's rules (the query is part of what makes two imports "the same"). Task
    ``tags`` are read as ``tags=a,b`` (the schema, and the official SDK), ``tags[]=a``
    (the prose) or repeated. ``canonical_host="https://rest.zuora.com"`` builds
    ``next_page`` links on that host, as Zuora does, instead of the request's.

Tenant limits (``limits=TenantLimits(...)``, see ``_tenant``)
    At most ``concurrency`` (40) API requests in flight; one more is 429 at once with
    ``Retry-After: 1`` and no ``Concurrency-Limit-*`` headers (Zuora sends those only on
    ``/v1``); the token call is not counted. Quotas per minute, hour and day
    (``TenantLimits.production()``, ``developer_sandbox()``, ``api_sandbox()``), failed
    requests counting, reported as ``RateLimit-Limit: "50000, 50000;w=60, 2250000;w=3600,
    27000000;w=86400"``. ``pause_requests()`` / ``resume_requests()`` hold every admitted
    API request, so a test can fill the tenant's slots without sleeps;
    ``tenant_in_flight`` and ``peak_tenant_in_flight`` count them.

Unknown run ids (GET and stop)
    404 ``{"errors": [{"code": "Invalid", "status": 404, "title": "Workflow run '123' is
    not found"}]}``: the official example for stop, reused for GET.

Every answer carries ``Zuora-Request-Id`` (a fresh 36-character UUID), echoes
``Zuora-Track-Id`` when sent, and carries ``RateLimit-Limit`` (the multi-window shape
above), ``RateLimit-Remaining`` and ``RateLimit-Reset`` (whole seconds to the window's end). With
``Accept-Encoding`` allowing gzip, bodies over 1000 bytes are gzipped with
``Content-Encoding: gzip`` (a 406 echoing large parameters is the natural way to get one).

Idempotency
-----------
The first run request with an ``Idempotency-Key`` stores its answer (status, headers, body),
success or failure. A repeat with the same tenant, method, path and decoded body (gzip or
not) gets it again: as stored with ``replay_status=200`` (Zuora's idempotency guide); with
``replay_status=409`` a stored *success* is answered with status 409 and the stored run body
(the newer error-handling guide), a stored error as stored. Replays get a new
``Zuora-Request-Id`` and current rate-limit headers. A repeat while the first is still
being handled: 409 ``{"errors": [{"code": "conflict", "status": 409, "title": "A request
with this Idempotency-Key is already in progress."}]}``. The same key for a different
tenant, path, method or body: 422 ``{"errors": [{"code": "invalid", "status": 422, "title":
"Idempotency-Key reused with a different request."}]}``. Keys expire ``idempotency_ttl``
seconds after first use. Not stored (nothing was judged): 401, 429, the 400s for header
limits and undecodable bodies, the 404 for a non-integer id, ``error_before_record``.

Records and helpers
-------------------
``fake.requests``: every :class:`RecordedRequest`, rejected and faulted ones included, in
arrival order, with ``status``, ``response_headers`` and ``fault`` filled in once answered.
``fake.executions``: every :class:`Execution` (run actually created). ``execution_counts_by_key()``,
``fault_counts()``, ``faults_injected``, ``token_requests``, ``tokens_issued``,
``requests_to(endpoint)``. ``reset()`` forgets records only (runs, tokens, keys and
settings stay). Concurrency of run requests (arrival to answer): ``in_flight``,
``peak_in_flight``, ``in_flight_samples`` (``(clock time, in_flight)`` on each change),
``reset_peak()``. Per endpoint (``"run"``, ``"get_run"``, ``"stop"``, ``"tasks"``...),
from arrival to answer: ``in_flight_by_endpoint`` and ``peak_in_flight_by_endpoint``
(Counters; a ``Fault.slow`` on ``get_run`` makes polls overlap so a client's poll budget can
be measured). Synchronisation without sleeps: ``pause_runs()`` / ``resume_runs()``
hold run requests after their key is claimed; ``await wait_for_in_flight(n)`` and ``await
wait_until(predicate)``. Tokens: ``issue_token()`` mints one without HTTP;
``expire_tokens()`` invalidates all. Closing the fake ends every fake delay and pause.

Faults
------
``FaultPlan(seed=0, rules=[Fault...])``; rules watch run requests unless given
``endpoints`` (``"token"``, ``"run"``, ``"get_run"``, ``"stop"``, ``"tasks"``,
``"unknown"``, and the operation names ``"list_workflows"``, ``"get_workflow"``,
``"update_workflow"``, ``"delete_workflow"``, ``"get_task"``, ``"rerun_task"``,
``"update_tasks"``, ``"task_usage"``, ``"export"``, ``"import"``, ``"list_versions"``,
``"import_version"``, ``"delete_version"``) and fire on
the request numbers ``on`` (1-based, per rule), else with ``probability`` from the seeded
RNG, at most ``times`` times. The first firing rule applies (``expire_token`` combines).
Kinds: ``error_before_record(status)`` (no run, key not stored; 500 JSON, 502/503/504 an
HTML page, or your ``body``); ``error_after_record(status)`` (run created and the key's
success stored, then the error); ``drop_after_record()`` (same, then the connection closes
without an answer); ``rate_limit_burst(count, retry_after=)`` (429 with ``Retry-After``,
``RateLimit-Remaining: 0``, ``RateLimit-Reset`` for ``count`` consecutive requests);
``quota(limit, window=)`` (per clock-aligned window over all API endpoints, failed requests
counting; 429 with ``RateLimit-Remaining: 0`` and ``RateLimit-Reset``; the response
headers then report this quota); ``slow(delay, record_first=)`` (real seconds, before or
after the run is created); ``expire_token()`` (all tokens expire; the request gets 401).
Faults never duplicate a run: a repeat of a key whose run was created gets the stored
success. 429 bodies are ``{"message": "API rate limit exceeded"}``.

Choices where Zuora's documentation is silent (UNCONFIRMED)
-----------------------------------------------------------
* 404/429/5xx bodies on run: invented, treat as opaque (JSON or HTML as above).
* Quota 429s omit ``Retry-After`` (the rate-limits page's example); burst 429s send it (the
  error-handling guide), so a client meets both.
* Different body under the same key: 422 (the docs name only tenant, URL and method).
* In-progress repeat: the 409 body above; a replayed success under ``replay_status=409`` is
  the stored run body, which a client tells from the "workflow instance" 409 by the
  absence of ``errors``.
* The instance 409 says ``errors[].status`` 409 (the official example shows 406).
* 404 for a run id on GET, and for a non-integer workflow id; ``finishedAt`` is absent
  (not null) until a run ends; stopping a Finished run answers 200 ``{"success": false}``.
* 403 body ``{"code": 50000010, ...}`` (category 10: permission); OAuth 400 codes
  50000022 (missing value) and 50000020 (invalid value).
* ``cpuTime`` is ``"00:00:00"`` while Queued, then ``"00:00:01"``; ``runTime`` counts
  from creation to the end (or now). Under an injected clock, timestamps are
  2024-01-01 00:00:00 UTC plus the clock's reading; under ``time.monotonic``, real UTC.
* One OAuth client (one tenant) per fake.
* Tasks: ``page_length`` over 100 (or below 1), a ``page`` below 1 and an ``instance``
  other than true/false are 400 ``{"errors": [...]}`` (Zuora only says "the maximum value
  is 100"); ``next_page`` is absent, not null, on the last page and keeps the request's
  filters (Zuora's sample shows only ``page`` and ``page_length``); ``pagination.page_length``
  echoes the page length asked for. Task names, ``action_type: "Callout"`` and
  ``call_type: "REST"`` are invented.

:class:`ManualClock` (``clock()``, ``advance(s)``, ``await sleep(s)`` which advances
instantly and records ``sleeps``) drives the fake and, injected, a client's retry loop.
"""

from ._clock import ManualClock
from ._definitions import DEFAULT_WORKFLOW_IDS
from ._faults import Fault, FaultPlan
from ._records import Execution, Headers, InjectedFault, RecordedRequest
from ._runs import WorkflowConfig
from ._server import FakeZuora
from ._tenant import TenantLimits

__all__ = [
    "DEFAULT_WORKFLOW_IDS",
    "Execution",
    "FakeZuora",
    "Fault",
    "FaultPlan",
    "Headers",
    "InjectedFault",
    "ManualClock",
    "RecordedRequest",
    "TenantLimits",
    "WorkflowConfig",
]
