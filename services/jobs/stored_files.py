"""A company's stored files: one row each in crm_stored_files with its size, the storage quota, who still names a file.

A file is stored once and may be named by several rows: an upload (``crm_uploads.stored_path``) and
every import made from it (``file_path`` of imports and exports), a retry's row file (``only_rows``
of a pending or running job). The usage is the sum of the rows' sizes, so each file counts once.
Whatever stores, names or deletes a company's files takes the company's storage lock for the rest
of its transaction (``lock``): a quota check and the row it admits, or retention's "nobody names
it any more" and the deletion, never interleave with another's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg

from services.core import storage
from services.core.errors import NotFound, StorageQuotaExceeded
from services.core.settings import Settings
from services.jobs.limits import CompanyLimits

__all__ = ["lock", "usage", "check_room", "quota_error", "register", "hold", "is_registered", "release"]


def _cid(company_id: Any) -> uuid.UUID:
    return uuid.UUID(str(company_id))


async def lock(conn: asyncpg.Connection, company_id: Any) -> None:
    """The company's storage lock, held until the transaction ends (taking it again is harmless)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('crmio.storage:' || $1::text, 0))", str(_cid(company_id))
    )


async def usage(conn: asyncpg.Connection, settings: Settings, company_id: Any) -> int:
    """Bytes the company keeps in storage. Files not measured yet (export outputs, files stored before
    migration 015) are measured now, one stat each, once."""
    cid = _cid(company_id)
    unmeasured = [
        r["path"]
        for r in await conn.fetch("SELECT path FROM crm_stored_files WHERE company_id = $1 AND size_bytes IS NULL", cid)
    ]
    if unmeasured:
        # A file that is not there (a job of another system naming a path it never stored) holds 0 bytes.
        store = storage.of(settings)
        sizes = await asyncio.to_thread(lambda: [store.size(str(cid), p) or 0 for p in unmeasured])
        await conn.executemany(
            "UPDATE crm_stored_files SET size_bytes = $3 WHERE company_id = $1 AND path = $2 AND size_bytes IS NULL",
            [(cid, path, size) for path, size in zip(unmeasured, sizes, strict=True)],
        )
    used: int = await conn.fetchval(
        "SELECT COALESCE(sum(size_bytes), 0)::bigint FROM crm_stored_files WHERE company_id = $1", cid
    )
    return used


def quota_error(limits: CompanyLimits, company_id: Any, used: int, what: str) -> StorageQuotaExceeded:
    """The refusal: what was refused, the usage and the quota, and how to free space."""
    return StorageQuotaExceeded(
        f"{what} would pass this company's storage quota: {used:,} of {limits.max_storage_bytes:,} bytes are in "
        "use (max_storage_bytes). Free space by deleting uploads no longer needed (DELETE /api/v1/uploads/ID; a "
        f"file a job still names goes when retention releases it, {limits.file_retention_days} days after the "
        f"job ended), or ask an operator to raise the quota: crmio limits set --company {_cid(company_id)} "
        "--max-storage-bytes BYTES"
    )


def check_room(limits: CompanyLimits, company_id: Any, used: int, adding: int, what: str) -> None:
    """StorageQuotaExceeded unless ``adding`` more bytes fit beside the ``used`` ones."""
    if used + adding > limits.max_storage_bytes:
        raise quota_error(limits, company_id, used, what)


async def register(
    conn: asyncpg.Connection,
    settings: Settings,
    limits: CompanyLimits,
    company_id: Any,
    path: str,
    size: int,
    what: str,
) -> None:
    """Record a file just stored, if it fits: under the storage lock, with the usage counted again (others
    may have stored meanwhile). StorageQuotaExceeded records nothing; the caller removes the file."""
    await lock(conn, company_id)
    check_room(limits, company_id, await usage(conn, settings, company_id), size, what)
    await conn.execute(
        "INSERT INTO crm_stored_files (company_id, path, size_bytes) VALUES ($1, $2, $3) "
        "ON CONFLICT (company_id, path) DO UPDATE SET size_bytes = EXCLUDED.size_bytes",
        _cid(company_id),
        path,
        size,
    )


async def is_registered(conn: asyncpg.Connection, company_id: Any, path: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM crm_stored_files WHERE company_id = $1 AND path = $2)", _cid(company_id), path
    )
    return found


async def hold(conn: asyncpg.Connection, company_id: Any, path: str, file: str) -> None:
    """Keep a stored file for a new job that will name it (in this transaction): NotFound when retention
    deleted it meanwhile."""
    await lock(conn, company_id)
    if not await is_registered(conn, company_id, path):
        raise NotFound(
            f"the stored copy of {file!r} was deleted (retention, or its upload was deleted); upload it again"
        )


async def release(conn: asyncpg.Connection, company_id: Any, paths: Iterable[str]) -> list[str]:
    """Forget the files among ``paths`` that no job or upload names any more; returns them, to be deleted
    from the disk once the transaction commits (a crash in between leaves an orphan file, never a row
    naming a missing file). Call it in the transaction that removed those names."""
    candidates = sorted({p for p in paths if p})
    if not candidates:
        return []
    cid = _cid(company_id)
    await lock(conn, cid)
    rows = await conn.fetch(
        """
        SELECT c.path FROM unnest($2::text[]) AS c(path)
        WHERE NOT EXISTS (SELECT 1 FROM crm_import_export_jobs j
                          WHERE j.company_id = $1 AND j.file_path = c.path AND j.job_type IN ('import', 'export'))
          AND NOT EXISTS (SELECT 1 FROM crm_uploads u WHERE u.company_id = $1 AND u.stored_path = c.path)
          AND NOT EXISTS (SELECT 1 FROM crm_import_export_jobs j
                          WHERE j.company_id = $1 AND j.job_status IN ('pending', 'running')
                            AND j.options->>'only_rows' = c.path)
        """,
        cid,
        candidates,
    )
    gone = [r["path"] for r in rows]
    await conn.execute("DELETE FROM crm_stored_files WHERE company_id = $1 AND path = ANY($2::text[])", cid, gone)
    return gone
