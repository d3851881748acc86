"""Delivering the same record events twice changes nothing: the ledger turns replays into no-ops."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import avro
from schemas.models import get_model
from services.core import storage
from services.core.settings import Settings
from services.ingest.reader_limits import reader_limits
from services.ingest.splitter import open_import, split_rows
from tests.datagen import make_leads, write_csv
from tests.integration.conftest import ProgressChangelog
from tests.integration.test_import_pipeline import stored_state
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def snapshot(pool: asyncpg.Pool, company: str, job_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        job = await conn.fetchrow(
            "SELECT job_status, total_records, processed_records, success_records, error_records, created_records, "
            "updated_records, skipped_records, completed_at FROM crm_import_export_jobs WHERE id = $1",
            uuid.UUID(job_id),
        )
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM crm_import_ledger WHERE job_id = $1) AS ledger, "
            "(SELECT count(*) FROM crm_import_export_logs WHERE job_id = $1) AS logs, "
            "(SELECT max(version) FROM crm_leads WHERE company_id = $2) AS max_version",
            uuid.UUID(job_id),
            company,
        )
    return {**dict(job), **dict(counts), "records": await stored_state(pool, company)}


async def test_redelivered_record_events_change_nothing(
    tmp_path: Path,
    pool: asyncpg.Pool,
    run_import: Any,
    settings: Settings,
    kafka_producer: Any,
    progress_changelog: ProgressChangelog,
) -> None:
    company = str(uuid.uuid4())
    leads = make_leads(3000, seed=5)
    job = await run_import(write_csv(leads, tmp_path / "leads.csv"), company=company, duplicates="update")
    assert job["job_status"] == "completed"
    before = await snapshot(pool, company, job["id"])
    # The aggregator stores the job's progress once for each result it takes in: count from its final one.
    await eventually(
        lambda: progress_changelog.latest_if(job["id"], status="completed"),
        30,
        "the aggregator recording the job as completed",
    )
    stored = len(await progress_changelog.values(job["id"]))

    results_topic = settings.topic("import.results")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(results_topic, p) for p in range(settings.job_partitions)]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, ends[tp])

        # The very events the worker produced: same split, same partitions, same encoding.
        model = get_model("lead")
        path = storage.resolve(settings.storage_dir, company, job["file_path"])
        plan = open_import(
            path,
            "csv",
            model,
            display_name="leads.csv",
            mapping=job["field_mapping"],
            options={},
            limits=reader_limits(settings),
        )
        sent = set()
        try:
            for partition, event in split_rows(
                plan,
                model,
                job_id=job["id"],
                company_id=company,
                partitions=settings.record_partitions,
                rows_per_event=500,
                max_event_bytes=settings.max_event_bytes,
            ):
                await kafka_producer.send_and_wait(
                    settings.topic("import.records"),
                    avro.encode("record_batch", event),
                    key=f"{job['id']}:{partition}".encode(),
                    partition=partition,
                )
                sent.update(event["numbers"])
        finally:
            plan.close()
        assert len(sent) == 3000

        replayed: set[int] = set()
        results = 0  # the job's replayed result events
        deadline = asyncio.get_running_loop().time() + 120
        while replayed != sent and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for rec in records:
                    event = avro.decode("import_result", rec.value)
                    if event["job_id"] == job["id"] and event["kind"] == "batch":
                        replayed.update(event["replayed"])
                        results += 1
                        assert set(event["replayed"]) == set(event["numbers"])
    finally:
        await consumer.stop()
    assert replayed == sent
    await eventually(  # the aggregator takes in the replayed results too (a finished job's: they change nothing)
        lambda: progress_changelog.count_if_at_least(job["id"], stored + results),
        30,
        f"the aggregator taking in the {results} replayed results",
    )
    assert await snapshot(pool, company, job["id"]) == before
