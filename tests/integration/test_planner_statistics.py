"""A company an import grows is in the planner's statistics before its lookups need it (services/apply/
statistics.py): without them a new company is estimated at one row, and each batch's duplicate lookup
scanned every row the import had written before it. With a true estimate PostgreSQL takes the lookup's keys
as the index condition once the company is big enough for that to pay (docs/benchmarks.md: 335 -> 33-60 ms a
lookup at 540k rows); which plan is cheaper for the 25,000 rows here is its call, so the test checks the
estimate it plans with."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.apply.statistics import FIRST_ANALYZE_ROWS, analyze_company_column
from services.core.settings import Settings
from tests.datagen import make_leads, write_csv

pytestmark = pytest.mark.integration


async def _estimated_rows(conn: asyncpg.Connection, company: str) -> int:
    plan = await conn.fetchval(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM crm_leads WHERE company_id = $1", uuid.UUID(company)
    )
    plan = json.loads(plan) if isinstance(plan, str) else plan  # the pool's json codec may have read it
    return int(plan[0]["Plan"]["Plan Rows"])


async def _in_statistics(conn: asyncpg.Connection, company: str) -> bool:
    values = await conn.fetchval(
        "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'crm_leads' AND attname = 'company_id'"
    )
    return values is not None and company in values


async def test_an_import_puts_its_company_in_the_planners_statistics(
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
            assert await _estimated_rows(conn, company) < FIRST_ANALYZE_ROWS // 2
        job = await run_import(path, company=company, duplicates="update")
        assert job["job_status"] == "completed", job
        deadline = time.monotonic() + 60
        async with pool.acquire() as conn:
            while not await _in_statistics(conn, company):
                assert time.monotonic() < deadline, "the worker never analyzed crm_leads (company_id)"
                await asyncio.sleep(0.5)
            estimated = await _estimated_rows(conn, company)
    finally:
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE crm_leads RESET (autovacuum_enabled)")
    assert FIRST_ANALYZE_ROWS // 2 <= estimated <= 2 * rows, estimated


async def test_an_analyze_the_role_may_not_run_is_a_warning_that_says_why(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The service role does not own the tables: PostgreSQL skips the table with a warning, not an error.
    with caplog.at_level(logging.INFO, logger="services.apply.statistics"):
        await analyze_company_column(settings.dsn(), "crm_leads")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "could not analyze crm_leads (company_id)" in record.getMessage()
    assert "only table or database owner can analyze it" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="services.apply.statistics"):
        await analyze_company_column(settings.system_dsn(), "crm_leads")
    [record] = caplog.records
    assert record.levelno == logging.INFO and "analyzed crm_leads" in record.getMessage()
