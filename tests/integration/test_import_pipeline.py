"""The import pipeline end to end on the real broker and database: 20k-row files in every format and
duplicate mode, exact database state, exact counters, error logs, and the final status event."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import avro
from schemas.models import get_model
from services.cleansing.cleaning import match_key
from services.core.settings import Settings
from tests.datagen import LeadFile, expected, make_leads, write_csv, write_json, write_xlsx

pytestmark = pytest.mark.integration

ROWS = 20_000
WRITERS = {"csv": (write_csv, ".csv"), "excel": (write_xlsx, ".xlsx"), "json": (write_json, ".json")}


async def seed(pool: asyncpg.Pool, company: str, lf: LeadFile) -> None:
    model = get_model("lead")
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, match_key, first_name, last_name, email, title) "
            "VALUES ($1, $2, $3, 'Stored', 'Record', $4, $5)",
            [(uuid.uuid4(), company, match_key(model, {"email": e}), e, t) for e, t in lf.stored.items()],
        )


async def stored_state(pool: asyncpg.Pool, company: str) -> Counter[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT email, title FROM crm_leads WHERE company_id = $1", company)
    return Counter((r["email"], r["title"]) for r in rows)


async def final_status_events(
    settings: Settings, job_ids: set[str], timeout_s: float = 30
) -> dict[str, dict[str, Any]]:
    """The last status event per job, read from the compacted status topic by a plain consumer."""
    consumer = AIOKafkaConsumer(
        settings.topic("jobs.status"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    last: dict[str, dict[str, Any]] = {}
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    key = rec.key.decode()
                    if key in job_ids:
                        last[key] = avro.decode("job_status", rec.value)
            if set(last) == job_ids and all(
                e["job_status"] != "running" and e["job_status"] != "pending" for e in last.values()
            ):
                break
    finally:
        await consumer.stop()
    return last


@pytest.fixture(scope="module")
def lead_file() -> LeadFile:
    return make_leads(ROWS, seed=11, stored=600)


@pytest.mark.parametrize("mode", ["skip", "update", "create_new"])
@pytest.mark.parametrize("fmt", ["csv", "excel", "json"])
async def test_import_20k_rows(
    fmt: str, mode: str, lead_file: LeadFile, tmp_path: Path, pool: asyncpg.Pool, run_import: Any, settings: Settings
) -> None:
    company = str(uuid.uuid4())
    await seed(pool, company, lead_file)
    write, suffix = WRITERS[fmt]
    path = write(lead_file, tmp_path / f"leads{suffix}")
    want_state, want = expected(lead_file, mode)

    job = await run_import(path, company=company, duplicates=mode)

    assert job["job_status"] == "completed", job
    assert job["total_records"] == job["processed_records"] == ROWS
    assert job["success_records"] + job["error_records"] == ROWS
    assert job["error_records"] == want["failed"] == len(lead_file.invalid)
    assert (job["created_records"], job["updated_records"], job["skipped_records"]) == (
        want["created"],
        want["updated"],
        want["skipped"],
    )
    assert await stored_state(pool, company) == want_state

    async with pool.acquire() as conn:
        logs = await conn.fetch(
            "SELECT record_number, message, field FROM crm_import_export_logs "
            "WHERE company_id = $1 AND job_id = $2 AND log_level = 'error'",
            company,
            uuid.UUID(job["id"]),
        )
        ledger = await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job["id"]))
    numbers = [r["record_number"] for r in logs]
    assert sorted(numbers) == sorted(lead_file.invalid)  # exactly one error log per invalid row
    assert all(f"row {r['record_number']}" in r["message"] and r["field"] in ("last_name", "email") for r in logs)
    assert ledger == ROWS

    events = await final_status_events(settings, {job["id"]})
    final = events[job["id"]]
    assert final["job_status"] == "completed"
    assert (final["total_records"], final["processed_records"], final["error_records"]) == (ROWS, ROWS, want["failed"])
    assert final["success_records"] == ROWS - want["failed"]


@pytest.mark.parametrize("mode", ["skip", "update"])
async def test_dry_run_reports_every_outcome_and_writes_no_record(
    mode: str, lead_file: LeadFile, tmp_path: Path, pool: asyncpg.Pool, run_import: Any
) -> None:
    company = str(uuid.uuid4())
    await seed(pool, company, lead_file)
    before = await stored_state(pool, company)
    _, want = expected(lead_file, mode)

    job = await run_import(
        write_csv(lead_file, tmp_path / "leads.csv"), company=company, duplicates=mode, options={"dry_run": True}
    )

    assert job["job_status"] == "completed" and job["options"]["dry_run"] is True
    assert (job["created_records"], job["updated_records"], job["skipped_records"], job["error_records"]) == (
        want["created"],
        want["updated"],
        want["skipped"],
        want["failed"],
    )  # duplicates inside the file resolved across batches exactly as a real import would
    assert await stored_state(pool, company) == before
    async with pool.acquire() as conn:
        errors = await conn.fetchval(
            "SELECT count(*) FROM crm_import_export_logs WHERE job_id = $1 AND log_level = 'error'",
            uuid.UUID(job["id"]),
        )
    assert errors == len(lead_file.invalid)
