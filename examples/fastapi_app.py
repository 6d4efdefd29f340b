"""A FastAPI service that starts Zuora workflow runs: one client per app, shared by all.

Run it with ``ZUORA_BASE_URL``, ``ZUORA_CLIENT_ID`` and ``ZUORA_CLIENT_SECRET`` set::

    uvicorn examples.fastapi_app:app

The pattern: open one ``WorkflowClient`` in the app's lifespan (one aiohttp session, one
token cache, one concurrency limit for the whole process), hand it to handlers through a
dependency, and close it at shutdown. A handler cancelled by its caller (the client
disconnected, a timeout) cancels its Zuora call, which frees its slot and connection.

Tracing (with the ``otel`` extra installed): each request to the app is a SERVER span; the
client's span for the Zuora call (``run_workflow``) nests under it, its attempt spans under
that, and, with ``opentelemetry-instrumentation-aiohttp-client`` installed, aiohttp's HTTP
spans under those. Configure the SDK and an exporter as for the rest of your service; the
client uses the global providers unless given ``tracer_provider=``/``meter_provider=``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response

from zuora_wf_async import (
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    TransportError,
    WorkflowClient,
    ZuoraAPIError,
    derive_key,
    to_dict,
)

try:
    from opentelemetry import propagate, trace
except ImportError:  # the otel extra is not installed: the app runs untraced
    propagate = trace = None  # type: ignore[assignment]

ONBOARDING_WORKFLOW_ID = 396


def get_zuora(request: Request) -> WorkflowClient:
    """The dependency that hands a handler the app's one client."""
    zuora: WorkflowClient = request.app.state.zuora
    return zuora


Zuora = Annotated[WorkflowClient, Depends(get_zuora)]


def client_from_env() -> WorkflowClient:
    """``WorkflowClient.from_env()``, with aiohttp's HTTP spans when that is instrumented."""
    try:
        from opentelemetry.instrumentation.aiohttp_client import create_trace_config
    except ImportError:
        return WorkflowClient.from_env()
    return WorkflowClient.from_env(trace_configs=[create_trace_config()])


def trace_requests(app: FastAPI, tracer_provider: Any = None) -> None:
    """A SERVER span per request, the parent of the Zuora calls its handler makes.

    With ``opentelemetry-instrumentation-fastapi`` installed,
    ``FastAPIInstrumentor.instrument_app(app)`` does the same (and more); this keeps the
    example to ``opentelemetry-api``.
    """
    if trace is None:
        return
    tracer = trace.get_tracer("examples.fastapi_app", tracer_provider=tracer_provider)

    @app.middleware("http")
    async def traced(request: Request, call_next: Callable[[Request], Any]) -> Response:
        incoming = propagate.extract(request.headers)  # the caller's trace, if it sent one
        with tracer.start_as_current_span(
            request.method, context=incoming, kind=trace.SpanKind.SERVER
        ) as span:
            response: Response = await call_next(request)
            route = request.scope.get("route")
            if route is not None:  # the template, never the path: it holds the account id
                span.update_name(f"{request.method} {route.path}")
                span.set_attribute("http.route", route.path)
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("http.response.status_code", response.status_code)
            return response


def create_app(
    client_factory: Callable[[], WorkflowClient] = client_from_env, tracer_provider: Any = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client_factory() as zuora:
            app.state.zuora = zuora
            yield

    app = FastAPI(lifespan=lifespan)
    trace_requests(app, tracer_provider)

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

    @app.get("/runs/{run_id}")
    async def run_detail(run_id: int, zuora: Zuora) -> dict[str, Any]:
        # A record is returned as to_dict(record): the JSON Zuora sends for it, which any
        # JSON encoder takes (FastAPI cannot encode an attrs record by itself).
        try:
            return to_dict(await zuora.get_run(run_id))
        except NotFoundError as error:
            raise HTTPException(status_code=404, detail="no such run") from error
        except (ZuoraAPIError, TransportError) as error:
            raise HTTPException(status_code=502, detail=type(error).__name__) from error

    return app


app = create_app()
