"""Cost per row of each import stage in one process, without Kafka: read+split, Avro encode,
Avro decode, apply (cleanse + validate + duplicates + PostgreSQL). Shows where a worker's time goes.

    .venv/bin/python -m bench.bench_stages [--rows 100000] [--mode update]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from schemas import avro, events
from schemas.models import get_model
from services.apply.pipeline import JobContexts, apply_prepared, prepare_events
from services.core.db import connect_pool, migrate
from services.core.runtime import Runtime
from services.core.settings import Settings
from services.ingest.reader_limits import reader_limits
from services.ingest.splitter import open_import, split_rows
from services.jobs import repository as jobs
from tests.datagen import make_leads, write_csv


def split_leads(settings: Settings, path: Path, job_id: str, company: str) -> list[events.RecordBatch]:
    """The record events the split process makes of a leads CSV (read, mapped, keyed, partitioned)."""
    model = get_model("lead")
    plan = open_import(
        path, "csv", model, display_name=path.name, mapping=None, options={}, limits=reader_limits(settings)
    )
    try:
        return [
            e
            for _, e in split_rows(
                plan,
                model,
                job_id=job_id,
                company_id=company,
                partitions=settings.record_partitions,
                rows_per_event=settings.rows_per_event,
                max_event_bytes=settings.max_event_bytes,
            )
        ]
    finally:
        plan.close()


async def start_import(system: asyncpg.Pool, settings: Settings, job_id: str, company: str, mode: str) -> None:
    """A leads import job of the company, running (as admission leaves it): the apply takes its rows."""
    async with system.acquire() as conn:
        await jobs.insert_job(
            conn,
            {
                "id": job_id,
                "company_id": company,
                "job_type": "import",
                "target_model": "lead",
                "file_format": "csv",
                "file_path": "x",
                "duplicate_handling": mode,
                "options": {},
                "queue": settings.topic_prefix,
            },
        )
        await jobs.mark_running(conn, company, job_id, dt.datetime.now(dt.UTC))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mode", default="update")
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(make_leads(args.rows, seed=1), Path(tmp) / "leads.csv")
        t0 = time.perf_counter()
        job_id, company = str(uuid.uuid4()), str(uuid.uuid4())
        batches = split_leads(settings, path, job_id, company)
        t1 = time.perf_counter()
        encoded = [avro.encode("record_batch", e) for e in batches]
        t2 = time.perf_counter()
        decoded = [avro.decode("record_batch", b) for b in encoded]
        t3 = time.perf_counter()
        system = await connect_pool(settings.system_dsn(), max_size=2)
        await migrate(system)
        await start_import(system, settings, job_id, company, args.mode)
        pool = await connect_pool(settings.dsn(), max_size=2)  # the service role, as a worker applies
        res = Runtime(settings, pool, system)
        contexts = JobContexts(res)
        t4 = time.perf_counter()
        cpu4 = time.process_time()
        step = settings.events_per_batch
        for i in range(0, len(decoded), step):
            await apply_prepared(res, await prepare_events(contexts, decoded[i : i + step]))
        t5 = time.perf_counter()
        apply_cpu = time.process_time() - cpu4
        await pool.close()
        await system.close()
    n = args.rows
    for name, secs in (
        ("read + split", t1 - t0),
        ("avro encode", t2 - t1),
        ("avro decode", t3 - t2),
        ("apply (clean, duplicates, PostgreSQL)", t5 - t4),
    ):
        print(f"{name:40} {secs / n * 1e6:7.1f} us/row  {n / secs:>10,.0f} rows/s")
    print(f"{'  of which worker CPU in apply':40} {apply_cpu / n * 1e6:7.1f} us/row (the rest waits on PostgreSQL)")


if __name__ == "__main__":
    asyncio.run(main())
