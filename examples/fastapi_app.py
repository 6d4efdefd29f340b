"""A FastAPI service that starts Zuora workflow runs: one client per app, shared by all.

Run it with ``ZUORA_BASE_URL``, ``ZUORA_CLIENT_ID`` and ``ZUORA_CLIENT_SECRET`` set::

    uvicorn examples.fastapi_app:app

The pattern: open one ``WorkflowClient`` in the app's lifespan (one aiohttp session, one
token cache, one concurrency limit for the whole process), hand it to handlers through a
dependency, and close it at shutdown. A handler cancelled by its caller (the client
disconnected, a timeout) cancels its Zuora call, which frees its slot and connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request

from zuora_wf_async import (
    InvalidRequestError,
    RateLimitError,
    TransportError,
    WorkflowClient,
    ZuoraAPIError,
    derive_key,
)

ONBOARDING_WORKFLOW_ID = 396


def get_zuora(request: Request) -> WorkflowClient:
    """The dependency that hands a handler the app's one client."""
    zuora: WorkflowClient = request.app.state.zuora
    return zuora


Zuora = Annotated[WorkflowClient, Depends(get_zuora)]


def create_app(client_factory: Callable[[], WorkflowClient] = WorkflowClient.from_env) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client_factory() as zuora:
            app.state.zuora = zuora
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/accounts/{account_id}/onboard")
    async def onboard(account_id: str, zuora: Zuora) -> dict[str, Any]:
        try:
            run = await zuora.run_workflow(
                ONBOARDING_WORKFLOW_ID,
                {"accountId": account_id},
                # One onboarding per account: a retried HTTP request cannot start a second run.
                idempotency_key=derive_key("onboard", account_id),
            )
        except InvalidRequestError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        except RateLimitError as error:
            retry_after = str(int(error.retry_after or 1))
            raise HTTPException(
                status_code=503, detail="Zuora is busy", headers={"Retry-After": retry_after}
            ) from error
        except (ZuoraAPIError, TransportError) as error:
            raise HTTPException(status_code=502, detail=type(error).__name__) from error
        return {"runId": run.id, "runName": run.name, "status": run.status.value}

    return app


app = create_app()
