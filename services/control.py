"""Job control that any front end (CLI, HTTP API) calls: cancelling a job."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas.topics import IMPORT_RESULTS
from services import jobs
from services.errors import CrmioError, NotFound
from services.kafka_io import publish
from services.settings import Settings

__all__ = ["JobNotCancellable", "cancel"]


class JobNotCancellable(CrmioError):
    """The job already ended (completed or failed): there is nothing left to cancel."""

    http_status = 409


async def cancel(
    settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer, company_id: str, job_id: str
) -> dict[str, Any]:
    """Cancel a pending or running job; returns the job. Cancelling a cancelled job is a no-op.

    Once this returns, no further row of the job is applied (see services.jobs.cancel_job). For an
    import the aggregator then reports the cancel after every earlier result; an export notices
    it within its progress interval, removes its partial file and reports it itself.
    """
    async with pool.acquire() as conn:
        row, changed = await jobs.cancel_job(conn, company_id, job_id)
    if row is None:
        raise NotFound(f"no job {job_id} for company {company_id}")
    if not changed and row["job_status"] != "cancelled":
        raise JobNotCancellable(f"job {job_id} is already {row['job_status']}; only pending or running jobs can be cancelled")
    if changed and row["job_type"] == "import":
        await publish(producer, settings, IMPORT_RESULTS, str(row["id"]), {
            "job_id": str(row["id"]), "company_id": str(row["company_id"]), "kind": "cancelled",
            "message": "cancelled on request", "at": int(time.time() * 1000),
        })
    return jobs.job_document(row)
