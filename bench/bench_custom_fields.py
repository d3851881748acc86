"""Import with 10 custom fields mapped against the same import without them (issue 18: the import ratio no
worse than 0.9x).

One file: the 12 lead columns of tests/datagen.py and 10 more, one per custom field type. The same
file is imported by a company that has the 10 fields (mapped: their values are cleansed, validated and
stored in the records' custom jsonb) and by one that has none (the 10 columns unmapped), in turns, on one
worker of the real path (job request -> worker -> Kafka -> PostgreSQL -> completed job). Before each, the
reference of issue 15 (bench/reference.py) upserts the same file: the 12 lead columns, and with the fields
also the 10 values cast to their types into the same jsonb. Prints the rates, each import ratio (crmio /
reference), the ratio with over without, and crmio's plain rows/s with over without: median of 3 pairs,
min and max of the per-pair figures.

    .venv/bin/python -m bench.bench_custom_fields [--rows 100000] [--pairs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from bench.reference import reference_upsert
from services.core.db import connect_pool, migrate, tenant
from services.core.kafka_io import ensure_topics, producer
from services.core.settings import Settings
from services.fields import manage
from services.ingest.submit import submit_import
from tests.datagen import HEADERS, make_leads
from tests.integration.conftest import start_worker, stop_worker, wait_for_job

BASE_MAPPING = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "E-mail": "email",
    "Phone": "phone",
    "Company Name": "company",
    "Title": "title",
    "Lead Source": "lead_source",
    "Status": "status",
    "Annual Revenue": "annual_revenue",
    "City": "city",
    "Country": "country",
    "Website": "website",
}
# (header, field type, extra definition, value of row i)
CUSTOM = [
    ("Region", "text", {}, lambda i: ["North", "South", "East", "West"][i % 4]),
    ("Seats", "number", {}, lambda i: str(i % 500)),
    ("Contract Value", "decimal", {}, lambda i: f"{(i * 37) % 100000}.{i % 100:02d}"),
    ("Renewal Date", "date", {}, lambda i: (dt.date(2025, 1, 1) + dt.timedelta(days=i % 700)).isoformat()),
    ("Active", "boolean", {}, lambda i: "yes" if i % 3 else "no"),
    (
        "Deal Stage",
        "choice",
        {"choices": ["Prospecting", "Negotiation", "Closed Won"]},
        lambda i: ["prospecting", "Negotiation", "closed won"][i % 3],
    ),
    ("Billing Email", "email", {}, lambda i: f"billing{i}@example.org"),
    ("Portal", "url", {}, lambda i: f"https://portal.example.org/c/{i}"),
    ("Support Line", "phone", {}, lambda i: f"+1 415 555 {i % 10000:04d}"),
    ("Notes", "long_text", {}, lambda i: f"customer since {2000 + i % 25}; account notes line {i}"),
]


# What the reference (bench/reference.py) stores of a custom column: the cast a plain script would write.
_CAST = {
    "number": "CASE WHEN {c} ~ '^-?[0-9]{{1,18}}$' THEN {c}::bigint END",
    "decimal": "CASE WHEN {c} ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN {c}::numeric END",
    "date": "CASE WHEN {c} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' THEN {c}::date END",
    "boolean": "CASE lower(btrim({c})) WHEN 'yes' THEN true WHEN 'true' THEN true WHEN 'no' THEN false "
    "WHEN 'false' THEN false END",
    "email": "lower(btrim({c}))",
    "choice": "lower(btrim({c}))",
}


def reference_custom() -> dict[str, str]:
    """jsonb key -> SQL over the staging row, for each custom column (after the 12 of tests/datagen.py)."""
    return {
        header.lower().replace(" ", "_"): _CAST.get(kind, "{c}").format(c=f"s.c{len(HEADERS) + i}")
        for i, (header, kind, *_) in enumerate(CUSTOM)
    }


def write_file(rows: int, path: Path) -> Path:
    lf = make_leads(rows, seed=11)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS + [h for h, *_ in CUSTOM])
        for i, row in enumerate(lf.rows):
            w.writerow(row + [value(i) for *_, value in CUSTOM])
    return path


async def one(settings: Settings, pool: asyncpg.Pool, path: Path, rows: int, custom: bool) -> float:
    company = str(uuid.uuid4())
    mapping = dict(BASE_MAPPING)
    if custom:
        for header, kind, extra, _ in CUSTOM:
            async with tenant(pool, company) as conn:
                doc = await manage.create_field(
                    conn, company, {"target_model": "lead", "label": header, "field_type": kind, **extra}
                )
            mapping[header] = doc["name"]
    async with producer(settings) as prod:
        started = time.perf_counter()
        job = await submit_import(settings, pool, prod, company_id=company, path=path, model="lead", mapping=mapping)
        job = await wait_for_job(pool, company, job["id"], timeout_s=3600)
        elapsed = time.perf_counter() - started
    assert job["job_status"] == "completed" and job["processed_records"] == rows, job
    return rows / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = Settings().model_copy(
            update={"topic_prefix": f"cf{run}", "app_id": f"crmio-cf-{run}", "storage_dir": workdir / "storage"}
        )
        path = write_file(args.rows, workdir / "leads-custom.csv")
        pool = await connect_pool(settings.system_dsn())
        await migrate(pool)
        await ensure_topics(settings)
        worker = start_worker(settings, workdir / "worker.log")
        # rows/s: crmio and the reference, without and with the 10 custom fields
        rates: dict[str, list[float]] = {"without": [], "with": [], "ref without": [], "ref with": []}
        dsn, extra = settings.system_dsn(), len(CUSTOM)
        try:
            for _ in range(args.pairs):
                for custom in (False, True):
                    name = "with" if custom else "without"
                    ref_s, _ = await reference_upsert(
                        dsn, path, "csv", extra=extra, custom=reference_custom() if custom else None
                    )
                    rates[f"ref {name}"].append(args.rows / ref_s)
                    rates[name].append(await one(settings, pool, path, args.rows, custom))
                print(
                    "  " + ", ".join(f"{name} {values[-1]:,.0f}" for name, values in rates.items()) + " rows/s",
                    flush=True,
                )
        finally:
            stop_worker(worker)
            await pool.close()
    plain = [w / b for w, b in zip(rates["with"], rates["without"], strict=True)]
    ratio = {
        name: [c / r for c, r in zip(rates[name], rates[f"ref {name}"], strict=True)] for name in ("without", "with")
    }
    of_ratios = [w / b for w, b in zip(ratio["with"], ratio["without"], strict=True)]
    print(f"{args.rows:,} rows, {args.pairs} pairs, median (min-max):")
    for name, values in rates.items():
        print(f"  {name:12} {statistics.median(values):9,.0f} rows/s")
    for label, values in (
        ("import ratio without custom fields (crmio / reference)", ratio["without"]),
        ("import ratio with 10 mapped (crmio / reference)", ratio["with"]),
        ("import ratio with / without", of_ratios),
        ("crmio rows/s with / without", plain),
    ):
        print(f"  {label:56} {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
