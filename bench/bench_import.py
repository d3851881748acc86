"""Import benchmark: rows/s from job request to completed job, and peak RSS of the worker and of
its split process (VmHWM).

Runs the real path (file -> job request -> Faust worker -> Kafka -> PostgreSQL -> completed job)
on the local stack, one fresh worker per file so the peak RSS (VmHWM) belongs to that file.

Every figure is also a ratio to a reference measured in the same invocation, in turns with crmio's runs:
bench/reference.py (a plain asyncpg COPY into a staging table and one INSERT ... ON CONFLICT merge of the
same file), median of --runs, with min and max (issue 15: an absolute rows/s moves 2x with the machine).

    .venv/bin/python -m bench.bench_import [--rows 100000] [--formats csv excel json] [--mode update] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from bench.reference import reference_upsert
from services.core.db import connect_pool, migrate
from services.core.kafka_io import ensure_topics, producer
from services.core.settings import Settings
from services.ingest.submit import submit_import
from tests.datagen import iter_leads, write_csv, write_json, write_xlsx
from tests.integration.conftest import start_worker, stop_worker, wait_for_job

WRITERS = {"csv": (write_csv, ".csv"), "excel": (write_xlsx, ".xlsx"), "json": (write_json, ".json")}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_one(
    base: Settings, path: Path, rows: int, mode: str, workdir: Path, workers: int
) -> tuple[float, float, float, dict]:
    run = uuid.uuid4().hex[:8]
    settings = base.model_copy(
        update={"topic_prefix": f"b{run}", "app_id": f"crmio-bench-{run}", "storage_dir": workdir / "storage"}
    )
    pool = await connect_pool(settings.system_dsn())
    try:
        await migrate(pool)
        await ensure_topics(settings)
        procs = [start_worker(settings, workdir / f"worker-{run}-{i}.log") for i in range(workers)]
        try:
            company = str(uuid.uuid4())
            async with producer(settings) as prod:
                started = time.perf_counter()
                job = await submit_import(
                    settings, pool, prod, company_id=company, path=path, model="lead", duplicates=mode
                )
                job = await wait_for_job(pool, company, job["id"], timeout_s=3600)
                elapsed = time.perf_counter() - started
            rss = max(peak_rss_mb(p.pid) for p in procs)
            # The split process of services/ingest/split_process.py.
            child_rss = max(
                (peak_rss_mb(c.pid) for p in procs for c in psutil.Process(p.pid).children(recursive=True)), default=0.0
            )
        finally:
            for p in procs:
                stop_worker(p)
    finally:
        await pool.close()
    assert job["job_status"] == "completed" and job["processed_records"] == rows, job
    return rows / elapsed, rss, child_rss, job


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "excel", "json"], choices=sorted(WRITERS))
    parser.add_argument("--mode", default="update", choices=("skip", "update", "create_new"))
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the partitions")
    parser.add_argument("--runs", type=int, default=3, help="runs of crmio and of the reference, in turns")
    args = parser.parse_args()
    # A 10M-row csv is 1.7 GB and 10M rows, past the default limits (1 GiB a file, 5M rows): raised as an operator
    # would, for the bench and the workers it starts (they take this environment).
    os.environ.setdefault("CRMIO_MAX_FILE_BYTES", str(8 * 1024**3))
    os.environ.setdefault("CRMIO_MAX_ROWS", str(max(args.rows)))
    base = Settings()
    print(f"{args.workers} worker(s), duplicates={args.mode}; reference: bench/reference.py", flush=True)
    print(
        f"{'format':7} {'rows':>9} {'rows/s':>9} {'reference':>10} {'ratio':>6} {'worker RSS':>11} {'split RSS':>10}  outcome",
        flush=True,
    )
    summary = []
    with tempfile.TemporaryDirectory(prefix="crmio-bench-") as tmp:
        workdir = Path(tmp)
        for rows in args.rows:
            for fmt in args.formats:
                write, suffix = WRITERS[fmt]
                # Written as generated (the same rows for each format): a 10M-row file does not fit in memory as rows.
                path = write(iter_leads(rows, seed=rows), workdir / f"leads-{rows}{suffix}")
                ratios, rates, refs = [], [], []
                for _ in range(args.runs):
                    ref_s, _ = await reference_upsert(base.system_dsn(), path, fmt)
                    rate, rss, child_rss, job = await run_one(base, path, rows, args.mode, workdir, args.workers)
                    ref = rows / ref_s
                    rates.append(rate), refs.append(ref), ratios.append(rate / ref)
                    print(
                        f"{fmt:7} {rows:>9} {rate:>9,.0f} {ref:>10,.0f} {rate / ref:>6.2f} {rss:>8.0f} MB {child_rss:>7.0f} MB  "
                        f"{job['created_records']} created, {job['updated_records']} updated, {job['error_records']} errors",
                        flush=True,
                    )
                path.unlink()
                summary.append(
                    f"{fmt:7} {rows:>9}: crmio {statistics.median(rates):,.0f} rows/s, reference "
                    f"{statistics.median(refs):,.0f} rows/s; ratio median {statistics.median(ratios):.2f} "
                    f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {args.runs} runs)"
                )
    print("\n".join(["", *summary]), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
