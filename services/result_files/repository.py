"""The SQL of result files: one page of an import's ledger (with the record's main fields) or of its
row issue logs, read by keyset (after the last row number) so that each page is one short tenant
transaction and a 1M-row file never holds a connection or a transaction open while it is written."""

from __future__ import annotations

import uuid

import asyncpg

from schemas.models import TargetModel

__all__ = ["MAIN_FIELDS", "main_fields", "success_page", "issue_page", "failed_numbers"]

# The fields that tell a person which record a line is about (the match fields come first).
MAIN_FIELDS: dict[str, tuple[str, ...]] = {
    "lead": ("email", "first_name", "last_name", "company"),
    "contact": ("email", "first_name", "last_name", "account"),
    "account": ("website", "name"),
}


def main_fields(model: TargetModel) -> tuple[str, ...]:
    return tuple(f for f in MAIN_FIELDS.get(model.name, model.match_fields) if f in model.by_name)


async def success_page(
    conn: asyncpg.Connection, company_id: str, job_id: uuid.UUID, model: TargetModel, after: int, limit: int
) -> list[asyncpg.Record]:
    """Ledger rows that landed (created / updated / skipped) after row ``after``, in row order.

    The record's fields are its current values (the record may have changed since). A dry run's
    created rows have no record: the ledger keeps their match key. The primary key
    (job_id, record_number) serves both the filter and the order.
    """
    fields = ", ".join(f"r.{f}" for f in main_fields(model))
    return await conn.fetch(
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


async def issue_page(
    conn: asyncpg.Connection, company_id: str, job_id: uuid.UUID, after: tuple[int, int], limit: int
) -> list[asyncpg.Record]:
    """Error and warning logs of rows, after (record_number, id), in row order.

    Served by the partial index of migration 013, so a page costs its own rows, not a sort of
    every issue of the job.
    """
    return await conn.fetch(
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
