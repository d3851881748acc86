"""The apply path takes rows only for a running import: a record batch for a completed (or pending) job,
redelivered late or forged by whoever can write to crm.import.records, adds nothing (issue 17)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from schemas.models import LEAD
from services.apply.batch import JobContext, SourceRow, apply_rows, clean_rows
from services.cleansing.cleaning import RecordCleaner
from services.core.db import tenant
from services.core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("status", ["completed", "pending", "cancelled", "running"])
async def test_rows_for_a_job_that_is_not_running_are_refused(
    pool: asyncpg.Pool, settings: Settings, status: str
) -> None:
    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, file_format, "
            "file_path, queue) VALUES ($1, $2, 'import', $3, 'lead', 'csv', 'x.csv', $4)",
            uuid.UUID(job_id),
            uuid.UUID(company),
            status,
            f"forged{uuid.uuid4().hex[:6]}",
        )
    ctx = JobContext(job_id, company, LEAD, "update", RecordCleaner(LEAD))
    rows = [SourceRow(n, {"first_name": "Eve", "last_name": "Forged", "email": f"eve{n}@example.com"}) for n in (1, 2)]
    async with tenant(pool, company) as conn:
        result = await apply_rows(conn, ctx, ("first_name", "last_name", "email"), clean_rows(ctx, rows))
    async with pool.acquire() as conn:
        leads = await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", uuid.UUID(company))
        ledger = await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job_id))
        await conn.execute("DELETE FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job_id))
        await conn.execute("DELETE FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(job_id))
        await conn.execute("DELETE FROM crm_leads WHERE company_id = $1", uuid.UUID(company))
    if status == "running":
        assert result is not None and result.outcomes == ["created", "created"] and (leads, ledger) == (2, 2)
    elif status in ("cancelled", "pending"):
        assert result is None and (leads, ledger) == (0, 0)
    else:  # completed: nothing applied, nothing reported, for the ledger holds none of these rows
        assert result is not None and result.numbers == [] and (leads, ledger) == (0, 0)
