"""The apply ledger (crm_import_ledger): one row per row of an import, its outcome and what it wrote.

Every statement on the ledger lives here. The apply transaction (services.apply.batch) and the
rollback call these with their own connection, inside their own transaction and locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from schemas.models import TargetModel
from services.core.db import copy_rows

__all__ = [
    "LEDGER_COLUMNS",
    "LINKED_CREATED",
    "linked_created",
    "ledger_counts",
    "delete_job_ledger",
    "delete_ledger_of_jobs",
    "dry_run_created",
    "applied_rows",
    "copy_ledger",
    "failed_count",
    "insert_failed",
    "count_to_roll_back",
    "rollback_items_cursor",
    "not_rolled_back",
    "mark_rolled_back",
    "success_page",
    "failed_numbers",
]

LEDGER_COLUMNS = (
    "job_id",
    "record_number",
    "company_id",
    "outcome",
    "record_id",
    "before_image",
    "after_version",
    "match_key",
)
# The account a contacts import's row created (migration 018): written by imports that link accounts.
LINKED_CREATED = "linked_created"


async def ledger_counts(conn: asyncpg.Connection, company_id: str, job_id: str | uuid.UUID) -> dict[str, int]:
    """Exact outcome counts of a job, from the apply ledger."""
    rows = await conn.fetch(
        "SELECT outcome, count(*) AS n FROM crm_import_ledger WHERE company_id = $1 AND job_id = $2 GROUP BY outcome",
        company_id,
        job_id,
    )
    counts = {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
    counts.update({r["outcome"]: r["n"] for r in rows})
    return counts


async def delete_job_ledger(conn: asyncpg.Connection, job_id: uuid.UUID, company_id: str) -> None:
    """Forget every outcome of one job (an all-or-nothing import's validation pass)."""
    await conn.execute("DELETE FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2", job_id, company_id)


async def delete_ledger_of_jobs(conn: asyncpg.Connection, company_id: uuid.UUID, job_ids: list[uuid.UUID]) -> None:
    """The ledger of jobs the retention purge removes."""
    await conn.execute(
        "DELETE FROM crm_import_ledger WHERE company_id = $1 AND job_id = ANY($2::uuid[])", company_id, job_ids
    )


# The apply transaction (services.apply.batch): called with its connection, inside its transaction.


async def dry_run_created(conn: asyncpg.Connection, job_id: uuid.UUID, keys: list[str]) -> list[asyncpg.Record]:
    """(match_key, record_id) of the rows a dry run created "virtually" in earlier batches."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT match_key, record_id FROM crm_import_ledger WHERE job_id = $1 AND match_key = ANY($2::text[])",
        job_id,
        keys,
    )
    return rows


async def applied_rows(
    conn: asyncpg.Connection, job_id: uuid.UUID, numbers: list[int], lowest: int, highest: int
) -> list[asyncpg.Record]:
    """(record_number, outcome) of the rows among ``numbers`` the job already applied.

    The range bounds the index scan whatever plan PostgreSQL picks: with "= ANY" alone it
    may filter every ledger row of the job per batch (quadratic in the file size).
    """
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT record_number, outcome FROM crm_import_ledger WHERE job_id = $1 "
        "AND record_number BETWEEN $3 AND $4 AND record_number = ANY($2::int[])",
        job_id,
        numbers,
        lowest,
        highest,
    )
    return rows


async def copy_ledger(conn: asyncpg.Connection, records: Iterable[Sequence[Any]], *, linked: bool = False) -> None:
    """COPY ledger rows, one tuple per row in the order of LEDGER_COLUMNS, then LINKED_CREATED when ``linked``."""
    columns = (*LEDGER_COLUMNS, LINKED_CREATED) if linked else LEDGER_COLUMNS
    await copy_rows(conn, "crm_import_ledger", columns=columns, records=records)


async def failed_count(conn: asyncpg.Connection, job_id: uuid.UUID) -> int:
    """The job's failed rows (the partial index of failed ledger rows)."""
    return int(
        await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE job_id = $1 AND outcome = 'failed'", job_id)
    )


async def insert_failed(
    conn: asyncpg.Connection, job_id: uuid.UUID, record_number: int, company_id: uuid.UUID
) -> int | None:
    """Record a row as failed; None when the ledger already has it."""
    inserted: int | None = await conn.fetchval(
        "INSERT INTO crm_import_ledger (job_id, record_number, company_id, outcome) "
        "VALUES ($1, $2, $3, 'failed') ON CONFLICT DO NOTHING RETURNING record_number",
        job_id,
        record_number,
        company_id,
    )
    return inserted


# Rollback (services.jobs.rollback).

_ITEMS_SQL = """
SELECT record_id,
       array_agg(record_number ORDER BY record_number) AS numbers,
       (array_agg(outcome ORDER BY record_number))[1] AS first_outcome,
       (array_agg(before_image ORDER BY record_number))[1] AS before_image,
       max(after_version) AS last_version
  FROM crm_import_ledger
 WHERE job_id = $1 AND company_id = $2 AND outcome IN ('created', 'updated') AND rolled_back_by IS NULL
 GROUP BY record_id
 ORDER BY record_id
"""


async def count_to_roll_back(conn: asyncpg.Connection, source_id: uuid.UUID, company_id: Any) -> int:
    """The records an import created or updated that no rollback reverted yet."""
    n: int = await conn.fetchval(
        "SELECT count(DISTINCT record_id) FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2 "
        "AND outcome IN ('created', 'updated') AND rolled_back_by IS NULL",
        source_id,
        company_id,
    )
    return n


async def rollback_items_cursor(conn: asyncpg.Connection, source_id: uuid.UUID, company_id: Any) -> Any:
    """A cursor (in the caller's transaction) over those records, one row per record, by record id."""
    return await conn.cursor(_ITEMS_SQL, source_id, company_id)


async def linked_created(conn: asyncpg.Connection, source_id: uuid.UUID, company_id: Any) -> list[uuid.UUID]:
    """The accounts the import's rows created (a contacts import linking accounts), by id."""
    return [
        r["linked_created"]
        for r in await conn.fetch(
            "SELECT linked_created FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2 "
            "AND linked_created IS NOT NULL ORDER BY linked_created",
            source_id,
            company_id,
        )
    ]


async def not_rolled_back(
    conn: asyncpg.Connection, source_id: uuid.UUID, company_id: Any, numbers: list[int]
) -> set[int]:
    """Which of these row numbers of the import no rollback reverted yet."""
    return {
        r["record_number"]
        for r in await conn.fetch(
            "SELECT record_number FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2 "
            "AND record_number = ANY($3::int[]) AND rolled_back_by IS NULL",
            source_id,
            company_id,
            numbers,
        )
    }


async def mark_rolled_back(
    conn: asyncpg.Connection, source_id: uuid.UUID, company_id: Any, rollback_id: Any, numbers: list[int]
) -> None:
    await conn.execute(
        "UPDATE crm_import_ledger SET rolled_back_by = $3 "
        "WHERE job_id = $1 AND company_id = $2 AND record_number = ANY($4::int[])",
        source_id,
        company_id,
        rollback_id,
        numbers,
    )


# Result files (services.result_files): pages read by keyset, each one short tenant transaction.


async def success_page(
    conn: asyncpg.Connection,
    company_id: str,
    job_id: uuid.UUID,
    model: TargetModel,
    main_fields: tuple[str, ...],
    after: int,
    limit: int,
) -> list[asyncpg.Record]:
    """Ledger rows that landed (created / updated / skipped) after row ``after``, in row order, with the
    record's ``main_fields``.

    The record's fields are its current values (the record may have changed since). A dry run's
    created rows have no record: the ledger keeps their match key. The primary key
    (job_id, record_number) serves both the filter and the order.
    """
    fields = ", ".join(f"r.{f}" for f in main_fields)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT l.record_number, l.outcome, l.record_id, COALESCE(l.match_key, r.match_key) AS match_key, {fields}
          FROM crm_import_ledger l
          LEFT JOIN {model.table} r ON r.id = l.record_id AND r.company_id = l.company_id
         WHERE l.job_id = $2 AND l.company_id = $1 AND l.outcome <> 'failed' AND l.record_number > $3
         ORDER BY l.record_number
         LIMIT $4
        """,
        company_id,
        job_id,
        after,
        limit,
    )
    return rows


async def failed_numbers(conn: asyncpg.Connection, company_id: str, job_id: uuid.UUID) -> list[int]:
    """The row numbers the job failed, in order (the partial index of failed ledger rows)."""
    return [
        r["record_number"]
        for r in await conn.fetch(
            "SELECT record_number FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2 AND outcome = 'failed' "
            "ORDER BY record_number",
            job_id,
            company_id,
        )
    ]


async def recorded_numbers(conn: asyncpg.Connection, company_id: str, job_id: uuid.UUID) -> list[int]:
    """Every row number the job's ledger holds (applied or failed), in index order."""
    return [
        r["record_number"]
        for r in await conn.fetch(
            "SELECT record_number FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2",
            job_id,
            company_id,
        )
    ]
