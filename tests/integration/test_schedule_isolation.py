"""One company's schedule that fails never stops another's (issue 17: one bad schedule rolled back every
company's pass, again every second, and another company's per-second schedule fired 0 times in 10 s)."""

from __future__ import annotations

import os
import uuid

import asyncpg
import pytest

from services.core.settings import Settings
from services.jobs import schedules

pytestmark = pytest.mark.integration

EXPORT = {"job_type": "export", "target_model": "lead", "file_format": "csv"}


async def _schedule(conn: asyncpg.Connection, company: str, job: dict[str, object], queue: str) -> uuid.UUID:
    row = await schedules.create_schedule(
        conn,
        company,
        name=f"s{uuid.uuid4().hex[:6]}",
        cron="* * * * * *",
        timezone="UTC",
        job=job,
        queue=queue,
        min_interval_s=1,
    )
    return uuid.UUID(str(row["id"]))


async def test_a_failing_schedule_is_skipped_alone_and_a_bad_file_name_alone(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    queue = f"sched{uuid.uuid4().hex[:8]}"  # no worker fires this queue: the test runs the passes
    own = settings.model_copy(update={"topic_prefix": queue})
    broken_company, good_company, drop_company = (str(uuid.uuid4()) for _ in range(3))
    async with pool.acquire() as conn:
        broken = await _schedule(conn, broken_company, EXPORT, queue)
        good = await _schedule(conn, good_company, EXPORT, queue)
        dropping = await _schedule(
            conn, drop_company, {"job_type": "import", "target_model": "lead", "folder": "in"}, queue
        )
        # A definition that no longer fits (written before a check existed, or by hand): firing it fails.
        await conn.execute(
            "UPDATE crm_schedules SET job_definition = job_definition - 'file_format' WHERE id = $1", broken
        )
        await conn.execute("UPDATE crm_schedules SET next_run_at = now() - interval '1 second' WHERE queue = $1", queue)
    inbox = schedules.drop_folder(own, drop_company, "in")
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "good.csv").write_text("First Name,Last Name,Email\nAda,Lovelace,ada@example.com\n")
    bad_name = os.fsdecode(b"bad-\xff.csv")  # not UTF-8: a lone surrogate in Python
    (inbox / bad_name).write_text("First Name,Last Name,Email\nEve,Bad,eve@example.com\n")

    created = await schedules.fire_due(pool, own)

    async with pool.acquire() as conn:
        rows = {r["id"]: r for r in await conn.fetch("SELECT * FROM crm_schedules WHERE queue = $1", queue)}
        jobs = await conn.fetch(
            "SELECT company_id, original_filename FROM crm_import_export_jobs WHERE queue = $1", queue
        )
        await conn.execute("DELETE FROM crm_import_export_jobs WHERE queue = $1", queue)
        await conn.execute("DELETE FROM crm_schedules WHERE queue = $1", queue)
    assert len(created) == 2 and {str(j["company_id"]) for j in jobs} == {good_company, drop_company}
    assert [j["original_filename"] for j in jobs if str(j["company_id"]) == drop_company] == ["good.csv"]
    assert rows[good]["failures"] == 0 and rows[good]["last_error"] is None and rows[good]["last_run_at"] is not None
    assert rows[dropping]["failures"] == 0 and rows[dropping]["last_run_at"] is not None
    assert rows[broken]["failures"] == 1 and "file_format" in rows[broken]["last_error"]
    assert rows[broken]["next_run_at"] > rows[broken]["last_run_at"]  # moved on to its next slot
    assert (inbox / bad_name).exists() and not (inbox / "good.csv").exists()  # the bad name waits, alone
