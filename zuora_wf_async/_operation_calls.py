"""The one way the Workflow operations call Zuora: build, send through the pipeline, read.

``OperationCalls`` holds the client's ``Pipeline`` (composition) and gives the definition
and task operations what each of their methods needs: the optional headers, one call
with the pipeline's retry rules, and the pages of a listing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from zuora_wf_async._core import requests as build
from zuora_wf_async._core.definition_requests import prepare_rebased_next_page
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._core.retry import RetryPolicy
from zuora_wf_async._errors import ResponseDecodeError
from zuora_wf_async._pipeline import Pipeline

__all__ = ["OperationCalls", "key_or_new"]

T = TypeVar("T")


class _Page(Protocol):
    @property
    def next_page(self) -> str | None: ...


PageT = TypeVar("PageT", bound=_Page)


def key_or_new(given: str | None) -> str:
    """The caller's key as given (the builder refuses ``""`` as ``run_workflow`` does), or
    a fresh UUID4 when none was given."""
    return str(uuid.uuid4()) if given is None else given


class OperationCalls:
    """Headers, one call and paging over the client's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    @property
    def base_url(self) -> str:
        return self.pipeline.base_url

    def headers(self, track_id: str | None) -> dict[str, Any]:
        """The optional headers every builder takes (``track_id`` checked here)."""
        return {
            "track_id": None if track_id is None else build.validate_track_id(track_id),
            "entity_ids": self.pipeline.entity_ids,
            "org_ids": self.pipeline.org_ids,
        }

    def _reader(self, read: Callable[..., T]) -> Callable[[RawResponse], T]:
        limit = self.pipeline.max_response_bytes
        return lambda raw: read(raw, max_bytes=limit)

    async def call(
        self,
        prepared: PreparedRequest,
        read: Callable[..., T],
        retry: RetryPolicy | None,
        operation: str,
    ) -> T:
        """Send ``prepared`` with the pipeline's retry rules; its answer read by ``read``."""
        policy = self.pipeline.policy(retry)
        result = await self.pipeline.call(prepared, self._reader(read), policy, operation=operation)
        value: T = result.value
        return value

    async def pages(
        self,
        prepared: PreparedRequest,
        read: Callable[..., PageT],
        retry: RetryPolicy | None,
        operation: str,
    ) -> AsyncIterator[PageT]:
        """Every page of a listing, following ``next_page`` (rebased on ``base_url``); a
        link back to a page already read is a ``ResponseDecodeError``, as in ``iter_tasks``
        (taken as the end, it cut ``rerun_failed_tasks``'s listing short)."""
        request, seen = prepared, {prepared.url}
        while True:
            page = await self.call(request, read, retry, operation)
            yield page
            if page.next_page is None:
                return
            request = prepare_rebased_next_page(request, page.next_page, base_url=self.base_url)
            if request.url in seen:
                raise ResponseDecodeError(
                    "pagination.next_page points back to a page already read",
                    field="pagination.next_page",
                    status=200,
                )
            seen.add(request.url)
