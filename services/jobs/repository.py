"""The job repository: every statement on ImportExportJob rows (crm_import_export_jobs).

Their ledger and logs have their own repositories (services.jobs.ledger_repository,
services.jobs.log_repository). Queries of one company's jobs are scoped to it; the worker's
admission, stall and retention passes read every company's rows of their queue.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from schemas import events
from services.core.errors import NotFound
from services.jobs import ledger_repository, log_repository

__all__ = [
    "row_counters",
    "JOB_COLUMNS",
    "JOB_STATUSES",
    "FINAL_STATUSES",
    "insert_job",
    "get_job",
    "require_job",
    "job_not_found",
    "get_job_row",
    "list_jobs",
    "changed_jobs",
    "set_message",
    "touch_heartbeat",
    "expire_heartbeat",
    "pending_for_admission",
    "running_per_company",
    "admit_jobs",
    "claim_stalled",
    "lock_for_apply",
    "active_rollback_of",
    "mark_rolled_back_by",
    "expired_jobs",
    "delete_jobs",
    "release_old_files",
    "company_ids_with_jobs_or_uploads",
    "job_counts",
    "running_rates",
    "jobs_in_window",
    "mark_running",
    "update_progress",
    "finish_job",
    "cancel_job",
    "end_job_now",
    "begin_apply_phase",
    "job_document",
    "status_event",
    "job_status",
    "set_file_path",
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
    status: str = await conn.execute(
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


def job_not_found(job_id: Any) -> NotFound:
    return NotFound(f"no job {job_id}")


async def require_job(conn: asyncpg.Connection, company_id: str, job_id: str) -> asyncpg.Record:
    """The company's job, or NotFound (404; exit code 2 in the CLI): another company's job is not found either."""
    row = await get_job(conn, company_id, job_id)
    if row is None:
        raise job_not_found(job_id)
    return row


async def get_job_row(conn: asyncpg.Connection, company_id: uuid.UUID, job_id: uuid.UUID) -> asyncpg.Record | None:
    """Every column of the job row (a start request is built from it)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM crm_import_export_jobs WHERE company_id = $1 AND id = $2",
        company_id,
        job_id,
    )
    return row


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
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM crm_import_export_jobs WHERE {where} ORDER BY created_at DESC, id LIMIT $7 OFFSET $8",
        *args,
        limit,
        offset,
    )
    total: int = await conn.fetchval(f"SELECT count(*) FROM crm_import_export_jobs WHERE {where}", *args)
    return rows, total


async def changed_jobs(conn: asyncpg.Connection, company_id: str, since: dt.datetime) -> list[asyncpg.Record]:
    """The company's jobs whose row changed at or after ``since`` (every job write sets updated_at)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM crm_import_export_jobs WHERE company_id = $1 AND updated_at >= $2 "
        "ORDER BY updated_at, id",
        company_id,
        since,
    )
    return rows


async def set_message(conn: asyncpg.Connection, company_id: str, job_id: Any, message: str) -> None:
    await conn.execute(
        "UPDATE crm_import_export_jobs SET message = $3, updated_at = now() WHERE company_id = $1 AND id = $2",
        company_id,
        job_id,
        message,
    )


async def touch_heartbeat(pool: asyncpg.Pool, job_id: uuid.UUID) -> None:
    """A running job's runner is alive."""
    await pool.execute(
        "UPDATE crm_import_export_jobs SET heartbeat_at = now() WHERE id = $1 AND job_status = 'running'",
        job_id,
    )


async def hold_heartbeat(pool: asyncpg.Pool, job_id: uuid.UUID, seconds: float) -> None:
    """A running job's runner ended well: the job is not stale before ``seconds`` from now."""
    await pool.execute(
        "UPDATE crm_import_export_jobs SET heartbeat_at = now() + make_interval(secs => $2) "
        "WHERE id = $1 AND job_status = 'running'",
        job_id,
        seconds,
    )


async def expire_heartbeat(pool: asyncpg.Pool, job_id: uuid.UUID) -> None:
    """A running job's runner stops: any worker may start the job again at once."""
    await pool.execute(
        "UPDATE crm_import_export_jobs SET heartbeat_at = 'epoch' WHERE id = $1 AND job_status = 'running'",
        job_id,
    )


# Admission and stalls (services.jobs.admission): every company's jobs of one queue.


async def pending_for_admission(
    conn: asyncpg.Connection, queue: str, limit: int, per_company: int
) -> list[asyncpg.Record]:
    """(id, company_id) of the queue's pending jobs, company by company in turns: every company's
    oldest job first (oldest company first), then every company's second, and so on, at most
    ``per_company`` of one company. A company with thousands of jobs waiting takes one turn a round,
    so it never pushes another company's job out of a pass; within a company, jobs keep their order."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, company_id FROM (
            SELECT id, company_id, created_at,
                   row_number() OVER (PARTITION BY company_id ORDER BY created_at, id) AS turn
              FROM crm_import_export_jobs
             WHERE job_status = 'pending' AND queue = $1
        ) waiting
         WHERE turn <= $3
         ORDER BY turn, created_at, id
         LIMIT $2
        """,
        queue,
        limit,
        per_company,
    )
    return rows


async def running_per_company(conn: asyncpg.Connection, queue: str) -> list[asyncpg.Record]:
    """(company_id, n) running jobs of the queue per company."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT company_id, count(*) AS n FROM crm_import_export_jobs WHERE job_status = 'running' "
        "AND queue = $1 GROUP BY company_id",
        queue,
    )
    return rows


async def admit_jobs(conn: asyncpg.Connection, job_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Mark these pending jobs running (admitted now); returns their whole rows."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        UPDATE crm_import_export_jobs
           SET job_status = 'running', admitted_at = now(), started_at = COALESCE(started_at, now()),
               updated_at = now(), heartbeat_at = now()
         WHERE id = ANY($1::uuid[]) AND job_status = 'pending'
        RETURNING *
        """,
        job_ids,
    )
    return rows


async def claim_stalled(
    conn: asyncpg.Connection, queue: str, stall_s: float, runner_stale_s: float
) -> list[asyncpg.Record]:
    """Claim the queue's running jobs whose rows stopped moving for ``stall_s``, or whose runner's heartbeat is
    ``runner_stale_s`` old (see admission.resume_stalled)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        UPDATE crm_import_export_jobs SET updated_at = now(), heartbeat_at = now()
         WHERE queue = $1 AND job_status = 'running'
           AND ((job_type = 'import' AND total_records > 0 AND updated_at < now() - make_interval(secs => $2))
             OR ((job_type <> 'import' OR total_records = 0) AND heartbeat_at < now() - make_interval(secs => $3)))
        RETURNING *
        """,
        queue,
        stall_s,
        runner_stale_s,
    )
    return rows


# The apply transaction and the rollback lock the job row FOR KEY SHARE: shared among themselves, exclusive
# against the FOR UPDATE of a cancel, an error-policy stop or a phase switch (end_job_now, begin_apply_phase).
# Not FOR SHARE: that also conflicts with a plain UPDATE of the row, so the heartbeat, the live counters and
# the stalled-job check queued behind every apply transaction in flight; with two workers' transactions
# overlapping they waited for half a minute, the runner's heartbeat went stale and the job was started again
# and again while it ran (bench_import --workers 2: six restarts of one 1M-row import).


async def lock_for_apply(conn: asyncpg.Connection, job_id: uuid.UUID, company_id: uuid.UUID) -> asyncpg.Record | None:
    """(job_status, phase, max_errors) of an import, its row held FOR KEY SHARE until the transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT job_status, options->>'phase' AS phase, (options->'error_policy'->>'max_errors')::int AS max_errors "
        "FROM crm_import_export_jobs WHERE id = $1 AND company_id = $2 FOR KEY SHARE",
        job_id,
        company_id,
    )
    return row


async def status_and_processed(conn: asyncpg.Connection, company_id: Any, job_id: Any) -> tuple[str | None, int]:
    """The job's status and the rows its aggregator has counted as processed so far."""
    row = await conn.fetchrow(
        "SELECT job_status, processed_records FROM crm_import_export_jobs WHERE id = $1 AND company_id = $2",
        job_id,
        company_id,
    )
    return (row["job_status"], row["processed_records"] or 0) if row else (None, 0)


async def job_status(conn: asyncpg.Connection, company_id: Any, job_id: Any, *, for_share: bool = False) -> str | None:
    """The job's status now; ``for_share``: its row held FOR KEY SHARE until the transaction ends."""
    status: str | None = await conn.fetchval(
        "SELECT job_status FROM crm_import_export_jobs WHERE id = $1 AND company_id = $2"
        + (" FOR KEY SHARE" if for_share else ""),
        job_id,
        company_id,
    )
    return status


async def set_file_path(conn: asyncpg.Connection, company_id: str, job_id: str, file_path: str) -> None:
    """Record an export's output file on its job row."""
    await conn.execute(
        "UPDATE crm_import_export_jobs SET file_path = $3, updated_at = now() WHERE company_id = $1 AND id = $2",
        company_id,
        job_id,
        file_path,
    )


async def active_rollback_of(conn: asyncpg.Connection, company_id: Any, source_id: str) -> Any:
    """The id of a pending or running rollback of import ``source_id``, or None."""
    return await conn.fetchval(
        "SELECT id FROM crm_import_export_jobs WHERE company_id = $1 AND job_type = 'rollback' "
        "AND options->>'rollback_of' = $2 AND job_status IN ('pending', 'running') LIMIT 1",
        company_id,
        source_id,
    )


async def mark_rolled_back_by(
    conn: asyncpg.Connection, company_id: Any, source_id: uuid.UUID, rollback_id: str
) -> None:
    """Note on the import which rollback job reverted it."""
    await conn.execute(
        "UPDATE crm_import_export_jobs SET options = options || jsonb_build_object('rolled_back_by', $3::text), "
        "updated_at = now() WHERE company_id = $1 AND id = $2",
        company_id,
        source_id,
        rollback_id,
    )


# Retention (services.jobs.retention).


async def expired_jobs(conn: asyncpg.Connection, company_id: uuid.UUID, cut: dt.datetime) -> list[asyncpg.Record]:
    """(id, job_type, file_path) of the company's jobs that ended before ``cut``."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, job_type, file_path FROM crm_import_export_jobs WHERE company_id = $1 "
        "AND job_status IN ('completed', 'failed', 'cancelled') AND COALESCE(completed_at, created_at) < $2",
        company_id,
        cut,
    )
    return rows


async def delete_jobs(conn: asyncpg.Connection, company_id: uuid.UUID, job_ids: list[uuid.UUID]) -> None:
    await conn.execute(
        "DELETE FROM crm_import_export_jobs WHERE company_id = $1 AND id = ANY($2::uuid[])", company_id, job_ids
    )


async def release_old_files(conn: asyncpg.Connection, company_id: uuid.UUID, cut: dt.datetime) -> list[asyncpg.Record]:
    """Clear the file of imports and exports that ended before ``cut``; returns (file_path) of each.
    A rollback job names its import's file: only imports and exports own theirs."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "UPDATE crm_import_export_jobs AS j SET file_path = '', updated_at = now() "
        "FROM (SELECT id, file_path FROM crm_import_export_jobs WHERE company_id = $1 "
        "      AND job_type IN ('import', 'export') AND file_path <> '' "
        "      AND job_status IN ('completed', 'failed', 'cancelled') AND COALESCE(completed_at, created_at) < $2 "
        "      FOR UPDATE) AS old "
        "WHERE j.id = old.id RETURNING old.file_path",
        company_id,
        cut,
    )
    return rows


async def company_ids_with_jobs_or_uploads(conn: asyncpg.Connection) -> list[str]:
    return [
        str(r["company_id"])
        for r in await conn.fetch(
            "SELECT company_id FROM crm_import_export_jobs UNION SELECT company_id FROM crm_uploads"
        )
    ]


# Metrics (services.api.metrics): every company's jobs.


async def job_counts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """(job_type, job_status, n) over every job."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT job_type, job_status, count(*) AS n FROM crm_import_export_jobs GROUP BY 1, 2"
    )
    return rows


async def running_rates(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """(job_type, r): the summed rows per second of the running jobs per type."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
                SELECT job_type, coalesce(sum(processed_records / greatest(extract(epoch FROM now() - started_at), 0.001)), 0) AS r
                  FROM crm_import_export_jobs WHERE job_status = 'running' AND started_at IS NOT NULL GROUP BY 1
                """
    )
    return rows


async def jobs_in_window(
    conn: asyncpg.Connection, company_id: str, start: dt.datetime, limit: int
) -> list[asyncpg.Record]:
    """The company's jobs that existed at some time since ``start`` (ended since, or not ended), most recently
    changed first, at most ``limit``: the dashboard's charts (services.jobs.timeseries). Ending a job touches
    ``updated_at``, so a job that ended before ``start`` is left out; a pending or running one never is."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT * FROM (
            SELECT id, job_type, job_status, created_at, started_at, completed_at, updated_at, total_records,
                   processed_records
              FROM crm_import_export_jobs WHERE company_id = $1 AND updated_at >= $2
            UNION ALL
            SELECT id, job_type, job_status, created_at, started_at, completed_at, updated_at, total_records,
                   processed_records
              FROM crm_import_export_jobs
             WHERE company_id = $1 AND updated_at < $2 AND job_status IN ('pending', 'running')
        ) j ORDER BY updated_at DESC LIMIT $3
        """,
        company_id,
        start,
        limit,
    )
    return rows


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
    result: str = await conn.execute(
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

    The row lock waits for apply transactions in flight (they hold the row FOR KEY SHARE), and every
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
            c = await ledger_repository.ledger_counts(conn, company_id, jid)
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
        await ledger_repository.delete_job_ledger(conn, jid, company_id)
        await log_repository.delete_job_logs(conn, jid, company_id)
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


def row_counters(row: Any) -> dict[str, int]:
    """The job row's six outcome counters, by the names status events and progress use."""
    return {
        "processed": row["processed_records"],
        "success": row["success_records"],
        "error": row["error_records"],
        "created": row["created_records"],
        "updated": row["updated_records"],
        "skipped": row["skipped_records"],
    }


def status_event(row: asyncpg.Record) -> events.JobStatus:
    """The status event of a job from its row: for a job that ended without a worker reporting it
    (cancelled before it started)."""
    return events.job_status(
        row,
        row["job_status"],
        at=_now_ms(),
        total=row["total_records"],
        counters=row_counters(row),
        started_ms=_ms(row["started_at"]),
        completed_ms=_ms(row["completed_at"]),
        message=row["message"],
    )


def progress_status_event(
    job: asyncpg.Record | dict[str, Any],
    status: events.JobStatusKind,
    counters: dict[str, int],
    started_ms: int,
    completed_ms: int | None = None,
    message: str | None = None,
) -> events.JobStatus:
    """The status event of a job a worker runs itself (export, rollback), from its live counters."""
    return events.job_status(
        job,
        status,
        at=_now_ms(),
        total=counters["total"],
        counters=counters,
        started_ms=started_ms,
        completed_ms=completed_ms,
        message=message,
    )


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
