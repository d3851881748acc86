"""An import's split runs at most ``split_ahead_rows`` ahead of the rows its job has applied (issue 17: the
record partitions are shared by every company, in order, so a file sent whole ahead of the apply made
every other company's rows wait behind all of it). The real split process, broker and database; the
job's applied count is moved by hand, as its aggregator moves it, so the test decides when rows are
applied."""

from __future__ import annotations

import asyncio
import csv
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import avro
from schemas.models import LEAD
from schemas.topics import IMPORT_RECORDS
from services.core.kafka_io import ensure_topics
from services.core.settings import Settings
from services.ingest.split_process import split_in_child
from services.jobs import repository as jobs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROWS, AHEAD, PER_EVENT = 5000, 1000, 100


def _file(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["First Name", "Last Name", "E-mail"])
        w.writerows([f"W{i}", "Window", f"w{i}@window.example"] for i in range(ROWS))
    return path


async def _job(pool: asyncpg.Pool, settings: Settings, company: str, path: Path) -> dict[str, Any]:
    job_id = str(uuid.uuid4())
    async with pool.acquire() as conn:
        await jobs.insert_job(
            conn,
            {
                "id": job_id,
                "company_id": company,
                "job_type": "import",
                "target_model": "lead",
                "file_format": "csv",
                "file_path": path.name,
                "queue": settings.topic_prefix,
            },
        )
        await conn.execute(
            "UPDATE crm_import_export_jobs SET job_status = 'running', started_at = now() WHERE id = $1",
            uuid.UUID(job_id),
        )
    return {
        "id": job_id,
        "company_id": company,
        "target_model": "lead",
        "model": LEAD,
        "file_format": "csv",
        "display_name": path.name,
        "field_mapping": None,
        "options": {},
        "max_rows": None,
    }


async def _set(pool: asyncpg.Pool, job: dict[str, Any], **columns: Any) -> None:
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(columns, start=2))
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE crm_import_export_jobs SET {sets} WHERE id = $1", uuid.UUID(job["id"]), *columns.values()
        )


async def _rows_sent(settings: Settings, job_id: str) -> int:
    """Rows of ``job_id`` in the record topic now."""
    topic = settings.topic(IMPORT_RECORDS.name)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.record_partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        rows = 0
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    event = avro.decode(IMPORT_RECORDS.schema, m.value)
                    rows += len(event["numbers"]) if event["job_id"] == job_id else 0
        return rows
    finally:
        await consumer.stop()


async def _settled(settings: Settings, job_id: str) -> int:
    """The rows sent, once the split has stopped sending for a second."""
    last = -1
    while (now := await _rows_sent(settings, job_id)) != last:
        last = now
        await asyncio.sleep(1.0)
    return now


async def test_a_split_waits_for_its_rows_to_be_applied_and_stops_when_cancelled(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    own = settings.model_copy(
        update={
            "topic_prefix": f"window{uuid.uuid4().hex[:8]}",
            "split_ahead_rows": AHEAD,
            "rows_per_event": PER_EVENT,
            "storage_dir": tmp_path,
        }
    )
    await ensure_topics(own)
    company = str(uuid.uuid4())
    (tmp_path / company).mkdir()
    path = _file(tmp_path / company / "window.csv")
    job = await _job(pool, own, company, path)
    split = asyncio.create_task(split_in_child(own, job, path))
    try:
        # Nothing applied: it sends what it may run ahead, and the event that went past it, then waits.
        assert AHEAD < await _settled(own, job["id"]) <= AHEAD + PER_EVENT
        await _set(pool, job, processed_records=3000)
        assert 3000 + AHEAD < await _settled(own, job["id"]) <= 3000 + AHEAD + PER_EVENT
        assert not split.done()
        await _set(pool, job, job_status="cancelled")  # a cancel ends the wait, and the split
        total = await asyncio.wait_for(split, 30)
        assert total < ROWS and await _rows_sent(own, job["id"]) == total
    finally:
        split.cancel()

    again = await _job(pool, own, company, path)
    await _set(pool, again, processed_records=ROWS)  # all applied as soon as sent: it never waits
    assert await asyncio.wait_for(split_in_child(own, again, path), 60) == ROWS
    assert await _rows_sent(own, again["id"]) == ROWS
