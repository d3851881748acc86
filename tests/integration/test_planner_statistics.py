"""A company an import grows is in the planner's statistics before its lookups need it (services/apply/
statistics.py): without them a new company is estimated at one row, and each batch's duplicate lookup
scanned every row the import had written before it."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.apply.statistics import FIRST_ANALYZE_ROWS
from tests.datagen import make_leads, write_csv

pytestmark = pytest.mark.integration

# The duplicate lookup's shape (services/apply/batch.py _fetch_existing).
LOOKUP = "SELECT id FROM crm_leads WHERE company_id = $1 AND match_key = ANY($2::text[]) ORDER BY created_at, id"


async def _in_statistics(conn: asyncpg.Connection, company: str) -> bool:
    values = await conn.fetchval(
        "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'crm_leads' AND attname = 'company_id'"
    )
    return values is not None and company in values


async def test_an_import_puts_its_company_in_the_statistics_and_lookups_probe_the_keys(
    tmp_path: Path, pool: asyncpg.Pool, run_import: Any
) -> None:
    company = str(uuid.uuid4())
    rows = FIRST_ANALYZE_ROWS + 5_000
    path = write_csv(make_leads(rows, seed=7, stored=0), tmp_path / "leads.csv")
    async with pool.acquire() as conn:
        # Autovacuum must not analyze the table meanwhile: what puts the company in is the worker's ANALYZE.
        await conn.execute("ALTER TABLE crm_leads SET (autovacuum_enabled = false)")
    try:
        async with pool.acquire() as conn:
            assert not await _in_statistics(conn, company)
        job = await run_import(path, company=company, duplicates="update")
        assert job["job_status"] == "completed", job
        deadline = time.monotonic() + 60
        async with pool.acquire() as conn:
            while not await _in_statistics(conn, company):
                assert time.monotonic() < deadline, "the worker never analyzed crm_leads (company_id)"
                await asyncio.sleep(0.5)
            keys = await conn.fetch(
                "SELECT match_key FROM crm_leads WHERE company_id = $1 ORDER BY id LIMIT 4000", uuid.UUID(company)
            )
            plan = "\n".join(
                r[0] for r in await conn.fetch(f"EXPLAIN {LOOKUP}", uuid.UUID(company), [k[0] for k in keys])
            )
    finally:
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE crm_leads RESET (autovacuum_enabled)")
    # The keys are the index condition, not a filter over the company's rows.
    assert any("Index Cond" in line and "match_key = ANY" in line for line in plan.splitlines()), plan
