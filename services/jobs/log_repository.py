"""The job logs (crm_import_export_logs): info, warning and error lines of a job, most about one row.

Every statement on the logs lives here, every one scoped to a company. (A job's finish counts its
warned rows with a subquery of the job UPDATE: services.jobs.repository.WARNED.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from services.core.db import copy_rows

__all__ = [
    "LOG_COLUMNS",
    "list_logs",
    "copy_logs",
    "insert_error_log",
    "insert_info_log",
    "delete_job_logs",
    "delete_logs_of_jobs",
    "delete_logs_before",
    "issue_page",
    "error_summary",
    "errors_per_step",
]

LOG_COLUMNS = ("job_id", "record_number", "log_level", "message", "record_data", "company_id", "field")


async def list_logs(
    conn: asyncpg.Connection,
    company_id: str,
    job_id: str,
    *,
    level: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
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
    return rows


async def copy_logs(
    conn: asyncpg.Connection, records: Iterable[Sequence[Any]], columns: Sequence[str] = LOG_COLUMNS
) -> None:
    """COPY log rows (the apply transaction's issues, a rollback's conflicts), one tuple per row in ``columns`` order."""
    await copy_rows(conn, "crm_import_export_logs", columns=columns, records=records)


async def insert_error_log(
    conn: asyncpg.Connection,
    job_id: uuid.UUID,
    record_number: int,
    message: str,
    record_data: dict[str, Any],
    company_id: uuid.UUID,
) -> None:
    await conn.execute(
        "INSERT INTO crm_import_export_logs (job_id, record_number, log_level, message, record_data, company_id) "
        "VALUES ($1, $2, 'error', $3, $4, $5)",
        job_id,
        record_number,
        message,
        record_data,
        company_id,
    )


async def insert_info_log(conn: asyncpg.Connection, job_id: Any, message: str, company_id: Any) -> None:
    await conn.execute(
        "INSERT INTO crm_import_export_logs (job_id, log_level, message, company_id) VALUES ($1, 'info', $2, $3)",
        job_id,
        message,
        company_id,
    )


async def delete_job_logs(conn: asyncpg.Connection, job_id: uuid.UUID, company_id: str) -> None:
    """Forget every log of one job (an all-or-nothing import's validation pass)."""
    await conn.execute("DELETE FROM crm_import_export_logs WHERE job_id = $1 AND company_id = $2", job_id, company_id)


async def delete_logs_of_jobs(conn: asyncpg.Connection, company_id: uuid.UUID, job_ids: list[uuid.UUID]) -> int:
    """The logs of jobs the retention purge removes; returns how many."""
    status: str = await conn.execute(
        "DELETE FROM crm_import_export_logs WHERE company_id = $1 AND job_id = ANY($2::uuid[])",
        company_id,
        job_ids,
    )
    return int(status.split()[-1])


async def delete_logs_before(conn: asyncpg.Connection, company_id: uuid.UUID, cut: dt.datetime) -> int:
    """The company's logs older than ``cut`` (file retention); returns how many."""
    status: str = await conn.execute(
        "DELETE FROM crm_import_export_logs WHERE company_id = $1 AND created_at < $2", company_id, cut
    )
    return int(status.split()[-1])


async def issue_page(
    conn: asyncpg.Connection, company_id: str, job_id: uuid.UUID, after: tuple[int, int], limit: int
) -> list[asyncpg.Record]:
    """Error and warning logs of rows, after (record_number, id), in row order (result files).

    Served by the partial index of migration 013, so a page costs its own rows, not a sort of
    every issue of the job.
    """
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, record_number, log_level, message, record_data, field
          FROM crm_import_export_logs
         WHERE job_id = $2 AND company_id = $1 AND log_level IN ('error', 'warning') AND record_number IS NOT NULL
           AND (record_number, id) > ($3, $4)
         ORDER BY record_number, id
         LIMIT $5
        """,
        company_id,
        job_id,
        after[0],
        after[1],
        limit,
    )
    return rows


# Per field: how many failed rows name it in an error, and the first hint. A row-level problem (a
# malformed line) has no issue list and counts under its log's field, "(row)".
_ERROR_SUMMARY = """
    WITH errs AS (
        SELECT l.id, l.field AS log_field, l.record_data FROM crm_import_export_logs AS l
         WHERE l.company_id = $1 AND l.job_id = $2 AND l.log_level = 'error'
    ), issues AS (
        SELECT DISTINCT ON (e.id, i->>'field') i->>'field' AS field, i->>'hint' AS hint, i->>'message' AS message
          FROM errs AS e, jsonb_array_elements(coalesce(e.record_data->'issues', '[]'::jsonb)) AS i
         WHERE i->>'level' = 'error'
        UNION ALL
        SELECT e.log_field, 'correct the row in the file', NULL FROM errs AS e WHERE e.log_field = '(row)'
    )
    SELECT field, count(*) AS rows, min(hint) AS hint, min(message) AS example
      FROM issues GROUP BY field ORDER BY count(*) DESC, field
"""


async def error_summary(conn: asyncpg.Connection, company_id: str, job_id: Any) -> list[asyncpg.Record]:
    """(field, rows, hint, example) per field the job's failed rows name, most rows first."""
    rows: list[asyncpg.Record] = await conn.fetch(_ERROR_SUMMARY, company_id, job_id)
    return rows


async def errors_per_step(
    conn: asyncpg.Connection, company_id: str, job_ids: Sequence[Any], start: dt.datetime, step: dt.timedelta
) -> list[asyncpg.Record]:
    """(at, n): the error lines of these jobs of the company written since ``start``, per step of ``step`` (``at``
    the step's start); the dashboard's error chart. Each job's error lines are found by its index entry."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT date_bin($4::interval, created_at, $3) AS at, count(*) AS n
          FROM crm_import_export_logs
         WHERE company_id = $1 AND job_id = ANY($2::uuid[]) AND log_level = 'error' AND created_at >= $3
         GROUP BY 1
        """,
        company_id,
        list(job_ids),
        start,
        step,
    )
    return rows
