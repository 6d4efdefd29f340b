"""Starting a run: ``POST /workflows/{workflow_id}/run`` with its key and body fixed once.

Everything that can be known locally is checked before the pipeline is touched, so bad
input never costs a request (or a token fetch). The key and the body are fixed here, once:
every retry re-sends these exact bytes under this exact key.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable

from zuora_wf_async._converter import decode
from zuora_wf_async._core import requests as build
from zuora_wf_async._core.requests import PreparedRequest
from zuora_wf_async._core.responses import RawResponse, read_run
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._encoding import BodyEncoder
from zuora_wf_async._models import WorkflowRun
from zuora_wf_async._pipeline import Pipeline
from zuora_wf_async._retrying import CallResult

__all__ = ["RunStarter", "new_idempotency_key"]


def new_idempotency_key() -> str:
    """A random UUID4 in canonical text, as ``str(uuid.uuid4())`` gives it, at a third of the cost.

    ``uuid.UUID.__init__`` validates its input at length; one key per run makes that a
    visible share of a run's client CPU. Version nibble 4, variant bits 10.
    """
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


_WORKFLOWS_REMEMBERED = 256


def _new_track_id() -> str:
    # 36 ASCII characters with none of : ; " ', well inside Zuora's 64.
    return f"zwa-{uuid.uuid4().hex}"


class RunStarter:
    """Validates, encodes and prepares a run request, then sends it through the pipeline."""

    def __init__(self, pipeline: Pipeline, encoder: BodyEncoder, *, auto_track_id: bool) -> None:
        self._pipeline = pipeline
        self._encoder = encoder
        self.auto_track_id = auto_track_id
        # What every run of a workflow shares, built at its first run (see RunRequests).
        self._requests: dict[int, build.RunRequests] = {}

    def start(
        self,
        workflow_id: object,
        params: object,
        *,
        idempotency_key: str | None,
        track_id: str | None,
        policy: RetryPolicy,
    ) -> Awaitable[CallResult]:
        """Await it for the run (``.value``, a ``WorkflowRun``), its attempts and time.

        A plain function: the input is checked and a small body encoded right here, and
        the pipeline's call is handed back, so the common run costs no coroutine of ours.
        """
        return self.start_valid(
            build.validate_workflow_id(workflow_id),
            params,
            idempotency_key=idempotency_key,
            track_id=track_id,
            policy=policy,
        )

    def start_valid(
        self,
        valid_id: int,
        params: object,
        *,
        idempotency_key: str | None,
        track_id: str | None,
        policy: RetryPolicy,
        key_is_new: bool = False,
    ) -> Awaitable[CallResult]:
        """``start`` for a workflow id already validated (a batch checks it once).

        ``key_is_new``: ``idempotency_key`` came from ``new_idempotency_key`` (a batch
        makes its items' keys first, to report them), so there is nothing to check.
        """
        if idempotency_key is None:
            key = new_idempotency_key()
        elif key_is_new:
            key = idempotency_key
        else:
            key = build.validate_idempotency_key(idempotency_key)
        track = None if track_id is None else build.validate_track_id(track_id)
        if track is None and self.auto_track_id:
            track = _new_track_id()
        encoded = self._encoder.encode_if_small(params)
        if encoded is None:
            return self._start_large(valid_id, params, key, track, policy)
        return self._send(valid_id, self._prepare(valid_id, key, track, *encoded), policy)

    async def _start_large(
        self, workflow_id: int, params: object, key: str, track: str | None, policy: RetryPolicy
    ) -> CallResult:
        # Large bodies are encoded in slices that yield to the loop (see _encoding).
        body, compressed = await self._encoder.encode(params)
        prepared = self._prepare(workflow_id, key, track, body, compressed)
        return await self._send(workflow_id, prepared, policy)

    def _send(
        self, workflow_id: int, prepared: PreparedRequest, policy: RetryPolicy
    ) -> Awaitable[CallResult]:
        max_bytes = self._pipeline.max_response_bytes

        def read(raw: RawResponse) -> WorkflowRun:
            body, _replayed = read_run(raw, prepared, max_bytes=max_bytes)
            return decode(body, WorkflowRun, status=raw.status)

        return self._pipeline.call(
            prepared,
            read,
            policy,
            operation="run_workflow",
            read_409=True,
            workflow_id=workflow_id,
        )

    def _prepare(
        self,
        workflow_id: int,
        key: str,
        track: str | None,
        body: bytes,
        compressed: bytes | None,
    ) -> PreparedRequest:
        requests = self._requests.get(workflow_id)
        if requests is None:
            if len(self._requests) >= _WORKFLOWS_REMEMBERED:
                self._requests.clear()  # a client running ever new workflows stays small
            pipeline = self._pipeline
            requests = self._requests[workflow_id] = build.RunRequests(
                base_url=pipeline.base_url,
                workflow_id=workflow_id,
                entity_ids=pipeline.entity_ids,
                org_ids=pipeline.org_ids,
            )
        prepared = requests.prepare(body, key, track)
        return prepared if compressed is None else prepared.with_gzip_body(compressed)
