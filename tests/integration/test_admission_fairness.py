"""Admission is fair by company: however many jobs one company has queued, another company's job starts
(issue 17: a company with 500 older pending jobs and busy slots blocked every other company)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from schemas import events
from services.core.settings import Settings
from services.jobs.admission import run_admission
from services.jobs.limits import set_company_limits

pytestmark = pytest.mark.integration


async def _jobs(pool: asyncpg.Pool, queue: str, company: str, status: str, n: int, start: dt.datetime) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, file_format, "
            "file_path, queue, created_at) VALUES ($1, $2, 'export', $3, 'lead', 'csv', '', $4, $5)",
            [
                (uuid.UUID(i), uuid.UUID(company), status, queue, start + dt.timedelta(milliseconds=k))
                for k, i in enumerate(ids)
            ],
        )
    return ids


async def test_a_company_with_600_queued_jobs_and_busy_slots_does_not_hold_up_another(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    queue = f"fair{uuid.uuid4().hex[:8]}"  # a queue no worker serves: this test runs the passes itself
    own = settings.model_copy(update={"topic_prefix": queue})
    flood, other, third = (str(uuid.uuid4()) for _ in range(3))
    async with pool.acquire() as conn:
        for company in (flood, other, third):
            await set_company_limits(conn, own, company, {"max_running_jobs": 1})
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    await _jobs(pool, queue, flood, "running", 1, start)
    flooded = await _jobs(pool, queue, flood, "pending", 600, start)
    late = await _jobs(pool, queue, other, "pending", 2, start + dt.timedelta(days=1))
    later = await _jobs(pool, queue, third, "pending", 1, start + dt.timedelta(days=2))
    sent: list[events.JobRequest] = []

    async def send(request: events.JobRequest) -> None:
        sent.append(request)

    started = await run_admission(pool, own, send)
    # Each other company's oldest job starts; its second waits for its own slot; the flood waits.
    assert sorted(started) == sorted([late[0], later[0]])
    assert [r["job_id"] for r in sent] == [late[0], later[0]] and all(r["admitted"] for r in sent)
    async with pool.acquire() as conn:
        states: dict[str, Any] = {
            str(r["id"]): r["job_status"]
            for r in await conn.fetch("SELECT id, job_status FROM crm_import_export_jobs WHERE queue = $1", queue)
        }
        await conn.execute("DELETE FROM crm_import_export_jobs WHERE queue = $1", queue)
    assert states[late[1]] == "pending" and all(states[i] == "pending" for i in flooded)


async def test_a_job_that_cannot_be_sent_fails_alone_and_the_pass_goes_on(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    queue = f"fair{uuid.uuid4().hex[:8]}"
    own = settings.model_copy(update={"topic_prefix": queue})
    poisoned, other = str(uuid.uuid4()), str(uuid.uuid4())
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    [bad] = await _jobs(pool, queue, poisoned, "pending", 1, start)
    [good] = await _jobs(pool, queue, other, "pending", 1, start + dt.timedelta(seconds=1))
    async with pool.acquire() as conn:  # stored before definitions were checked: a mapping the event cannot carry
        await conn.execute(
            "UPDATE crm_import_export_jobs SET field_mapping = '{\"Email\": 42}' WHERE id = $1", uuid.UUID(bad)
        )
    sent: list[events.JobRequest] = []

    async def send(request: events.JobRequest) -> None:
        sent.append(request)

    started = await run_admission(pool, own, send)
    async with pool.acquire() as conn:
        failed = await conn.fetchrow(
            "SELECT job_status, message FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(bad)
        )
        await conn.execute("DELETE FROM crm_import_export_jobs WHERE queue = $1", queue)
    assert started == [good] and [r["job_id"] for r in sent] == [good]
    assert failed["job_status"] == "failed" and "could not be started" in failed["message"]
