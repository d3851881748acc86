"""Another system's view: publish a JobRequest with a plain aiokafka producer, follow the job on
crm.jobs.status with a plain consumer (the examples of docs/events.md)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import avro
from services.core import storage
from services.core.settings import Settings
from services.ingest import uploads
from tests.integration.conftest import wait_for_job
from tests.integration.test_import_pipeline import final_status_events

pytestmark = pytest.mark.integration

CSV = "First Name,Last Name,Email\nAda,Lovelace,ada@example.com\nGrace,,grace@example.com\n"


def job_request(company: str, file_path: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    job_id = str(uuid.uuid4())
    return job_id, {
        "job_id": job_id,
        "company_id": company,
        "job_type": "import",
        "target_model": "lead",
        "file_format": "csv",
        "file_path": file_path,
        "duplicate_handling": "skip",
        "requested_at": int(time.time() * 1000),
        **extra,
    }


def stored_csv(settings: Settings, company: str, tmp_path: Path) -> str:
    """The sample CSV stored for the company, as an upload leaves it; returns its storage path."""
    source = tmp_path / "leads.csv"
    source.write_text(CSV, encoding="utf-8")
    return storage.store_file(settings.storage_dir, company, source, suffix=".csv")


async def publish_request(settings: Settings, producer: Any, company: str, file_path: str, **extra: Any) -> str:
    """Publish a JobRequest the way another system would; returns its job id."""
    job_id, request = job_request(company, file_path, **extra)
    await producer.send_and_wait(
        settings.topic("jobs.requests"), avro.encode("job_request", request), key=job_id.encode()
    )
    return job_id


async def test_a_job_request_from_another_system_runs_and_reports(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    source = tmp_path / "from-crm.csv"
    source.write_text(CSV, encoding="utf-8")
    upload_id = str(uuid.uuid4())
    async with pool.acquire() as conn:  # what POST /api/v1/uploads records
        await uploads.insert_upload(
            conn,
            {
                "id": upload_id,
                "company_id": company,
                "original_filename": "from-crm.csv",
                "stored_path": storage.store_file(settings.storage_dir, company, source, suffix=".csv"),
                "file_format": "csv",
                "size_bytes": source.stat().st_size,
            },
        )
    job_id = await publish_request(settings, kafka_producer, company, f"upload:{upload_id}")

    job = await wait_for_job(pool, company, job_id, timeout_s=60)
    assert (job["job_status"], job["success_records"], job["error_records"]) == ("completed", 1, 1)
    assert job["original_filename"] == "from-crm.csv" and job["file_path"].startswith("uploads/")
    final = (await final_status_events(settings, {job_id}))[job_id]
    assert (final["job_status"], final["processed_records"]) == ("completed", 2)


async def test_a_request_naming_another_companys_upload_fails_without_reading_it(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any, tmp_path: Path
) -> None:
    owner, intruder = str(uuid.uuid4()), str(uuid.uuid4())
    source = tmp_path / "secret.csv"
    source.write_text(CSV, encoding="utf-8")
    stored = storage.store_file(settings.storage_dir, owner, source, suffix=".csv")
    for file_path in (stored, f"../{owner}/{stored}"):
        job_id = await publish_request(settings, kafka_producer, intruder, file_path)
        job = await wait_for_job(pool, intruder, job_id, timeout_s=60)
        assert job["job_status"] == "failed" and job["processed_records"] == 0
        assert "stored file" in job["message"] or "storage path" in job["message"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", intruder) == 0


async def test_bad_options_fail_the_job_before_any_row_is_sent(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    stored = stored_csv(settings, company, tmp_path)
    job_id = await publish_request(settings, kafka_producer, company, stored, options='{"date_order": "YMD"}')
    job = await wait_for_job(pool, company, job_id, timeout_s=60)
    assert job["job_status"] == "failed" and "date_order" in job["message"]
    assert job["processed_records"] == 0


async def test_malformed_requests_leave_the_worker_serving(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    log_start = worker.log_path.stat().st_size
    for bad in ({"target_model": "opportunity"}, {"company_id": "not-a-uuid"}, {"options": "{not json"}):
        job_id = await publish_request(settings, kafka_producer, company, "uploads/none.csv", **bad)
    await kafka_producer.send_and_wait(settings.topic("jobs.requests"), b"\x00\x00\x00\x00\x01garbage", key=b"x")
    stored = stored_csv(settings, company, tmp_path)
    job_id = await publish_request(settings, kafka_producer, company, stored)
    job = await wait_for_job(pool, company, job_id, timeout_s=60)
    assert job["job_status"] == "completed" and worker.poll() is None
    with worker.log_path.open("rb") as f:
        f.seek(log_start)
        log = f.read().decode(errors="replace")
    assert "dropped a job request that is not job_request Avro" in log
    assert "Crashed" not in log  # the agent went on: a restart would have stopped the jobs it runs


async def test_an_unusable_mapping_fails_the_job_naming_the_fields(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    stored = stored_csv(settings, company, tmp_path)
    job_id = await publish_request(settings, kafka_producer, company, stored, field_mapping={"Email": "email"})
    job = await wait_for_job(pool, company, job_id, timeout_s=60)
    assert job["job_status"] == "failed" and job["processed_records"] == 0
    assert "first_name" in job["message"] and "last_name" in job["message"]
