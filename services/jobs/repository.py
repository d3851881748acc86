"""The job repository: ImportExportJob rows and their logs, every query scoped to a company."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

__all__ = [
    "JOB_COLUMNS",
    "JOB_STATUSES",
    "FINAL_STATUSES",
    "insert_job",
    "get_job",
    "mark_running",
    "update_progress",
    "finish_job",
    "ledger_counts",
    "cancel_job",
    "end_job_now",
    "begin_apply_phase",
    "list_logs",
    "job_document",
    "status_event",
    "progress_status_event",
    "log_document",
]

JOB_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

JOB_COLUMNS = (
    "id, company_id, job_type, job_status, target_model, file_format, file_path, total_records, "
    "processed_records, success_records, error_records, field_mapping, validation_rules, "
    "duplicate_handling, created_by_user_id, created_at, started_at, completed_at, original_filename, "
    "options, created_records, updated_records, skipped_records, message, updated_at, admitted_at, queue, "
    "value_mapping, warning_records"
)


# Rows imported with at least one value left out: the warning logs, one per such row (the same row
# logged again by a replay or the second pass of an all-or-nothing job counts once).
WARNED = (
    "(SELECT count(DISTINCT record_number) FROM crm_import_export_logs "
    "WHERE company_id = $1 AND job_id = $2 AND log_level = 'warning')"
)


async def insert_job(conn: asyncpg.Connection, job: dict[str, Any]) -> bool:
    """Create a pending job row; False when a row with this id already exists (a replayed request).

    ``job["queue"]`` names the deployment that runs it: its topic prefix (settings.topic_prefix).
    """
    status = await conn.execute(
        """
        INSERT INTO crm_import_export_jobs (
            id, company_id, job_type, target_model, file_format, file_path, field_mapping,
            validation_rules, duplicate_handling, created_by_user_id, original_filename, options, queue,
            value_mapping)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (id) DO NOTHING
        """,
        job["id"],
        job["company_id"],
        job["job_type"],
        job["target_model"],
        job["file_format"],
        job["file_path"],
        job.get("field_mapping"),
        job.get("validation_rules"),
        job.get("duplicate_handling", "skip"),
        job.get("created_by_user_id"),
        job.get("original_filename"),
        job.get("options") or {},
        job["queue"],
        job.get("value_mapping") or None,
    )
    return status.endswith(" 1")


async def get_job(conn: asyncpg.Connection, company_id: str, job_id: str) -> asyncpg.Record | None:
    try:
        jid = uuid.UUID(str(job_id))
    except ValueError:
        return None
    return await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM crm_import_export_jobs WHERE company_id = $1 AND id = $2",
        company_id,
        jid,
    )


async def mark_running(conn: asyncpg.Connection, company_id: str, job_id: str, at: dt.datetime) -> None:
    await conn.execute(
        """
        UPDATE crm_import_export_jobs
           SET job_status = 'running', started_at = COALESCE(started_at, $3), updated_at = now()
         WHERE company_id = $1 AND id = $2 AND job_status IN ('pending', 'running')
        """,
        company_id,
        job_id,
        at,
    )


async def update_progress(conn: asyncpg.Connection, company_id: str, job_id: str, c: dict[str, int]) -> None:
    """Live counters of a running job (a final status is never overwritten)."""
    await conn.execute(
        """
        UPDATE crm_import_export_jobs
           SET total_records = $3, processed_records = $4, success_records = $5, error_records = $6,
               created_records = $7, updated_records = $8, skipped_records = $9, updated_at = now()
         WHERE company_id = $1 AND id = $2 AND job_status = 'running'
        """,
        company_id,
        job_id,
        c["total"],
        c["processed"],
        c["success"],
        c["error"],
        c["created"],
        c["updated"],
        c["skipped"],
    )


async def finish_job(
    conn: asyncpg.Connection,
    company_id: str,
    job_id: str,
    status: str,
    counters: dict[str, int] | None,
    message: str | None,
    at: dt.datetime,
) -> bool:
    """Set a final status (once); counters, when given, are the exact ones. False if already final."""
    c = counters or {}
    result = await conn.execute(
        f"""
        UPDATE crm_import_export_jobs
           SET job_status = $3, message = $4, completed_at = $5, updated_at = now(),
               started_at = COALESCE(started_at, $5),
               total_records = COALESCE($6, total_records),
               processed_records = COALESCE($7, processed_records),
               success_records = COALESCE($8, success_records),
               error_records = COALESCE($9, error_records),
               created_records = COALESCE($10, created_records),
               updated_records = COALESCE($11, updated_records),
               skipped_records = COALESCE($12, skipped_records),
               warning_records = {WARNED}
         WHERE company_id = $1 AND id = $2 AND job_status IN ('pending', 'running')
        """,
        company_id,
        job_id,
        status,
        message,
        at,
        c.get("total"),
        c.get("processed"),
        c.get("success"),
        c.get("error"),
        c.get("created"),
        c.get("updated"),
        c.get("skipped"),
    )
    return result.endswith(" 1")


async def cancel_job(conn: asyncpg.Connection, company_id: str, job_id: str) -> tuple[asyncpg.Record | None, bool]:
    """Cancel a pending or running job: (the job, whether this call cancelled it). See ``end_job_now``."""
    return await end_job_now(conn, company_id, job_id, "cancelled", "cancelled on request")


async def end_job_now(
    conn: asyncpg.Connection, company_id: str, job_id: str, status: str, message: str
) -> tuple[asyncpg.Record | None, bool]:
    """End a pending or running job (cancelled, or failed by its error policy): (the job, whether this call ended it).

    The row lock waits for apply transactions in flight (they hold the row FOR SHARE), and every
    later one sees the final status and applies nothing: once this commits, nothing more is applied.
    The counters are recounted from the ledger under that lock, so they show exactly what was.
    """
    try:
        jid = uuid.UUID(str(job_id))
    except ValueError:
        return None, False
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT job_status, total_records FROM crm_import_export_jobs WHERE company_id = $1 AND id = $2 FOR UPDATE",
            company_id,
            jid,
        )
        if row is None:
            return None, False
        changed = row["job_status"] in ("pending", "running")
        if changed:
            c = await ledger_counts(conn, company_id, jid)
            processed = sum(c.values())
            await conn.execute(
                f"""
                UPDATE crm_import_export_jobs
                   SET job_status = $9, completed_at = now(), updated_at = now(),
                       message = $10, processed_records = $3,
                       success_records = $4, error_records = $5, created_records = $6,
                       updated_records = $7, skipped_records = $8, warning_records = {WARNED}
                 WHERE company_id = $1 AND id = $2
                """,
                company_id,
                jid,
                processed,
                c["created"] + c["updated"] + c["skipped"],
                c["failed"],
                c["created"],
                c["updated"],
                c["skipped"],
                status,
                message,
            )
        return await get_job(conn, company_id, job_id), changed


async def begin_apply_phase(conn: asyncpg.Connection, company_id: str, job_id: str) -> bool:
    """An all-or-nothing import passed validation: forget the validation pass's outcomes and logs, apply for real.
    False when the job is no longer running (cancelled meanwhile)."""
    jid = uuid.UUID(str(job_id))
    async with conn.transaction():
        status = await conn.fetchval(
            "SELECT job_status FROM crm_import_export_jobs WHERE company_id = $1 AND id = $2 FOR UPDATE",
            company_id,
            jid,
        )
        if status != "running":
            return False
        await conn.execute("DELETE FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2", jid, company_id)
        await conn.execute("DELETE FROM crm_import_export_logs WHERE job_id = $1 AND company_id = $2", jid, company_id)
        await conn.execute(
            """
            UPDATE crm_import_export_jobs
               SET options = options || '{"phase": "apply"}'::jsonb, processed_records = 0, success_records = 0,
                   error_records = 0, created_records = 0, updated_records = 0, skipped_records = 0,
                   message = 'every row passed validation; applying', updated_at = now()
             WHERE company_id = $1 AND id = $2
            """,
            company_id,
            jid,
        )
    return True


async def ledger_counts(conn: asyncpg.Connection, company_id: str, job_id: str) -> dict[str, int]:
    """Exact outcome counts of a job, from the apply ledger."""
    rows = await conn.fetch(
        "SELECT outcome, count(*) AS n FROM crm_import_ledger WHERE company_id = $1 AND job_id = $2 GROUP BY outcome",
        company_id,
        job_id,
    )
    counts = {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
    counts.update({r["outcome"]: r["n"] for r in rows})
    return counts


async def list_logs(
    conn: asyncpg.Connection,
    company_id: str,
    job_id: str,
    *,
    level: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT id, job_id, record_number, log_level, message, record_data, created_at, field
          FROM crm_import_export_logs
         WHERE company_id = $1 AND job_id = $2 AND ($3::text IS NULL OR log_level = $3)
         ORDER BY record_number NULLS FIRST, id
         LIMIT $4 OFFSET $5
        """,
        company_id,
        job_id,
        level,
        limit,
        offset,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def job_document(row: asyncpg.Record) -> dict[str, Any]:
    """A job as a stable JSON document with the blueprint's field names."""
    return {k: _plain(v) for k, v in row.items()}


def log_document(row: asyncpg.Record) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


def _ms(value: dt.datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def status_event(row: asyncpg.Record) -> dict[str, Any]:
    """A JobStatus event (schema job_status) from a job row: for a job that ended without a worker
    reporting it (cancelled before it started)."""
    return {
        "job_id": str(row["id"]),
        "company_id": str(row["company_id"]),
        "job_type": row["job_type"],
        "target_model": row["target_model"],
        "job_status": row["job_status"],
        "total_records": row["total_records"],
        "processed_records": row["processed_records"],
        "success_records": row["success_records"],
        "error_records": row["error_records"],
        "created_records": row["created_records"],
        "updated_records": row["updated_records"],
        "skipped_records": row["skipped_records"],
        "started_at": _ms(row["started_at"]),
        "completed_at": _ms(row["completed_at"]),
        "rows_per_second": 0.0,
        "message": row["message"],
        "at": int(dt.datetime.now(dt.UTC).timestamp() * 1000),
    }


def progress_status_event(
    job: asyncpg.Record | dict[str, Any],
    status: str,
    counters: dict[str, int],
    started_ms: int,
    completed_ms: int | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """A JobStatus event for a job a worker runs itself (export, rollback), from its live counters."""
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    elapsed_s = ((completed_ms or now) - started_ms) / 1000
    return {
        "job_id": str(job["id"]),
        "company_id": str(job["company_id"]),
        "job_type": job["job_type"],
        "target_model": job["target_model"],
        "job_status": status,
        "total_records": counters["total"],
        "processed_records": counters["processed"],
        "success_records": counters["success"],
        "error_records": counters["error"],
        "created_records": counters["created"],
        "updated_records": counters["updated"],
        "skipped_records": counters["skipped"],
        "started_at": started_ms,
        "completed_at": completed_ms,
        "rows_per_second": counters["processed"] / elapsed_s if elapsed_s > 0 else 0.0,
        "message": message,
        "at": now,
    }
