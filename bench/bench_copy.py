"""The client's CPU to COPY a batch's records and ledger rows: asyncpg's copy_records_to_table (it encodes every
value itself) against the compiled writer (native/src/copy.rs: CopyEncoder.encode_mapped for the plan's records,
encode for ledger tuples, then copy_to_table of its bytes). 8,000 lead rows of 21 columns and 8,000 ledger rows,
into temporary tables on one connection, the two ways in turns; µs of this process's CPU per row, median of the
rounds with min and max.

    .venv/bin/python -m bench.bench_copy [--rows 8000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg

from services.apply.batch import new_id
from services.core.db import MappedRows, _copy_encoder, _init_connection
from services.core.settings import Settings

LEDGER = ["job_id", "record_number", "company_id", "outcome", "record_id", "before_image", "after_version"]


def records(n: int) -> dict[uuid.UUID, dict[str, object]]:
    """A plan's inserts: record id -> values (match_key and date_precision included)."""
    return {
        new_id(): {
            "first_name": "Anna",
            "last_name": f"Smith{i}",
            "email": f"user{i}@example.com",
            "phone": "+14155550123",
            "company": "Acme Corp",
            "title": "CTO",
            "lead_source": "Web",
            "status": "New",
            "industry": "Software",
            "annual_revenue": Decimal(f"{i}.50"),
            "number_of_employees": 250,
            "website": "https://acme.example.com",
            "city": "Berlin",
            "country": "DE",
            "converted_date": dt.date(2024, 3, 1),
            "description": "met at the fair",
            "match_key": f"email:user{i}@example.com",
            "date_precision": None,
        }
        for i in range(n)
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    conn = await asyncpg.connect(Settings().system_dsn())
    await _init_connection(conn)
    await conn.execute("CREATE TEMP TABLE leads (LIKE crm_leads INCLUDING DEFAULTS)")
    await conn.execute("CREATE TEMP TABLE ledger (LIKE crm_import_ledger INCLUDING DEFAULTS)")
    company, job = uuid.uuid4(), uuid.uuid4()
    inserts = records(args.rows)
    names = list(next(iter(inserts.values())))  # the lead's fields, match_key and date_precision
    columns = ["id", "company_id", *names]
    mapped = MappedRows(list(inserts), (company,), list(inserts.values()), names)
    ledger = [(job, n, company, "created", rid, None, 1) for n, rid in enumerate(inserts, 1)]
    lead_encoder = await _copy_encoder(conn, "crm_leads", tuple(columns))
    ledger_encoder = await _copy_encoder(conn, "crm_import_ledger", tuple(LEDGER))
    assert lead_encoder is not None and ledger_encoder is not None

    async def asyncpg_leads() -> None:
        await conn.copy_records_to_table("leads", columns=columns, records=mapped.tuples())

    async def compiled_leads() -> None:
        payload = lead_encoder.encode_mapped(mapped.ids, mapped.constant, mapped.values, mapped.names)
        assert payload is not None
        await conn.copy_to_table("leads", source=memoryview(payload), columns=columns, format="binary")

    async def asyncpg_ledger() -> None:
        await conn.copy_records_to_table("ledger", columns=LEDGER, records=ledger)

    async def compiled_ledger() -> None:
        payload = ledger_encoder.encode(ledger)
        assert payload is not None
        await conn.copy_to_table("ledger", source=memoryview(payload), columns=LEDGER, format="binary")

    async def cpu_per_row(step: Callable[[], Awaitable[None]]) -> float:
        started = time.process_time()
        await step()
        spent = time.process_time() - started
        await conn.execute("TRUNCATE leads, ledger")
        return spent / args.rows * 1e6

    ways = {
        "leads, asyncpg (tuples built, then encoded)": asyncpg_leads,
        "leads, compiled (from the plan's dicts)": compiled_leads,
        "ledger, asyncpg": asyncpg_ledger,
        "ledger, compiled": compiled_ledger,
    }
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, step in ways.items():
            spent[name].append(await cpu_per_row(step))
    await conn.close()
    print(f"client CPU per row, {args.rows:,} rows a COPY, median of {args.rounds} rounds (min-max):")
    for name, figures in spent.items():
        print(f"  {name:<46} {statistics.median(figures):5.2f} µs  ({min(figures):.2f}-{max(figures):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
