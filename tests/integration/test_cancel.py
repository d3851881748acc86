"""Cancelling a running import: it stops at once, nothing is applied after the answer, the counters
show exactly what was applied, and the compacted status topic ends with 'cancelled'."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.core.settings import Settings
from services.jobs import repository as jobs
from tests.datagen import make_leads, write_csv
from tests.integration.test_cli import crmio
from tests.integration.test_import_pipeline import final_status_events
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def applied(pool: asyncpg.Pool, company: str, job_id: str) -> tuple[int, int]:
    async with pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", company),
            await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job_id)),
        )


async def test_cancel_a_running_import(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    job = await run_import(
        write_csv(make_leads(200_000, seed=21), tmp_path / "big.csv"), company=company, duplicates="update", wait=False
    )

    async def some_applied() -> bool:
        return (await applied(pool, company, job["id"]))[1] > 0

    await eventually(some_applied, 120, "the import applying its first rows", interval_s=0.05)

    asked = time.monotonic()
    done = await asyncio.to_thread(crmio, settings, "jobs", "cancel", job["id"], "--company", company, "--json")
    answered = time.monotonic() - asked
    assert done.returncode == 0, done.stderr
    cancelled = orjson.loads(done.stdout)
    assert cancelled["job_status"] == "cancelled" and answered < 5  # includes starting the CLI process

    records, ledger = await applied(pool, company, job["id"])
    assert 0 < ledger < 200_000, "the import should have been stopped midway"
    assert cancelled["processed_records"] == ledger
    assert cancelled["created_records"] == records  # a fresh company: every record is one this job created
    await asyncio.sleep(3)  # an observation period, not a wait: nothing may be applied after the answer
    assert await applied(pool, company, job["id"]) == (records, ledger)
    async with pool.acquire() as conn:
        row = await jobs.get_job(conn, company, job["id"])
    assert row["job_status"] == "cancelled" and row["processed_records"] == ledger

    final = (await final_status_events(settings, {job["id"]}, timeout_s=60))[job["id"]]
    assert final["job_status"] == "cancelled" and final["processed_records"] == ledger

    again = crmio(settings, "jobs", "cancel", job["id"], "--company", company, "--json")
    assert again.returncode == 0 and orjson.loads(again.stdout)["job_status"] == "cancelled"
    foreign = crmio(settings, "jobs", "cancel", job["id"], "--company", str(uuid.uuid4()))
    assert foreign.returncode == 2 and "no job" in foreign.stderr


async def test_a_finished_job_cannot_be_cancelled(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    job = await run_import(write_csv(make_leads(50, seed=3), tmp_path / "small.csv"), company=company)
    assert job["job_status"] == "completed"
    done = crmio(settings, "jobs", "cancel", job["id"], "--company", company)
    assert done.returncode == 2 and "already completed" in done.stderr


async def test_cancel_a_running_export(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any
) -> None:
    from services.core import storage
    from services.exports import submit_export
    from services.jobs import control

    company = str(uuid.uuid4())
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "crm_leads",
            columns=("id", "company_id", "first_name", "last_name", "email", "title"),
            records=[
                (uuid.uuid4(), uuid.UUID(company), f"F{i}", f"L{i}", f"p{i}@example.com", f"Title {i}")
                for i in range(300_000)
            ],
        )
    job = await submit_export(
        settings,
        pool,
        kafka_producer,
        company_id=company,
        model="lead",
        fields=None,
        filters=None,
        sort=["-email"],
        file_format="excel",
    )

    async def running() -> bool:
        async with pool.acquire() as conn:
            return (await jobs.get_job(conn, company, job["id"]))["job_status"] == "running"

    await eventually(running, 60, "the export starting to run", interval_s=0.05)
    cancelled = await control.cancel(settings, pool, kafka_producer, company, job["id"])
    assert cancelled["job_status"] == "cancelled"

    final = (await final_status_events(settings, {job["id"]}, timeout_s=60))[job["id"]]
    assert final["job_status"] == "cancelled"
    async with pool.acquire() as conn:
        row = await jobs.get_job(conn, company, job["id"])
    assert row["job_status"] == "cancelled" and row["file_path"] == ""
    exports = storage.company_dir(settings.storage_dir, company) / "exports"
    assert not exports.exists() or not any(exports.iterdir())  # the partial file is removed


async def test_apply_lock_holds_back_a_cancel_but_not_the_heartbeat_counters_or_stall_check(pool: asyncpg.Pool) -> None:
    """An apply transaction's lock on its job row excludes a cancel (nothing applied after it answers), but
    not the plain updates of the row: under FOR SHARE the heartbeat queued behind every apply transaction in
    flight until it went stale and the running job was started again (two workers, one 1M-row import)."""
    company, job_id, queue = uuid.uuid4(), uuid.uuid4(), f"locks-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, file_format,"
            " file_path, queue, total_records, updated_at, heartbeat_at)"
            " VALUES ($1, $2, 'import', 'running', 'lead', 'csv', 'x.csv', $3, 10, now() - interval '1 hour', now())",
            job_id,
            company,
            queue,
        )
    counters = {"total": 10, "processed": 4, "success": 4, "error": 0, "created": 4, "updated": 0, "skipped": 0}
    async with pool.acquire() as held, held.transaction():
        assert (await jobs.lock_for_apply(held, job_id, company))["job_status"] == "running"
        await asyncio.wait_for(jobs.touch_heartbeat(pool, job_id), 5)
        async with pool.acquire() as conn:
            await asyncio.wait_for(jobs.update_progress(conn, str(company), str(job_id), counters), 5)
            claimed = await asyncio.wait_for(jobs.claim_stalled(conn, queue, 30.0, 5.0), 5)
        assert [r["id"] for r in claimed] == []  # its counters just moved: not stalled

        async def cancel() -> tuple[asyncpg.Record | None, bool]:
            async with pool.acquire() as conn:
                return await jobs.end_job_now(conn, str(company), str(job_id), "cancelled", "cancelled on request")

        cancelling = asyncio.create_task(cancel())
        await asyncio.sleep(1)
        assert not cancelling.done(), "a cancel must wait for the apply transaction in flight"
    row, changed = await asyncio.wait_for(cancelling, 10)
    assert changed and row is not None and row["job_status"] == "cancelled"
