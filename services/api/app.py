"""The HTTP API's app: create_app(settings) opens the process's Runtime in its lifespan, and wires routes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api import (
    routes_control,
    routes_docs,
    routes_events,
    routes_fields,
    routes_jobs,
    routes_keys,
    routes_ops,
    routes_picklists,
    routes_records,
    routes_results,
    routes_schedules,
    routes_stats,
    routes_templates,
    routes_ui,
    routes_uploads,
    routes_web,
)
from services.api.contract import install_contract, operation_id
from services.api.correlation import CorrelationIds
from services.api.guards import Guards
from services.api.http import OrjsonResponse, install_error_handlers
from services.api.metrics import LatencyMiddleware, Metrics
from services.core.runtime import open_runtime
from services.core.settings import Settings

__all__ = ["create_app"]

DESCRIPTION = """Import and export CRM Leads, Contacts and Accounts.

Every `/api/v1` call needs `Authorization: Bearer <API key>` (create one with `crmio keys create`).
A key belongs to one company: another company's jobs, uploads and templates answer 404.
Errors answer RFC 9457 problem details (`application/problem+json`): `type`, `title`, `status`, `detail` (what
is wrong and what to do), `code`, `correlation_id` (also in the `X-Correlation-ID` header and the API's log;
send your own as `X-Correlation-ID` or `X-Request-ID`), and `field` / `errors` naming what is at fault.
Creating answers 201 with `Location`; the creating POSTs take an `Idempotency-Key` header (docs/api.md).
"""


def create_app(settings: Settings) -> FastAPI:
    """The API app; its lifespan opens (and closes) the Runtime: pools, Kafka producer, admin and offsets clients."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, producer=True, admin=True) as runtime:
            app.state.runtime = runtime
            yield

    metrics = Metrics()
    app = FastAPI(
        title="crmio",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by routes_docs from the swagger-ui-bundle package, not a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        default_response_class=OrjsonResponse,
        generate_unique_id_function=operation_id,
    )
    app.state.metrics = metrics
    app.add_middleware(
        Guards, max_json_bytes=settings.max_json_body_bytes, read_timeout_s=settings.request_read_timeout_s
    )
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(CorrelationIds)  # outermost: the other middleware's refusals carry the id too
    install_error_handlers(app)
    for module in (
        routes_docs,
        routes_ops,
        routes_uploads,
        routes_jobs,
        routes_control,
        routes_keys,
        routes_events,
        routes_templates,
        routes_schedules,
        routes_ui,
        routes_web,
        routes_results,
        routes_picklists,
        routes_fields,
        routes_stats,
        routes_records,
    ):
        app.include_router(module.router)
    install_contract(app)
    return app
