"""The dashboard's figures over the API (GET /api/v1/stats/timeseries) and the API's JSON logs, on the real
PostgreSQL: job rows and error logs with known timestamps give exact figures, and another company's never count.
No worker: the rows are written as the pipeline writes them, under a queue no worker admits."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio

from services.core.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import RUN, worker_env
from tests.integration.test_api import Company, Server, new_company

pytestmark = pytest.mark.integration

MIN = dt.timedelta(minutes=1)


@pytest_asyncio.fixture
async def api_url(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with Server(settings) as url:
        yield url


async def _job(
    conn: asyncpg.Connection,
    company: str,
    status: str,
    *,
    created: dt.datetime,
    started: dt.datetime | None = None,
    completed: dt.datetime | None = None,
    updated: dt.datetime,
    total: int = 0,
    processed: int = 0,
) -> uuid.UUID:
    job_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, file_format, file_path,
                                            total_records, processed_records, created_at, started_at, completed_at,
                                            updated_at, queue)
        VALUES ($1, $2, 'import', $3, 'lead', 'csv', '', $4, $5, $6, $7, $8, $9, $10)
        """,
        job_id,
        uuid.UUID(company),
        status,
        total,
        processed,
        created,
        started,
        completed,
        updated,
        f"stats-{RUN}",
    )
    return job_id


@pytest_asyncio.fixture
async def history(pool: asyncpg.Pool) -> AsyncIterator[tuple[Company, Company, dt.datetime]]:
    """Company A: an import of 60,000 rows that ran from 20 to 10 minutes ago with 7 error lines 15 minutes ago, a
    running import (4,000 of 10,000 rows), a pending one. Company B: a much bigger import at the same times."""
    a, b = await new_company(pool), await new_company(pool)
    async with pool.acquire() as conn:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        done = await _job(
            conn,
            a.id,
            "completed",
            created=now - 21 * MIN,
            started=now - 20 * MIN,
            completed=now - 10 * MIN,
            updated=now - 10 * MIN,
            total=60_000,
            processed=60_000,
        )
        await conn.executemany(
            "INSERT INTO crm_import_export_logs (job_id, company_id, record_number, log_level, message, created_at)"
            " VALUES ($1, $2, $3, 'error', 'bad e-mail', $4)",
            [(done, uuid.UUID(a.id), n, now - 15 * MIN) for n in range(1, 8)],
        )
        await _job(
            conn,
            a.id,
            "running",
            created=now - 5 * MIN,
            started=now - 5 * MIN,
            updated=now - MIN,
            total=10_000,
            processed=4_000,
        )
        await _job(conn, a.id, "pending", created=now - 2 * MIN, updated=now - 2 * MIN)
        other = await _job(
            conn,
            b.id,
            "completed",
            created=now - 20 * MIN,
            started=now - 20 * MIN,
            completed=now - 10 * MIN,
            updated=now - 10 * MIN,
            total=900_000,
            processed=900_000,
        )
        await conn.execute(
            "INSERT INTO crm_import_export_logs (job_id, company_id, log_level, message, created_at)"
            " VALUES ($1, $2, 'error', 'other', $3)",
            other,
            uuid.UUID(b.id),
            now - 15 * MIN,
        )
    yield a, b, now
    async with pool.acquire() as conn:
        ids = [uuid.UUID(a.id), uuid.UUID(b.id)]
        await conn.execute("DELETE FROM crm_import_export_jobs WHERE company_id = ANY($1)", ids)
        await conn.execute("DELETE FROM crm_api_keys WHERE company_id = ANY($1)", ids)


def _at(point: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(point["at"])


async def test_the_timeseries_are_the_companys_own_and_exact(
    api_url: str, history: tuple[Company, Company, dt.datetime]
) -> None:
    a, b, now = history
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        started = time.perf_counter()
        r = await client.get("/api/v1/stats/timeseries", params={"minutes": 60}, headers=a.auth("member"))
        took = time.perf_counter() - started
        assert r.status_code == 200, r.text
        body = r.json()
        assert (await client.get("/api/v1/stats/timeseries")).status_code == 401
        assert (await client.get("/api/v1/stats/timeseries?minutes=4", headers=a.auth())).status_code == 422
        theirs = (await client.get("/api/v1/stats/timeseries", headers=b.auth())).json()

    assert took < 2, took
    points = body["points"]
    assert body["step_s"] == 60 and len(points) == 60 and body["jobs_read"] == 3 and not body["truncated"]
    assert _at(points[0]) <= now - 59 * MIN and _at(points[-1]) <= now < _at(points[-1]) + MIN
    # 60,000 rows over ten minutes: 100 rows/s in every minute inside the run; 4,000 more of the running import.
    inside = [p for p in points if now - 19 * MIN <= _at(p) and _at(p) + MIN <= now - 10 * MIN]
    assert len(inside) >= 8 and all(p["rows_per_s"] == 100 for p in inside), inside
    # rows_per_s is rounded to hundredths: at most 0.3 rows per step off.
    assert abs(sum(p["rows_per_s"] * 60 for p in points) - 64_000) < 0.3 * 60
    (error_step,) = [p for p in points if p["errors"]]
    assert error_step["errors"] == 7 and _at(error_step) <= now - 15 * MIN < _at(error_step) + MIN
    assert sum(p["completed"] for p in points) == 1 and sum(p["failed"] + p["cancelled"] for p in points) == 0
    last = points[-1]
    assert (last["pending"], last["running"], last["backlog_rows"]) == (1, 1, 6_000), last
    assert points[0]["running"] == 0 and points[0]["pending"] == 0

    # Company B sees its own import only: 900,000 rows, one error line, nothing pending or running.
    assert theirs["jobs_read"] == 1
    assert abs(sum(p["rows_per_s"] * 60 for p in theirs["points"]) - 900_000) < 0.3 * 60
    assert sum(p["errors"] for p in theirs["points"]) == 1
    assert theirs["points"][-1]["pending"] == theirs["points"][-1]["running"] == 0


async def test_the_api_logs_json_lines_naming_the_callers_company(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    company = await new_company(pool)
    log_path = tmp_path / "api.log"
    env = {**worker_env(settings), "CRMIO_API_PORT": "0", "CRMIO_LOG_FORMAT": "json"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "api"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            for line in log_path.read_text().splitlines():
                if "Uvicorn running on " in line:
                    url = orjson.loads(line)["message"].split(" on ", 1)[1].split()[0]
            await asyncio.sleep(0.2)
        assert url, f"the API did not start:\n{log_path.read_text()[-3000:]}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.get("/api/v1/stats/timeseries", headers=company.auth())).status_code == 200
            assert (await client.get("/api/v1/stats/timeseries")).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    logged = [orjson.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(d) for d in logged), logged
    access = [d for d in logged if d["logger"] == "uvicorn.access" and "/api/v1/stats/timeseries" in d["message"]]
    assert [d.get("company_id") for d in access] == [company.id, None], access
