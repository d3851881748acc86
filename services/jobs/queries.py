"""Job queries beyond services.jobs.repository: filtered pages, changes since a time, progress figures (API and CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from services.jobs.repository import FINAL_STATUSES, JOB_COLUMNS, job_document

__all__ = ["list_jobs", "changed_jobs", "progress_document", "signature"]


async def list_jobs(
    conn: asyncpg.Connection,
    company_id: str,
    *,
    job_type: str | None = None,
    job_status: str | None = None,
    target_model: str | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[asyncpg.Record], int]:
    """A page of the company's jobs, newest first, and the total matching count."""
    where = """
        company_id = $1
        AND ($2::text IS NULL OR job_type = $2)
        AND ($3::text IS NULL OR job_status = $3)
        AND ($4::text IS NULL OR target_model = $4)
        AND ($5::timestamptz IS NULL OR created_at >= $5)
        AND ($6::timestamptz IS NULL OR created_at < $6)
    """
    args = (company_id, job_type, job_status, target_model, created_from, created_to)
    rows = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM crm_import_export_jobs WHERE {where} ORDER BY created_at DESC, id LIMIT $7 OFFSET $8",
        *args,
        limit,
        offset,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM crm_import_export_jobs WHERE {where}", *args)
    return rows, total


async def changed_jobs(conn: asyncpg.Connection, company_id: str, since: dt.datetime) -> list[asyncpg.Record]:
    """The company's jobs whose row changed at or after ``since`` (every job write sets updated_at)."""
    return await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM crm_import_export_jobs WHERE company_id = $1 AND updated_at >= $2 "
        "ORDER BY updated_at, id",
        company_id,
        since,
    )


def progress_document(row: asyncpg.Record | dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """The job's blueprint fields plus percent, records per second and the ETA in seconds (None when unknown)."""
    doc = job_document(row) if not isinstance(row, dict) else dict(row)
    raw = dict(row)
    now = now or dt.datetime.now(dt.UTC)
    total, processed = raw["total_records"] or 0, raw["processed_records"] or 0
    started: dt.datetime | None = raw.get("started_at")
    end = raw.get("completed_at") if raw["job_status"] in FINAL_STATUSES and raw.get("completed_at") else now
    elapsed = (end - started).total_seconds() if started else 0.0
    rate = processed / elapsed if elapsed > 0 and processed else 0.0
    eta: float | None = None
    if raw["job_status"] in FINAL_STATUSES:
        eta = 0.0
    elif rate > 0 and total:
        eta = max(total - processed, 0) / rate
    doc.update(
        percent=round(min(100.0, 100.0 * processed / total), 1)
        if total
        else (100.0 if raw["job_status"] == "completed" else 0.0),
        records_per_second=round(rate, 1),
        eta_seconds=round(eta, 1) if eta is not None else None,
        elapsed_seconds=round(elapsed, 3),
    )
    return doc


def signature(row: asyncpg.Record) -> tuple[Any, ...]:
    """What a live view shows of a job: a change here is worth an event."""
    return (
        row["job_status"],
        row["total_records"],
        row["processed_records"],
        row["success_records"],
        row["error_records"],
        row["message"],
    )
