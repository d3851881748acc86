"""Flat as the database grows (issue 15 item 3): an import into a database that already holds 5M leads of other
companies and 1M of the importing company, as a ratio to the same import into an empty database.

Two databases of its own on the stack's PostgreSQL server (crmio_growth_empty and crmio_growth, made afresh and
migrated), so the dev database and anyone's tests are left alone. The grown one is loaded (INSERT ... SELECT
generate_series: --others leads over 50 other companies and --own leads of the importing company, ids in time
order as crmio's are), vacuumed, analyzed and checkpointed, as a database that grew over months would be.
Then the same file is imported into each, in turns (--runs pairs, so both meet the same machine): into the
empty one by a fresh company, into the grown one by the company holding --own leads; after each run its new
records are deleted and the table vacuumed, so every run meets the same stored records. Update mode, the
file's e-mails new to every company: each row a lookup that finds nothing and an insert, the index walks the
size of the tables could slow. Ratio = grown rows/s / empty rows/s per pair; median, min and max.

    .venv/bin/python -m bench.bench_growth [--rows 100000] [--others 5000000] [--own 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from pydantic import SecretStr

from services.core.db import connect_pool, migrate
from services.core.kafka_io import ensure_topics, producer
from services.core.settings import Settings
from services.ingest.submit import submit_import
from stack import local as stack
from tests.datagen import make_leads, write_csv
from tests.integration.conftest import start_worker, stop_worker, wait_for_job

GROWN, EMPTY = "crmio_growth", "crmio_growth_empty"
OTHER_COMPANIES = 50


def _on(dsn: str, database: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + database


async def fresh_database(base: Settings, name: str) -> Settings:
    await asyncio.to_thread(stack.create_database, base, name)
    settings = base.model_copy(
        update={
            "database_url": SecretStr(_on(base.dsn(), name)),
            "system_database_url": SecretStr(_on(base.system_dsn(), name)),
        }
    )
    pool = await connect_pool(settings.system_dsn())
    try:
        await migrate(pool)
    finally:
        await pool.close()
    return settings


async def load(settings: Settings, own_company: str, others: int, own: int) -> float:
    """Leads of other companies and of ``own_company``, written by the owner in one statement each; seconds."""
    started = time.perf_counter()
    conn = await asyncpg.connect(settings.system_dsn())
    try:
        companies = [str(uuid.uuid4()) for _ in range(OTHER_COMPANIES)]
        for company, first, count in (
            *((c, i * (others // OTHER_COMPANIES), others // OTHER_COMPANIES) for i, c in enumerate(companies)),
            (own_company, others, own),
        ):
            # Ids as crmio's are (time-ordered, services.apply.batch.new_id), older than any the runs create.
            await conn.execute(
                """
                INSERT INTO crm_leads (id, company_id, match_key, first_name, last_name, email, phone, company,
                                       title, lead_source, status, city, country, annual_revenue, created_at)
                SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, $1::uuid,
                       'email:l' || n || '@stored.example', 'First' || n, 'Last' || n, 'l' || n || '@stored.example',
                       '+1415555' || lpad((n % 10000)::text, 4, '0'), 'Company ' || (n % 5000), 'Buyer',
                       'web', 'new', 'City ' || (n % 300), 'US', (n % 100000)::numeric, now() - interval '30 days'
                  FROM generate_series($2::bigint, $2::bigint + $3::bigint - 1) AS n
                """,
                company,
                first,
                count,
            )
    finally:
        await conn.close()
    # What a database that grew over months has had: vacuum (visibility map, hint bits) and a checkpoint.
    await asyncio.to_thread(stack.superuser_sql, settings, ["VACUUM ANALYZE", "CHECKPOINT"], database=GROWN)
    return time.perf_counter() - started


async def import_once(settings: Settings, path: Path, rows: int, company: str, workdir: Path) -> float:
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(
        update={"topic_prefix": f"g{run}", "app_id": f"crmio-growth-{run}", "storage_dir": workdir / "storage"}
    )
    pool = await connect_pool(settings.system_dsn())
    try:
        await ensure_topics(settings)
        proc = start_worker(settings, workdir / f"worker-{run}.log")
        try:
            async with producer(settings) as prod:
                started = time.perf_counter()
                job = await submit_import(
                    settings, pool, prod, company_id=company, path=path, model="lead", duplicates="update"
                )
                job = await wait_for_job(pool, company, job["id"], timeout_s=3600)
                elapsed = time.perf_counter() - started
        finally:
            stop_worker(proc)
        assert job["job_status"] == "completed" and job["processed_records"] == rows, job
        async with pool.acquire() as conn:  # the next run meets the same stored records: the run's are removed
            # Loaded ids are all below this one; crmio's (time-ordered, from now) above it: a primary-key range.
            await conn.execute(
                "DELETE FROM crm_leads WHERE company_id = $1 AND id > '00000001-0000-7000-8000-000000000000'",
                uuid.UUID(company),
            )
            await conn.execute("VACUUM ANALYZE crm_leads")
    finally:
        await pool.close()
    return rows / elapsed


async def plans(settings: Settings, company: str) -> list[str]:
    """The duplicate lookup's plan on the grown tables (services.apply.batch._fetch_existing's query shape)."""
    conn = await asyncpg.connect(settings.system_dsn())
    try:
        keys = [f"email:new{i}@nowhere.example" for i in range(4000)]
        rows = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT id, version, match_key FROM crm_leads "
            "WHERE company_id = $1 AND match_key = ANY($2::text[]) ORDER BY created_at, id",
            uuid.UUID(company),
            keys,
        )
        return [r[0] if len(r[0]) < 160 else r[0][:157] + "..." for r in rows]  # not the 4000 keys
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=5_000_000)
    parser.add_argument("--own", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    empty_db, grown_db = await fresh_database(Settings(), EMPTY), await fresh_database(Settings(), GROWN)
    own_company = str(uuid.uuid4())
    seconds = await load(grown_db, own_company, args.others, args.own)
    print(f"loaded {args.others:,} leads of {OTHER_COMPANIES} companies and {args.own:,} of one in {seconds:.0f} s")
    empty, grown, ratios = [], [], []
    with tempfile.TemporaryDirectory(prefix="crmio-growth-") as tmp:
        workdir = Path(tmp)
        path = write_csv(make_leads(args.rows, seed=7, stored=0), workdir / "leads.csv")
        for i in range(args.runs):
            empty.append(await import_once(empty_db, path, args.rows, str(uuid.uuid4()), workdir))
            grown.append(await import_once(grown_db, path, args.rows, own_company, workdir))
            ratios.append(grown[-1] / empty[-1])
            print(
                f"pair {i + 1}: empty {empty[-1]:,.0f} rows/s, grown {grown[-1]:,.0f} rows/s, ratio {ratios[-1]:.2f}",
                flush=True,
            )
        print("\n".join(await plans(grown_db, own_company)))
    print(
        f"\n{args.rows:,} rows, update mode: empty {statistics.median(empty):,.0f} rows/s, grown "
        f"{statistics.median(grown):,.0f} rows/s; ratio median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target >= 0.90)"
    )


if __name__ == "__main__":
    asyncio.run(main())
