"""The worker's shared resources (the PostgreSQL pool), opened on first use and closed at shutdown."""

from __future__ import annotations

import asyncio

from services.apply.pipeline import JobContexts, WorkerResources
from services.core.db import connect_pool
from services.ingest import split_process
from streams.app import app, settings

__all__ = ["resources", "job_contexts"]

_lock = asyncio.Lock()
_resources: WorkerResources | None = None
_contexts: JobContexts | None = None


async def resources() -> WorkerResources:
    global _resources
    if _resources is None:
        async with _lock:
            if _resources is None:
                pool = await connect_pool(settings.dsn(), min_size=settings.db_pool_min, max_size=settings.db_pool_max)
                system = await connect_pool(settings.system_dsn(), min_size=1, max_size=4)
                _resources = WorkerResources(settings, pool, system)
    return _resources


async def job_contexts() -> JobContexts:
    global _contexts
    if _contexts is None:
        _contexts = JobContexts(await resources())
    return _contexts


@app.on_before_shutdown.connect
async def _close(app: object, **kwargs: object) -> None:
    global _resources
    split_process.shutdown()
    if _resources is not None:
        await _resources.pool.close()
        await _resources.system.close()
        _resources = None
