"""Load: concurrent imports from several companies (limits respected, results exact) while status
queries are timed through the HTTP API, as a dashboard would poll them.

    .venv/bin/python -m bench.load [--imports 10] [--companies 3] [--rows 100000] [--pollers 4]

Prints p50 / p99 / max of GET /api/v1/jobs/{id}, the most jobs seen running per company and in
all, and the overall rows/s. Needs the running stack; starts its own worker and API processes.
tests/integration/test_load.py runs the same function and asserts the results.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.core.db import connect_pool
from services.core.kafka_io import ensure_topics, producer
from services.core.settings import PROJECT_ROOT, Settings
from services.ingest.submit import submit_import
from services.jobs import keys
from services.jobs import repository as jobs
from tests.datagen import LeadFile, expected, make_leads, write_csv
from tests.integration.conftest import start_worker, stop_worker, worker_env

__all__ = ["LoadResult", "run_load", "api_process"]


@dataclass
class LoadResult:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, LeadFile] = field(default_factory=dict)  # job id -> its file
    companies: dict[str, str] = field(default_factory=dict)  # job id -> company
    latencies_ms: list[float] = field(default_factory=list)
    max_running: Counter[str] = field(default_factory=Counter)  # company -> most running at once
    max_running_total: int = 0
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        return statistics.quantiles(self.latencies_ms, n=1000)[int(q * 1000) - 1] if len(self.latencies_ms) > 1 else 0.0

    def summary(self) -> dict[str, Any]:
        rows = sum(j["total_records"] for j in self.jobs)
        return {
            "imports": len(self.jobs),
            "companies": len(set(self.companies.values())),
            "rows": rows,
            "seconds": round(self.seconds, 1),
            "rows_per_s": round(rows / self.seconds) if self.seconds else 0,
            "status_queries": len(self.latencies_ms),
            "p50_ms": round(self.percentile(0.5), 1),
            "p99_ms": round(self.percentile(0.99), 1),
            "max_ms": round(max(self.latencies_ms, default=0), 1),
            "max_running_per_company": max(self.max_running.values(), default=0),
            "max_running_total": self.max_running_total,
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_process(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`crmio api` in its own process (as deployed), on a free port; returns it and its base URL."""
    port = _free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "api", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=worker_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the API did not start; its log:\n{log_path.read_text(errors='replace')[-3000:]}")


async def _poll(
    url: str,
    targets: list[tuple[str, str]],
    api_keys: dict[str, str],
    result: LoadResult,
    stop: asyncio.Event,
    interval_s: float,
) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while not stop.is_set():
            job_id, company = rng.choice(targets)
            started = time.perf_counter()
            r = await client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {api_keys[company]}"})
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
            await asyncio.sleep(interval_s)


async def _watch_running(pool: asyncpg.Pool, companies: list[str], result: LoadResult, stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT company_id, count(*) AS n FROM crm_import_export_jobs WHERE job_status = 'running' "
                "AND company_id = ANY($1::uuid[]) GROUP BY company_id",
                companies,
            )
        for r in rows:
            c = str(r["company_id"])
            result.max_running[c] = max(result.max_running[c], r["n"])
        result.max_running_total = max(result.max_running_total, sum(r["n"] for r in rows))
        await asyncio.sleep(0.1)


async def run_load(
    settings: Settings,
    pool: asyncpg.Pool,
    url: str,
    workdir: Path,
    *,
    imports: int = 10,
    companies: int = 3,
    rows: int = 100_000,
    pollers: int = 4,
    poll_interval_s: float = 0.05,
    mode: str = "update",
) -> LoadResult:
    """Submit ``imports`` imports at once, spread over ``companies`` new companies; time status queries until all end."""
    result = LoadResult()
    company_ids = [str(uuid.uuid4()) for _ in range(companies)]
    api_keys = {}
    async with pool.acquire() as conn:
        for c in company_ids:
            api_keys[c], _ = await keys.create_key(conn, c, "member", "load test")
    files = []
    for i in range(imports):
        lf = make_leads(rows, seed=1000 + i)
        files.append((lf, await asyncio.to_thread(write_csv, lf, workdir / f"load-{i}.csv")))
    stop = asyncio.Event()
    started = time.monotonic()
    async with producer(settings) as prod:
        submitted = await asyncio.gather(
            *(
                submit_import(
                    settings,
                    pool,
                    prod,
                    company_id=company_ids[i % companies],
                    path=path,
                    model="lead",
                    duplicates=mode,
                )
                for i, (_, path) in enumerate(files)
            )
        )
    for i, job in enumerate(submitted):
        result.files[job["id"]] = files[i][0]
        result.companies[job["id"]] = job["company_id"]
    targets = list(result.companies.items())
    background = [
        asyncio.create_task(_poll(url, targets, api_keys, result, stop, poll_interval_s)) for _ in range(pollers)
    ]
    background.append(asyncio.create_task(_watch_running(pool, company_ids, result, stop)))
    try:
        for job_id, company in targets:
            while True:
                async with pool.acquire() as conn:
                    row = await jobs.get_job(conn, company, job_id)
                if row["job_status"] in jobs.FINAL_STATUSES:
                    result.jobs.append(jobs.job_document(row))
                    break
                await asyncio.sleep(0.5)
    finally:
        result.seconds = time.monotonic() - started
        stop.set()
        await asyncio.gather(*background)
    return result


def expected_counts(lf: LeadFile, mode: str) -> dict[str, int]:
    return expected(lf, mode)[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imports", type=int, default=10)
    parser.add_argument("--companies", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pollers", type=int, default=4)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = Settings().model_copy(
            update={"topic_prefix": f"load{run}", "app_id": f"crmio-load-{run}", "storage_dir": workdir / "storage"}
        )
        await ensure_topics(settings)
        pool = await connect_pool(settings.system_dsn(), max_size=4)
        worker = start_worker(settings, workdir / "worker.log")
        api, url = api_process(settings, workdir / "api.log")
        try:
            result = await run_load(
                settings,
                pool,
                url,
                workdir,
                imports=args.imports,
                companies=args.companies,
                rows=args.rows,
                pollers=args.pollers,
            )
        finally:
            api.terminate()
            stop_worker(worker)
            await pool.close()
    exact = all(
        j["job_status"] == "completed"
        and j["error_records"] == expected_counts(result.files[j["id"]], "update")["failed"]
        for j in result.jobs
    )
    print({**result.summary(), "all_completed_exact": exact})


if __name__ == "__main__":
    asyncio.run(main())
