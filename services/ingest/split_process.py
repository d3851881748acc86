"""Splitting runs in a child process: reading, mapping and encoding a file then use the second
core while the worker's event loop applies batches (one Python process cannot do both at once).

The child produces record-batch events straight to Kafka with aiokafka and returns the row
count; the worker then reports ``split_done``. A child outlives nothing: it is told to stop when
its worker dies (PR_SET_PDEATHSIG), and a re-split after a crash is harmless (the ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import signal
import time
import uuid
from collections.abc import Awaitable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas.topics import IMPORT_RECORDS
from services.core import collector, schema_registry
from services.core.db import set_tenant
from services.core.kafka_security import client_options
from services.core.settings import Settings
from services.core.storage import StoredFile
from services.jobs import ledger_repository
from services.jobs import repository as jobs

__all__ = ["split_in_child", "warm_up", "shutdown", "SplitStalled"]

T = TypeVar("T")

_executor: ProcessPoolExecutor | None = None


def _start_child() -> None:
    collector.for_row_streams()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the child still ends when its split does


def _pool(settings: Settings) -> ProcessPoolExecutor:
    """A split process for each of the worker's job slots: a company's split never waits behind another's."""
    global _executor
    if _executor is None:
        _executor = ProcessPoolExecutor(
            max_workers=max(1, settings.worker_job_slots),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child,
        )
    return _executor


def _ready() -> bool:
    import services.ingest.splitter  # noqa: F401 - the child imports what a split needs, once

    return True


async def warm_up(settings: Settings) -> None:
    """Start the split process ahead of the first job (spawning and importing take about a second)."""
    await asyncio.get_running_loop().run_in_executor(_pool(settings), _ready)


def shutdown() -> None:
    global _executor
    if _executor is not None:
        _executor.shutdown(wait=False, cancel_futures=True)
        _executor = None


async def _produce(settings: Settings, job: dict[str, Any], path: StoredFile) -> int:
    from services.ingest.reader_limits import reader_limits
    from services.ingest.splitter import open_import, split_events

    model = job["model"]
    plan = open_import(
        path,
        job["file_format"],
        model,
        display_name=job["display_name"],
        mapping=job["field_mapping"],
        options=job["options"],
        limits=reader_limits(settings, job.get("max_rows")),
        required=job.get("duplicate_handling") != "update",
    )
    only = _only_rows(settings, job)
    await asyncio.to_thread(schema_registry.install, settings)  # this child frames with its worker's ids
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
        max_batch_size=settings.max_event_bytes,  # a batch of events the broker takes, or one event
    )
    await producer.start()
    topic = settings.topic(IMPORT_RECORDS.name)
    sent: list[asyncio.Future[Any]] = []
    db = await asyncpg.connect(settings.dsn())
    checked = time.monotonic()
    try:
        skip, total = await _recorded(db, job)
        applied = 0
        for partition, rows, data in split_events(
            plan,
            model,
            job_id=job["id"],
            company_id=job["company_id"],
            partitions=settings.record_partitions,
            rows_per_event=settings.rows_per_event,
            max_event_bytes=settings.max_event_bytes,
            only=only,
            skip=skip,
        ):
            total += rows
            sent.append(
                await _acknowledged(
                    producer.send(
                        topic,
                        data,
                        key=f"{job['id']}:{partition}".encode(),
                        partition=partition,
                    ),
                    settings,
                )
            )
            if total - applied > settings.split_ahead_rows or time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                # Rows the broker never took are never applied: waiting for them would wait for good.
                await _acknowledged(asyncio.gather(*sent), settings)
                sent.clear()
                applied = await _applied_or_stop(db, job, total - settings.split_ahead_rows)
                if applied < 0:
                    break
        await _acknowledged(asyncio.gather(*sent), settings)  # every event acknowledged by the broker, or the error
    finally:
        plan.close()
        # Stopping flushes what is pending: a producer that stopped sending would never stop either.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(producer.stop(), settings.split_ack_timeout_s)
        await db.close()
    return total


class SplitStalled(Exception):
    """The broker did not acknowledge a split's events in time; the worker splits the file again."""


async def _acknowledged(step: Awaitable[T], settings: Settings) -> T:
    """``step`` within split_ack_timeout_s. An idempotent producer that lost its sequence with a broker that
    went away can stop sending for good (aio-libs/aiokafka#1017); the split then fails and is run again, with
    a new producer, skipping the rows the ledger holds, instead of the job waiting forever."""
    try:
        return await asyncio.wait_for(step, settings.split_ack_timeout_s)
    except TimeoutError:
        raise SplitStalled(
            f"the broker acknowledged no event of the split for {settings.split_ack_timeout_s:g} s"
        ) from None


async def _recorded(db: asyncpg.Connection, job: dict[str, Any]) -> tuple[bytes, int]:
    """The rows a run of this job whose worker died already recorded in the ledger (a bitmap by row number) and
    their count: sent again, they would only be replays, and the rows behind them would wait while the ledger
    turns them away (a split resumed at 45 % of 600k rows replayed 270k first). Only while the file was never
    read whole: a job whose rows stopped arriving after that is read again in full (resume_stalled), which
    also reports again any row whose result a dying worker never sent."""
    company_id, job_id = job["company_id"], uuid.UUID(job["id"])
    async with db.transaction():
        await set_tenant(db, company_id)
        row = await jobs.get_job(db, company_id, job["id"])
        if row is None or row["total_records"]:
            return b"", 0
        numbers = await ledger_repository.recorded_numbers(db, company_id, job_id)
    skip = bytearray(max(numbers, default=-1) + 1)
    for n in numbers:
        skip[n] = 1
    return bytes(skip), len(numbers)


async def _applied_or_stop(db: asyncpg.Connection, job: dict[str, Any], at_least: int) -> int:
    """The job's rows processed so far, once they are ``at_least``; -1 when the job ended meanwhile
    (cancelled, or stopped by its error policy): stop reading.

    A split runs at most ``split_ahead_rows`` ahead of its job's applied rows: the record partitions are
    shared by every company, in order, so a file sent whole ahead of the apply would make every other
    company's rows wait behind all of it.
    """
    company_id, job_id = uuid.UUID(job["company_id"]), uuid.UUID(job["id"])
    while True:
        async with db.transaction():
            await set_tenant(db, job["company_id"])
            status, processed = await jobs.status_and_processed(db, company_id, job_id)
        if status in ("cancelled", "failed"):
            return -1
        if processed >= at_least:
            return processed
        await asyncio.sleep(0.1)


def _only_rows(settings: Settings, job: dict[str, Any]) -> frozenset[int] | None:
    """A retry imports only the rows listed in its row file (the failed rows of an earlier job)."""
    from services.core import storage
    from services.ingest.row_numbers import read_row_numbers

    rel = (job["options"] or {}).get("only_rows")
    if not rel:
        return None
    with storage.of(settings).local_copy(job["company_id"], rel) as rows:
        return read_row_numbers(rows)


def _split(settings: Settings, job: dict[str, Any], path: StoredFile) -> int:
    return asyncio.run(_produce(settings, job, path))


async def split_in_child(settings: Settings, job: dict[str, Any], path: StoredFile) -> int:
    """Stream the job's file to crm.import.records from the split process; returns the row count.

    ``job`` holds id, company_id, target_model, model (the company's TargetModel), file_format, display_name,
    field_mapping, options.
    Errors of the file (InputFileError and the like) come back as raised here.
    """
    # The stored file travels by name (and its store by settings): the child reads it itself, a local file
    # straight from the folder, an object through ranged GETs.
    return await asyncio.get_running_loop().run_in_executor(_pool(settings), _split, settings, job, path)
