"""Retention: purge what is older than each company's retention, once a day, and record what went.

- jobs (with their ledger and logs) finished more than ``job_retention_days`` ago;
- logs, uploads and job files (import files, export outputs) older than ``file_retention_days``;
  a job whose file went keeps its row, with an empty file_path.
Running jobs are never touched. A stored file is deleted only when no job or upload that is kept
still names it (an upload and the imports made from it share one file; services.jobs.stored_files).
Files are removed after the rows' transaction commits: a crash in between leaves an orphan file,
never a row naming a missing file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

import asyncpg

from services.core import storage
from services.core.settings import Settings
from services.jobs import ledger_repository, log_repository, stored_files
from services.jobs import repository as jobs
from services.jobs.limits import limits_for

__all__ = ["purge", "purge_if_due"]

log = logging.getLogger(__name__)

_DAY = dt.timedelta(days=1)


def _old_row_files(settings: Settings, company_id: str, cut: dt.datetime) -> list[str]:
    """Row lists of retries older than ``cut`` (a retry reads its list only while it runs)."""
    return [f.rel for f in storage.of(settings).list(company_id, "retries") if f.modified < cut.timestamp()]


async def _purge_company(
    conn: asyncpg.Connection, settings: Settings, company: str, job_days: int, file_days: int, now: dt.datetime
) -> tuple[dict[str, Any], list[str]]:
    """Purge the rows in one transaction; returns the summary and the files no kept job or upload names any more."""
    cid = uuid.UUID(company)
    job_cut, file_cut = now - job_days * _DAY, now - file_days * _DAY
    row_files = await asyncio.to_thread(_old_row_files, settings, company, file_cut)
    async with conn.transaction():
        await stored_files.lock(conn, cid)  # no job may start naming a file while its last names go
        old = await jobs.expired_jobs(conn, cid, job_cut)
        old_ids = [r["id"] for r in old]
        logs = 0
        if old_ids:
            await ledger_repository.delete_ledger_of_jobs(conn, cid, old_ids)
            logs += await log_repository.delete_logs_of_jobs(conn, cid, old_ids)
            await jobs.delete_jobs(conn, cid, old_ids)
        logs += await log_repository.delete_logs_before(conn, cid, file_cut)
        # A rollback job names its import's file: only imports and exports own theirs.
        with_files = await jobs.release_old_files(conn, cid, file_cut)
        uploads = await conn.fetch(
            "DELETE FROM crm_uploads WHERE company_id = $1 AND created_at < $2 RETURNING stored_path", cid, file_cut
        )
        # A file goes only when nothing kept names it: an upload and the jobs made from it share one file.
        files = await stored_files.release(
            conn,
            cid,
            [r["file_path"] for r in old if r["job_type"] != "rollback"]
            + [r["file_path"] for r in with_files]
            + [r["stored_path"] for r in uploads]
            + row_files,
        )
        store = storage.of(settings)
        found = await asyncio.to_thread(lambda: [store.size(company, f) for f in files])
        sizes = [n for n in found if n is not None]
        on_disk = len(sizes)
        summary = {
            "company_id": company,
            "as_of": now.isoformat(),
            "jobs_purged": len(old_ids),
            "logs_purged": logs,
            "uploads_purged": len(uploads),
            "files_purged": on_disk,
            "bytes_purged": sum(sizes),
        }
        await conn.execute(
            "INSERT INTO crm_retention_runs (company_id, as_of, jobs_purged, logs_purged, files_purged, bytes_purged, "
            "uploads_purged) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            cid,
            now,
            len(old_ids),
            logs,
            on_disk,
            sum(sizes),
            len(uploads),
        )
    return summary, files


async def purge(
    pool: asyncpg.Pool, settings: Settings, now: dt.datetime | None = None, company_ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Purge every company (or those named) as of ``now``; returns what was purged per company."""
    now = now or dt.datetime.now(dt.UTC)
    async with pool.acquire() as conn:
        if company_ids is None:
            company_ids = await jobs.company_ids_with_jobs_or_uploads(conn)
        limits = await limits_for(conn, settings, company_ids)
    summaries = []
    for company, lim in limits.items():
        async with pool.acquire() as conn:
            summary, files = await _purge_company(
                conn, settings, company, lim.job_retention_days, lim.file_retention_days, now
            )
        await asyncio.to_thread(storage.of(settings).remove, company, files)
        if any(summary[k] for k in ("jobs_purged", "logs_purged", "files_purged", "uploads_purged")):
            log.info(
                "retention purged for company %s: %d jobs, %d logs, %d uploads, %d files (%d bytes)",
                company,
                summary["jobs_purged"],
                summary["logs_purged"],
                summary["uploads_purged"],
                summary["files_purged"],
                summary["bytes_purged"],
            )
        summaries.append(summary)
    return summaries


async def purge_if_due(
    pool: asyncpg.Pool, settings: Settings, now: dt.datetime | None = None
) -> list[dict[str, Any]] | None:
    """The daily run: whichever worker takes the maintenance row first purges; None when not due."""
    now = now or dt.datetime.now(dt.UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT last_run_at FROM crm_maintenance WHERE task = 'retention' FOR UPDATE SKIP LOCKED"
        )
        if row is None or (row["last_run_at"] is not None and now - row["last_run_at"] < _DAY):
            return None
        await conn.execute("UPDATE crm_maintenance SET last_run_at = $1 WHERE task = 'retention'", now)
    return await purge(pool, settings, now)
