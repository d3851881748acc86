"""What an index partial on one company costs every company's writes, and what an export filtered and sorted on a
custom field costs without one: the figures behind storing custom fields without per-field indexes.

A scratch table shaped like crm_leads (its primary key, match, newest and external id indexes) in a schema of
its own on the stack's server. Step 1: 8,000 lead rows of one company inserted (COPY into a temporary table,
then INSERT ... SELECT: services.core.db.copy_rows) while the table carries 0, 50, 200 and 1,000 expression
indexes, each partial on another company (what one indexed custom field per company made); PostgreSQL backend
CPU per row, median of the rounds. Step 2: a company of ``--company-rows`` leads with a custom "deal_stage",
among other companies' rows; an export's query filtered on it (a fifth of the rows) and sorted by it, read to
the end, without and with the company's partial index on it.

    .venv/bin/python -m bench.bench_index_cost [--rounds 5] [--company-rows 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg
import psutil

from bench.bench_insert import COLUMNS, batch
from services.core.db import connect_pool
from services.core.settings import Settings

SCHEMA = "bench_index_cost"
INDEX_COUNTS = (0, 50, 200, 1000)


async def _table(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}; "
        f"CREATE TABLE {SCHEMA}.leads (LIKE public.crm_leads INCLUDING DEFAULTS); "
        f"ALTER TABLE {SCHEMA}.leads ADD PRIMARY KEY (id); "
        f"CREATE INDEX ON {SCHEMA}.leads (company_id, match_key); "
        f"CREATE INDEX ON {SCHEMA}.leads (company_id, id); "
        f"CREATE UNIQUE INDEX ON {SCHEMA}.leads (company_id, external_id) WHERE external_id IS NOT NULL"
    )


async def _partial_indexes(conn: asyncpg.Connection, upto: int) -> None:
    have = await conn.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'cf\\_%'", SCHEMA
    )
    for i in range(have, upto):
        await conn.execute(
            f"CREATE INDEX cf_{i} ON {SCHEMA}.leads ((custom->>'field_{i % 7}')) WHERE company_id = '{uuid.uuid4()}'"
        )


async def insert_cost(conn: asyncpg.Connection, rounds: int) -> dict[int, float]:
    """PostgreSQL CPU µs per inserted row with each number of other companies' partial indexes."""
    backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
    cols = ", ".join(COLUMNS)
    await conn.execute(f"CREATE TEMP TABLE stage (LIKE {SCHEMA}.leads INCLUDING DEFAULTS)")
    out = {}
    for count in INDEX_COUNTS:
        await _partial_indexes(conn, count)
        costs = []
        for _ in range(rounds + 1):
            rows = batch(uuid.uuid4())
            await conn.execute("TRUNCATE stage")
            await conn.copy_records_to_table("stage", columns=list(COLUMNS), records=rows)
            tx = conn.transaction()
            await tx.start()
            before = backend.cpu_times()
            await conn.execute(f"INSERT INTO {SCHEMA}.leads ({cols}) SELECT {cols} FROM stage")
            after = backend.cpu_times()
            await tx.rollback()
            costs.append((after.user + after.system - before.user - before.system) / len(rows) * 1e6)
        out[count] = statistics.median(costs[1:])  # the first round warms the caches
        print(f"  {count:>5} partial indexes of other companies: {out[count]:.1f} µs a row", flush=True)
    return out


async def filtered_export(conn: asyncpg.Connection, company_rows: int, rounds: int) -> tuple[float, float]:
    """Seconds (median) for an export's filtered and sorted read of a company's rows, without and with its index."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    await _table(conn)
    company = uuid.uuid4()
    stages = ["new", "qualified", "proposal", "won", "lost"]
    for owner, rows in ((company, company_rows), (uuid.uuid4(), company_rows * 4)):
        for start in range(0, rows, 8000):
            chunk = batch(owner)[: min(8000, rows - start)]
            custom = [{"deal_stage": stages[(start + i) % 5]} for i in range(len(chunk))]
            await conn.copy_records_to_table(
                "leads", schema_name=SCHEMA, columns=list(COLUMNS),
                records=[(*r[:-1], c) for r, c in zip(chunk, custom, strict=True)],
            )  # fmt: skip
    await conn.execute(f"VACUUM ANALYZE {SCHEMA}.leads")
    query = (
        f"SELECT * FROM {SCHEMA}.leads t WHERE t.company_id = $1 AND (t.custom->>'deal_stage') = 'won' "
        "ORDER BY (t.custom->>'deal_stage'), t.id"
    )

    async def timed() -> float:
        runs = []
        for _ in range(rounds):
            started = time.perf_counter()
            read = 0
            async with conn.transaction():
                async for _row in conn.cursor(query, company, prefetch=2000):
                    read += 1
            runs.append(time.perf_counter() - started)
            assert read == company_rows // 5, f"read {read} rows"
        return statistics.median(runs)

    without = await timed()
    await conn.execute(
        f"CREATE INDEX ON {SCHEMA}.leads ((custom->>'deal_stage')) WHERE company_id = '{company}'; "
        f"ANALYZE {SCHEMA}.leads"
    )
    return without, await timed()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--company-rows", type=int, default=100_000)
    args = parser.parse_args()
    pool = await connect_pool(Settings().system_dsn(), max_size=1)
    try:
        async with pool.acquire() as conn:
            await _table(conn)
            print("inserting 8,000 leads of one company:")
            cost = await insert_cost(conn, args.rounds)
            per_index = (cost[INDEX_COUNTS[-1]] - cost[0]) / INDEX_COUNTS[-1]
            print(f"each partial index of another company: {per_index:.3f} µs a row written, by every company")
            without, with_index = await filtered_export(conn, args.company_rows, args.rounds)
            print(
                f"export of a {args.company_rows:,}-lead company filtered and sorted on a custom field: "
                f"{without * 1000:.0f} ms without an index, {with_index * 1000:.0f} ms with its partial index"
            )
            await conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
