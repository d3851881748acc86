"""The composition root of the HTTP API: create_app(settings) wires the pool, the Kafka clients, routes and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from services.api import (
    routes_control,
    routes_docs,
    routes_events,
    routes_jobs,
    routes_keys,
    routes_ops,
    routes_picklists,
    routes_results,
    routes_schedules,
    routes_templates,
    routes_ui,
    routes_uploads,
    routes_web,
)
from services.api.deps import ApiResources
from services.api.guards import Guards
from services.api.http import OrjsonResponse, install_error_handlers
from services.api.metrics import LatencyMiddleware, Metrics
from services.core.db import connect_pool
from services.core.errors import StackError
from services.core.kafka_io import producer
from services.core.settings import Settings

__all__ = ["create_app"]

DESCRIPTION = """Import and export CRM Leads, Contacts and Accounts.

Every `/api/v1` call needs `Authorization: Bearer <API key>` (create one with `crmio keys create`).
A key belongs to one company: another company's jobs, uploads and templates answer 404.
Errors answer `{"error": {"type", "message"}}`.
"""


async def _kafka_admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    try:
        await asyncio.wait_for(admin.start(), 30)
    except Exception as exc:
        await admin.close()
        raise StackError(f"Kafka at {settings.kafka_bootstrap} is not reachable ({exc})") from exc
    return admin


def create_app(settings: Settings) -> FastAPI:
    """The API app; its lifespan opens (and closes) the asyncpg pool and the Kafka producer, admin and offsets clients."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool = await connect_pool(settings.dsn(), min_size=settings.db_pool_min, max_size=settings.db_pool_max)
            stack.push_async_callback(pool.close)
            system = await connect_pool(settings.system_dsn(), min_size=1, max_size=4)
            stack.push_async_callback(system.close)
            prod = await stack.enter_async_context(producer(settings))
            admin = await _kafka_admin(settings)
            stack.push_async_callback(admin.close)
            # A group-less consumer only reads end offsets for the consumer-lag metric.
            offsets = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
            await offsets.start()
            stack.push_async_callback(offsets.stop)
            app.state.resources = ApiResources(settings, pool, prod, admin, system)
            app.state.offsets_consumer = offsets
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
    )
    app.state.metrics = metrics
    app.add_middleware(
        Guards, max_json_bytes=settings.max_json_body_bytes, read_timeout_s=settings.request_read_timeout_s
    )
    app.add_middleware(LatencyMiddleware, metrics=metrics)
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
    ):
        app.include_router(module.router)
    return app
