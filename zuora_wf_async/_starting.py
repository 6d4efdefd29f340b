"""Starting a run: ``POST /workflows/{workflow_id}/run`` with its key and body fixed once.

``run_workflow`` and ``run_and_wait`` are written here, once, as functions of the client
that ``WorkflowClient`` takes as its methods; ``RunStarter`` is what they share with the
batch (a workflow id checked once, a key per item).

Everything that can be known locally is checked before the pipeline is touched, so bad
input never costs a request (or a token fetch). The key and the body are fixed here, once:
every retry re-sends these exact bytes under this exact key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zuora_wf_async._call import CallResult
from zuora_wf_async._converter import decode
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.api_errors import read_run
from zuora_wf_async._core.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    PollPlan,
)
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._encoding import BodyEncoder
from zuora_wf_async._models import WorkflowRun, WorkflowRunDetail
from zuora_wf_async._pipeline import Pipeline

if TYPE_CHECKING:
    from zuora_wf_async._client import WorkflowClient


class RunStarter:
    """Checks, encodes and prepares a run request, then sends it through the pipeline."""

    def __init__(self, pipeline: Pipeline, encoder: BodyEncoder) -> None:
        self._pipeline = pipeline
        self._encoder = encoder

    async def start_valid(
        self,
        valid_id: int,
        params: object,
        *,
        idempotency_key: str | None,
        track_id: str | None,
        policy: RetryPolicy | None,
    ) -> CallResult:
        """Start a run of workflow ``valid_id`` (already checked: a batch checks it once)
        under ``policy`` (None: the client's); the run (``.value``, a ``WorkflowRun``), its
        attempts and time."""
        settings = self._pipeline.settings
        key = (
            str(uuid.uuid4())
            if idempotency_key is None
            else build.validate_idempotency_key(idempotency_key)
        )
        track = None if track_id is None else build.validate_track_id(track_id)
        if track is None and settings.auto_track_id:
            # 36 ASCII characters with none of : ; " ', well inside Zuora's 64.
            track = f"zwa-{uuid.uuid4().hex}"
        encoded = self._encoder.encode_if_small(params)
        # Large bodies are encoded in slices that yield to the loop (see _encoding).
        body, compressed = encoded or await self._encoder.encode(params)
        prepared = build.prepare_run(
            base_url=settings.base_url,
            workflow_id=valid_id,
            body=body,
            idempotency_key=key,
            track_id=track,
            entity_ids=settings.entity_ids,
            org_ids=settings.org_ids,
        )
        if compressed is not None:
            prepared = prepared.with_gzip_body(compressed)
        max_bytes = settings.max_response_bytes

        def read(raw: RawResponse) -> WorkflowRun:
            body, _replayed = read_run(raw, prepared, max_bytes=max_bytes)
            return decode(body, WorkflowRun, status=raw.status)

        return await self._pipeline.call(
            prepared, read, policy, operation="run_workflow", read_409=True, workflow_id=valid_id
        )


async def run_workflow(
    client: WorkflowClient,
    workflow_id: int,
    params: Mapping[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
    track_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> WorkflowRun:
    """Start a run of workflow definition ``workflow_id`` with ``params``.

    Every attempt sends the same ``Idempotency-Key`` (a fresh UUID4 unless given) and
    the same body bytes, so Zuora runs the workflow at most once per key. A repeat of a
    key Zuora already ran answers with that earlier run, which is returned here.
    ``retry`` overrides the client's policy for this call. On failure,
    ``error.may_have_run`` says whether a resend must reuse the key.
    """
    result = await client._starter.start_valid(
        build.validate_workflow_id(workflow_id),
        params,
        idempotency_key=idempotency_key,
        track_id=track_id,
        policy=retry,  # checked by the call loop before anything is sent
    )
    run: WorkflowRun = result.value
    return run


async def run_and_wait(
    client: WorkflowClient,
    workflow_id: int,
    params: Mapping[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
    track_id: str | None = None,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    retry: RetryPolicy | None = None,
    until_pending: bool = False,
) -> WorkflowRunDetail:
    """``run_workflow`` then ``wait_for_run``: the run's final detail.

    The wait options are checked before the run is started, so a bad ``timeout`` never
    leaves a run behind. On ``RunWaitTimeoutError`` the run was started and goes on;
    ``error.run_id`` names it.
    """
    plan = PollPlan.checked(
        timeout=timeout,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        until_pending=until_pending,
    )
    run = await run_workflow(
        client, workflow_id, params, idempotency_key=idempotency_key, track_id=track_id, retry=retry
    )
    return await client._follower.settle(run.id, plan, client._pipeline.policy(retry))
