"""Export benchmark: rows/s and peak RSS of run_export per format, on lead rows COPYed into bench companies.

Each export runs in a fresh child process, so its peak RSS is its own (compare 100k with 1M rows:
flat memory means the same peak). Usage: ``.venv/bin/python -m bench.bench_export [--sizes 100000,1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from schemas.models import get_model
from services.core.db import connect_pool
from services.core.settings import PROJECT_ROOT, Settings
from services.exports.runner import run_export

FORMATS = ("csv", "json", "excel", "pdf")
PDF_ROWS = 100_000


def lead_rows(company: uuid.UUID, n: int):
    """n lead rows shaped like real ones (a third of the optional cells empty)."""
    day = dt.date(2024, 3, 1)
    for i in range(n):
        yield (
            uuid.uuid4(),
            company,
            f"email:lead{i}@example.com",
            f"First{i}",
            f"Last{i}",
            f"lead{i}@example.com",
            f"+1415555{i % 10000:04d}",
            None if i % 3 else f"+1212555{i % 10000:04d}",
            f"Company {i % 997}",
            f"Title {i % 50}",
            "web",
            ("new", "contacted", "qualified")[i % 3],
            None if i % 2 else "Software",
            Decimal(f"{i * 13}.50") if i % 3 else None,
            i % 5000,
            f"https://www.company{i % 997}.example",
            ("London", "Paris", "Berlin")[i % 3],
            "Country",
            day if i % 4 == 0 else None,
            None if i % 5 else f"Note {i}: called, left a message",
            f"ext-{i}",
        )


COLUMNS = (
    "id",
    "company_id",
    "match_key",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile_phone",
    "company",
    "title",
    "lead_source",
    "status",
    "industry",
    "annual_revenue",
    "number_of_employees",
    "website",
    "city",
    "country",
    "converted_date",
    "description",
    "external_id",
)


async def seed(settings: Settings, sizes: list[int]) -> dict[int, str]:
    pool = await connect_pool(settings.system_dsn(), max_size=2)
    companies: dict[int, str] = {}
    try:
        async with pool.acquire() as conn:
            for n in sizes:
                company = uuid.uuid4()
                t = time.perf_counter()
                await conn.copy_records_to_table("crm_leads", records=lead_rows(company, n), columns=COLUMNS)
                print(f"seeded {n:,} leads in {time.perf_counter() - t:.1f} s (company {company})", flush=True)
                companies[n] = str(company)
            await conn.execute("ANALYZE crm_leads")
    finally:
        await pool.close()
    return companies


async def drop(settings: Settings, companies: list[str]) -> None:
    pool = await connect_pool(settings.dsn(), max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM crm_leads WHERE company_id = ANY($1::uuid[])", companies)
    finally:
        await pool.close()


async def child(fmt: str, company: str, storage: str) -> dict[str, float]:
    """One export in this process: seconds, rows, peak RSS."""
    settings = Settings().model_copy(update={"storage_dir": Path(storage), "pdf_max_rows": 10_000_000})
    pool = await connect_pool(settings.dsn(), max_size=1)
    job = {
        "company_id": company,
        "target_model": "lead",
        "file_format": fmt,
        "options": {"fields": list(get_model("lead").field_names)},
    }

    async def report(progress: dict[str, int | str]) -> None:
        return None

    try:
        start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        rel, count = await run_export(pool, settings, job, report)
        seconds = time.perf_counter() - t
    finally:
        await pool.close()
    path = Path(storage) / company / rel
    size = path.stat().st_size
    path.unlink()
    return {
        "rows": count,
        "seconds": seconds,
        "rss_start_mb": start_rss / 1024,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--child", nargs=3, metavar=("FORMAT", "COMPANY", "STORAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(*args.child))))
        return
    settings = Settings()
    sizes = [int(s) for s in args.sizes.split(",")]
    companies = asyncio.run(seed(settings, sizes))
    try:
        with tempfile.TemporaryDirectory() as storage:
            print(f"{'format':<7} {'rows':>10} {'rows/s':>10} {'peak RSS MB':>12} {'file MB':>9}")
            for fmt in args.formats.split(","):
                for n in sizes:
                    if fmt == "pdf" and n > PDF_ROWS:
                        continue
                    out = subprocess.run(
                        [sys.executable, "-m", "bench.bench_export", "--child", fmt, companies[n], storage],
                        cwd=PROJECT_ROOT,
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    print(
                        f"{fmt:<7} {int(r['rows']):>10,} {r['rows'] / r['seconds']:>10,.0f} "
                        f"{r['rss_peak_mb']:>12.1f} {r['bytes'] / 1e6:>9.1f}",
                        flush=True,
                    )
    finally:
        asyncio.run(drop(settings, list(companies.values())))


if __name__ == "__main__":
    main()
