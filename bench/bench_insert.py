"""How records reach a table under row-level security: binary COPY into a temporary table then one INSERT ...
SELECT (services.core.db.copy_rows, what crmio does), against one INSERT ... SELECT FROM unnest($1::type[], ...)
of the same rows as arrays. 8,000 lead rows a batch (a worker's batch), in one tenant transaction each, the
two in turns; µs per row of wall time, of the PostgreSQL backend's CPU and of this process's CPU, median of
the rounds after the first.

    .venv/bin/python -m bench.bench_insert [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import decimal
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import psutil

from services.apply.batch import new_id
from services.core.db import connect_pool, copy_rows, tenant
from services.core.settings import Settings

COLUMNS = (
    "id", "company_id", "match_key", "date_precision", "first_name", "last_name", "email", "phone", "company",
    "title", "lead_source", "status", "annual_revenue", "city", "country", "website", "custom",
)  # fmt: skip
BATCH = 8000


def batch(company: uuid.UUID) -> list[tuple[Any, ...]]:
    run = uuid.uuid4().hex[:6]
    return [
        (
            new_id(),
            company,
            f"email:x{i}-{run}@e.example",
            None,
            f"F{i}",
            f"L{i}",
            f"x{i}-{run}@e.example",
            "+14155550123",
            f"Company {i % 500}",
            "Buyer",
            "web",
            "new",
            decimal.Decimal("1200.50"),
            "Paris",
            "FR",
            "https://e.example",
            None,
        )  # fmt: skip
        for i in range(BATCH)
    ]


async def column_types(conn: asyncpg.Connection, table: str, columns: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute "
        "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
        table,
    )
    types = {r["attname"]: r["t"] for r in rows}
    return [types[c] for c in columns]


async def unnest_rows(conn: asyncpg.Connection, table: str, types: list[str], records: list[tuple[Any, ...]]) -> None:
    arrays = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    await conn.execute(
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT * FROM unnest({arrays})", *[list(c) for c in zip(*records)]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    settings = Settings()
    pool = await connect_pool(settings.dsn(), max_size=1)
    company = uuid.uuid4()
    spent: dict[str, list[tuple[float, float, float]]] = {"COPY + INSERT SELECT": [], "INSERT ... unnest": []}
    try:
        async with pool.acquire() as conn:
            types = await column_types(conn, "crm_leads", COLUMNS)
        for _ in range(args.rounds):
            for how in spent:
                records = batch(company)
                async with tenant(pool, company) as conn:
                    backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
                    pg0, me0, t0 = sum(backend.cpu_times()[:2]), time.process_time(), time.perf_counter()
                    if how.startswith("COPY"):
                        await copy_rows(conn, "crm_leads", columns=COLUMNS, records=records)
                    else:
                        await unnest_rows(conn, "crm_leads", types, records)
                    wall, me, pg = (
                        time.perf_counter() - t0,
                        time.process_time() - me0,
                        sum(backend.cpu_times()[:2]) - pg0,
                    )
                spent[how].append((wall, pg, me))
    finally:
        await pool.close()
        owner = await asyncpg.connect(settings.system_dsn())
        await owner.execute("DELETE FROM crm_leads WHERE company_id = $1", company)
        await owner.close()
    for how, runs in spent.items():
        wall, pg, me = (statistics.median(r[k] for r in runs[1:]) / BATCH * 1e6 for k in range(3))
        print(f"{how:22} wall {wall:5.1f} µs/row   PostgreSQL CPU {pg:5.1f} µs/row   client CPU {me:5.1f} µs/row")


if __name__ == "__main__":
    asyncio.run(main())
