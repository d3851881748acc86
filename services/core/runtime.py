"""The composition root: what one crmio process shares (settings, PostgreSQL pools, Kafka clients), built once.

The worker (streams/runtime.py opens it as a Faust service), the API (its lifespan) and the CLI (one per
command) all open a ``Runtime`` with ``open_runtime`` and hand it to the functions they call; nothing
below the entry points opens a pool or a client of its own. Tests build one and inject it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.core import schema_registry, storage
from services.core.db import connect_pool
from services.core.errors import StackError
from services.core.kafka_io import producer as open_producer
from services.core.kafka_security import client_options, unreachable
from services.core.settings import Settings

__all__ = ["Runtime", "open_runtime"]


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool  # the service role: every use scoped to one company (services.core.db.tenant)
    system: asyncpg.Pool  # the owner role: cross-company work only (admission, schedules, retention, key lookup)
    # Absent where nothing is sent through them: a worker sends through Faust's own producer.
    producer: AIOKafkaProducer | None = None
    admin: AIOKafkaAdminClient | None = None
    offsets: AIOKafkaConsumer | None = None  # group-less: reads end offsets for the consumer-lag metric

    def sender(self) -> AIOKafkaProducer:
        if self.producer is None:
            raise StackError("this process was started without a Kafka producer; it cannot submit jobs")
        return self.producer

    def kafka_admin(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self.admin is None or self.offsets is None:
            raise StackError("this process was started without Kafka admin clients")
        return self.admin, self.offsets


async def _started_admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15000)
    try:
        await asyncio.wait_for(admin.start(), 30)
    except Exception as exc:
        await admin.close()
        raise StackError(f"{unreachable(settings)} ({exc})") from exc
    return admin


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    producer: bool = False,
    admin: bool = False,
    pool_size: tuple[int, int] | None = None,
) -> AsyncIterator[Runtime]:
    """Open the pools (and the Kafka clients asked for); everything is closed in reverse on exit.

    ``pool_size``: (min, max) connections of the service pool; the settings' sizes when not given.
    A command-line process asks for (1, 2).
    """
    low, high = pool_size or (settings.db_pool_min, settings.db_pool_max)
    # A bucket that is missing or refuses the credentials fails here, naming the setting, not on a first upload.
    await asyncio.to_thread(storage.prepare, settings)
    # Before any event is framed or read: with a registry, its ids (registering crmio's schemas first).
    await asyncio.to_thread(schema_registry.install, settings)
    async with AsyncExitStack() as stack:
        pool = await connect_pool(settings.dsn(), min_size=low, max_size=high)
        stack.push_async_callback(pool.close)
        system = await connect_pool(settings.system_dsn(), min_size=min(low, 1), max_size=min(high, 4))
        stack.push_async_callback(system.close)
        runtime = Runtime(settings, pool, system)
        if producer:
            runtime.producer = await stack.enter_async_context(open_producer(settings))
        if admin:
            runtime.admin = await _started_admin(settings)
            stack.push_async_callback(runtime.admin.close)
            runtime.offsets = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
            await runtime.offsets.start()
            stack.push_async_callback(runtime.offsets.stop)
        yield runtime
