"""Guarded partitions are handled in offset order, none passed over, even when the consumer group's
committed offset has moved past events that were never handled (as Faust's offset bookkeeping did
around rebalances): the worker notices against the database's handled offset and reads again.

- records: a later event arrives first, showing the gap;
- job requests: nothing arrives after the passed-over request, so only the partition's end, past
  its handled offset with nothing moving, shows it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import avro
from schemas.models import get_model
from schemas.topics import IMPORT_RECORDS, IMPORT_RESULTS, JOB_REQUESTS
from services.cli.main import _migrate
from services.core import storage
from services.core.kafka_io import publish
from services.core.settings import Settings
from services.ingest.reader_limits import reader_limits
from services.ingest.splitter import open_import, split_rows
from services.jobs import repository as jobs
from tests.integration.conftest import start_worker, stop_worker, wait_for_job
from tests.integration.test_job_control import leads, write
from tests.integration.test_kafka_interface import publish_request, stored_csv

pytestmark = pytest.mark.integration

ROWS = 300  # each lead appears twice: row i, then row i + ROWS as a case/space variant


async def test_events_behind_a_committed_offset_are_read_again_in_order(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    own = settings.model_copy(update={"topic_prefix": f"g{run}", "app_id": f"crmio-gap-{run}"})
    await _migrate(own)  # creates the topics, and records each new partition's next offset: 0
    records_topic = own.topic(IMPORT_RECORDS.name)
    async with pool.acquire() as conn:
        start = await conn.fetch(
            "SELECT partition, next_offset FROM crm_partition_offsets WHERE topic = $1", records_topic
        )
    assert {r["partition"]: r["next_offset"] for r in start} == {p: 0 for p in range(own.record_partitions)}

    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [[f"First{i}", f"Last{i}", f"lead{i}@example.com", "first", "Berlin", "1"] for i in range(1, ROWS + 1)]
    rows += [[f"First{i}", f"Last{i}", f" LEAD{i}@Example.com", "later", "Berlin", "1"] for i in range(1, ROWS + 1)]
    path = write(tmp_path / "twice.csv", rows)
    rel = storage.store_file(own.storage_dir, company, path, suffix=".csv")
    async with pool.acquire() as conn:
        await jobs.insert_job(
            conn,
            {
                "id": job_id,
                "company_id": company,
                "job_type": "import",
                "target_model": "lead",
                "file_format": "csv",
                "file_path": rel,
                "original_filename": "twice.csv",
                "duplicate_handling": "skip",
                "queue": own.topic_prefix,
            },
        )
        await conn.execute(
            "UPDATE crm_import_export_jobs SET job_status = 'running', admitted_at = now(), "
            "started_at = now() WHERE id = $1",
            uuid.UUID(job_id),
        )

    model = get_model("lead")
    plan = open_import(
        path, "csv", model, display_name="twice.csv", mapping=None, options={}, limits=reader_limits(own)
    )
    now = lambda: int(time.time() * 1000)  # noqa: E731
    await publish(
        kafka_producer,
        own,
        IMPORT_RESULTS,
        job_id,
        {"job_id": job_id, "company_id": company, "kind": "started", "at": now()},
    )
    first_offsets: dict[int, int] = {}
    try:
        for partition, event in split_rows(
            plan,
            model,
            job_id=job_id,
            company_id=company,
            partitions=own.record_partitions,
            rows_per_event=10,
            max_event_bytes=own.max_event_bytes,
        ):
            meta = await kafka_producer.send_and_wait(
                records_topic,
                avro.encode(IMPORT_RECORDS.schema, event),
                key=f"{job_id}:{partition}".encode(),
                partition=partition,
            )
            first_offsets.setdefault(partition, meta.offset)
    finally:
        plan.close()
    await publish(
        kafka_producer,
        own,
        IMPORT_RESULTS,
        job_id,
        {"job_id": job_id, "company_id": company, "kind": "split_done", "total": 2 * ROWS, "at": now()},
    )

    # The group's committed offset of every partition is one event past what was applied: the event
    # holding the first copies of its leads would never be read, and their later copies would win.
    await _commit_group_offsets(own, {TopicPartition(records_topic, p): o + 1 for p, o in first_offsets.items()})
    assert len(first_offsets) >= 3

    done, log = await _run_worker_until_done(own, pool, company, job_id, tmp_path)
    assert done["job_status"] == "completed", done
    assert (done["processed_records"], done["created_records"], done["skipped_records"]) == (2 * ROWS, ROWS, ROWS)
    stored = await leads(pool, company)
    assert len(stored) == ROWS
    assert {lead["title"] for lead in stored.values()} == {"first"}  # the earlier row of each pair won
    for p, o in first_offsets.items():
        assert f"{records_topic}[{p}]: an event arrived after a gap; reading again from offset {o}" in log
    async with pool.acquire() as conn:
        applied = await conn.fetch(
            "SELECT partition, next_offset FROM crm_partition_offsets WHERE topic = $1", records_topic
        )
    assert {r["partition"]: r["next_offset"] for r in applied if r["next_offset"] > 0}.keys() == first_offsets.keys()


async def test_a_job_request_behind_the_committed_offset_is_still_handled(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    own = settings.model_copy(update={"topic_prefix": f"q{run}", "app_id": f"crmio-req-{run}"})
    await _migrate(own)
    requests_topic = own.topic(JOB_REQUESTS.name)
    company = str(uuid.uuid4())
    job_id = await publish_request(own, kafka_producer, company, stored_csv(own, company, tmp_path))

    # Another system's request, the only event of its partition, and the group already past it.
    ends = await _commit_group_offsets(
        own, {TopicPartition(requests_topic, p): None for p in range(own.job_partitions)}
    )
    (behind,) = [tp.partition for tp, end in ends.items() if end == 1]

    done, log = await _run_worker_until_done(own, pool, company, job_id, tmp_path)
    assert done["job_status"] == "completed" and done["created_records"] == 1, done
    assert (
        f"{requests_topic}[{behind}]: events past the handled offset were not delivered; reading again from offset 0"
        in log
    )
    async with pool.acquire() as conn:
        handled = await conn.fetchval(
            "SELECT next_offset FROM crm_partition_offsets WHERE topic = $1 AND partition = $2", requests_topic, behind
        )
    assert handled >= 2  # the request, then the start request its admission published


async def _commit_group_offsets(own: Settings, offsets: dict[TopicPartition, int | None]) -> dict[TopicPartition, int]:
    """Commit the worker group's offsets as given (None: the partition's end) before any worker runs."""
    consumer = AIOKafkaConsumer(bootstrap_servers=own.kafka_bootstrap, group_id=own.app_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        ends = await consumer.end_offsets(list(offsets))
        committed = {tp: ends[tp] if o is None else o for tp, o in offsets.items()}
        await consumer.commit(committed)
        return committed
    finally:
        await consumer.stop()


async def _run_worker_until_done(
    own: Settings, pool: asyncpg.Pool, company: str, job_id: str, tmp_path: Path
) -> tuple[dict[str, Any], str]:
    log_path = tmp_path / "worker.log"
    proc = start_worker(own, log_path)
    try:
        done = await wait_for_job(pool, company, job_id, timeout_s=25)  # well before the stall check (30 s)
    finally:
        stop_worker(proc)
    return done, log_path.read_text(errors="replace")
