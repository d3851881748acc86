"""Schedules fire each slot exactly once with two workers running; retention purges on a clock moved forward."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.core import storage
from services.core.settings import Settings
from services.jobs import schedules
from tests.integration.conftest import start_worker, stop_worker, wait_for_job
from tests.integration.test_cli import crmio
from tests.integration.test_job_control import lead_rows, leads, write
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def _jobs_of(pool: asyncpg.Pool, company: str, schedule_id: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT id, job_status, options->>'slot' AS slot, original_filename FROM crm_import_export_jobs "
            "WHERE company_id = $1 AND options->>'schedule_id' = $2 ORDER BY options->>'slot'",
            company,
            schedule_id,
        )


async def test_a_schedule_fires_each_slot_exactly_once_with_two_workers(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    await run_import(write(tmp_path / "seed.csv", lead_rows(30)), company=company)
    second = start_worker(settings, tmp_path / "worker2.log")
    try:
        made = crmio(
            settings,
            "schedules",
            "create",
            "--company",
            company,
            "--name",
            "every 2 s",
            "--cron",
            "* * * * * */2",
            "--tz",
            "Europe/Berlin",
            "--job",
            orjson.dumps(
                {
                    "job_type": "export",
                    "target_model": "lead",
                    "file_format": "csv",
                    "filters": [{"field": "city", "op": "eq", "value": "Berlin"}],
                }
            ).decode(),
        )
        assert made.returncode == 0, made.stderr
        schedule = orjson.loads(made.stdout)

        async def four_slots() -> list[asyncpg.Record] | None:
            rows = await _jobs_of(pool, company, schedule["id"])
            return rows if len(rows) >= 4 else None

        await eventually(four_slots, 30, "the schedule firing four slots, one every 2 s", interval_s=0.25)
        paused = crmio(settings, "schedules", "pause", schedule["id"], "--company", company)
        assert paused.returncode == 0 and orjson.loads(paused.stdout)["is_active"] is False
    finally:
        stop_worker(second)
    fired = await _jobs_of(pool, company, schedule["id"])
    slots = [dt.datetime.fromisoformat(r["slot"]) for r in fired]
    assert len(slots) >= 4
    assert len(set(slots)) == len(slots)  # no slot twice
    assert all(b - a == dt.timedelta(seconds=2) for a, b in zip(slots, slots[1:]))  # and none skipped
    for r in fired:
        done = await wait_for_job(pool, company, str(r["id"]), timeout_s=120)
        assert done["job_status"] == "completed" and done["total_records"] == 30
    await asyncio.sleep(3)  # an observation period (more than a slot and a scheduler tick), not a wait
    assert len(await _jobs_of(pool, company, schedule["id"])) == len(fired)  # paused: no more slots
    listed = orjson.loads(crmio(settings, "schedules", "list", "--company", company, "--json").stdout)
    assert [s["id"] for s in listed] == [schedule["id"]] and listed[0]["last_run_at"] is not None


async def test_a_schedule_imports_dropped_files(
    settings: Settings, pool: asyncpg.Pool, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    async with pool.acquire() as conn:
        schedule = await schedules.create_schedule(
            conn,
            company,
            name="inbox",
            cron="* * * * * */2",
            timezone="UTC",
            job={"job_type": "import", "target_model": "lead", "folder": "inbox", "duplicate_handling": "update"},
            queue=settings.topic_prefix,
            min_interval_s=1,
        )
    inbox = schedules.drop_folder(settings, company, "inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    write(tmp_path / "leads.csv", lead_rows(200, tag="drop")).rename(inbox / "leads.csv")
    (inbox / "notes.txt.bak").write_text("not an import")
    fired = await eventually(
        lambda: _jobs_of(pool, company, str(schedule["id"])), 30, "the schedule taking the dropped file", interval_s=0.5
    )
    assert len(fired) == 1 and fired[0]["original_filename"] == "leads.csv"
    done = await wait_for_job(pool, company, str(fired[0]["id"]), timeout_s=120)
    assert done["job_status"] == "completed" and done["created_records"] == 200
    assert len(await leads(pool, company)) == 200
    assert sorted(p.name for p in inbox.iterdir()) == ["notes.txt.bak"]  # taken once, the other file left alone
    await asyncio.sleep(4)  # an observation period (two more slots find nothing to take), not a wait
    assert len(await _jobs_of(pool, company, str(schedule["id"]))) == 1
    async with pool.acquire() as conn:
        await schedules.delete_schedule(conn, company, str(schedule["id"]))


async def test_retention_purges_on_a_clock_moved_forward(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    imported = await run_import(write(tmp_path / "r.csv", lead_rows(20, bad={3})), company=company)
    export = crmio(settings, "export", "--company", company, "--model", "lead", "--format", "csv", "--wait", "--json")
    assert export.returncode == 0, export.stderr
    exported = orjson.loads(export.stdout)
    files = [storage.company_dir(settings.storage_dir, company) / imported["file_path"], Path(exported["file_path"])]
    assert all(f.is_file() for f in files)

    def purge(days: int) -> dict[str, Any]:
        now = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()
        done = crmio(settings, "purge", "--company", company, "--now", now, "--json")
        assert done.returncode == 0, done.stderr
        return orjson.loads(done.stdout)[0]

    early = purge(10)
    assert (early["jobs_purged"], early["logs_purged"], early["files_purged"]) == (0, 0, 0)
    after_40 = purge(40)  # past the 30 days of logs and files, within the 90 days of jobs
    assert (after_40["jobs_purged"], after_40["files_purged"]) == (0, 2) and after_40["logs_purged"] >= 1
    assert not any(f.exists() for f in files)
    async with pool.acquire() as conn:
        kept = await conn.fetch("SELECT file_path FROM crm_import_export_jobs WHERE company_id = $1", company)
        assert [r["file_path"] for r in kept] == ["", ""]
        assert await conn.fetchval("SELECT count(*) FROM crm_import_export_logs WHERE company_id = $1", company) == 0
    after_100 = purge(100)
    assert after_100["jobs_purged"] == 2
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM crm_import_export_jobs WHERE company_id = $1", company) == 0
        assert await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE company_id = $1", company) == 0
        runs = await conn.fetch(
            "SELECT jobs_purged, files_purged FROM crm_retention_runs WHERE company_id = $1 ORDER BY id", company
        )
    assert [tuple(r) for r in runs][-2:] == [(0, 2), (2, 0)]  # what was purged is recorded
    assert len(await leads(pool, company)) == 19  # the CRM records themselves are never purged
