"""Job control that any front end (CLI, HTTP API) calls: cancel, roll back, retry."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas import events
from schemas.topics import IMPORT_RESULTS, JOB_REQUESTS, JOB_STATUS
from services.core.db import tenant
from services.core.errors import JobStateError
from services.core.kafka_io import publish
from services.core.settings import Settings
from services.jobs import repository as jobs
from services.jobs.retry import submit_retry as retry
from services.jobs.rollback import create_rollback_job

__all__ = ["JobNotCancellable", "cancel", "rollback", "retry"]


class JobNotCancellable(JobStateError):
    """The job already ended (completed or failed): there is nothing left to cancel."""


async def cancel(
    settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer, company_id: str, job_id: str
) -> dict[str, Any]:
    """Cancel a pending or running job; returns the job. Cancelling a cancelled job is a no-op.

    Once this returns, no further row of the job is applied (see services.jobs.repository.cancel_job). For an
    import the aggregator then reports the cancel after every earlier result; an export notices
    it within its progress interval, removes its partial file and reports it itself.
    """
    async with tenant(pool, company_id) as conn:
        row, changed = await jobs.cancel_job(conn, company_id, job_id)
    if row is None:
        raise jobs.job_not_found(job_id)
    if not changed and row["job_status"] != "cancelled":
        raise JobNotCancellable(
            f"job {job_id} is already {row['job_status']}; only pending or running jobs can be cancelled"
        )
    if changed and row["job_type"] == "import":
        await publish(
            producer,
            settings,
            IMPORT_RESULTS,
            str(row["id"]),
            events.import_result(
                str(row["id"]),
                str(row["company_id"]),
                "cancelled",
                message="cancelled on request",
                at=int(time.time() * 1000),
            ),
        )
    elif changed and row["admitted_at"] is None:
        # An export or rollback cancelled while it waited for admission: no worker will report it.
        await publish(producer, settings, JOB_STATUS, str(row["id"]), jobs.status_event(row))
    return jobs.job_document(row)


async def rollback(
    settings: Settings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    company_id: str,
    job_id: str,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Start the rollback of an import (a job of its own); returns the rollback job."""
    async with tenant(pool, company_id) as conn:
        rollback_id = await create_rollback_job(conn, company_id, job_id, force=force)
        row = await jobs.get_job(conn, company_id, rollback_id)
    assert row is not None
    request = events.job_request(row, requested_at=int(row["created_at"].timestamp() * 1000), admitted=False)
    await publish(producer, settings, JOB_REQUESTS, rollback_id, request)
    return jobs.job_document(row)
