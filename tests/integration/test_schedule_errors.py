"""Issue 17, "one tenant must never stall the others": a schedule that cannot fire says why in its last_error
and the pass goes on — an import whose template was deleted or deactivated (its files wait in the drop
folder), an export past the company's storage quota (no job is created)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from services.core.settings import Settings
from services.jobs import limits, schedules, templates

pytestmark = pytest.mark.integration

EXPORT = {"job_type": "export", "target_model": "lead", "file_format": "csv"}
LEADS = "First Name,Last Name,E-mail\nEve,Orphan,eve@orphan.example\n"


@dataclass
class Queue:
    """A deployment of its own that no worker fires: the test runs the passes."""

    settings: Settings
    companies: list[str]

    def company(self) -> str:
        company = str(uuid.uuid4())
        self.companies.append(company)
        return company

    async def schedule(self, conn: asyncpg.Connection, company: str, job: dict[str, object]) -> uuid.UUID:
        row = await schedules.create_schedule(
            conn,
            company,
            name=f"s{uuid.uuid4().hex[:6]}",
            cron="* * * * * *",
            timezone="UTC",
            job=job,
            queue=self.settings.topic_prefix,
            min_interval_s=1,
        )
        return uuid.UUID(str(row["id"]))

    async def make_due(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "UPDATE crm_schedules SET next_run_at = now() - interval '1 second' WHERE queue = $1",
            self.settings.topic_prefix,
        )

    async def state(self, pool: asyncpg.Pool) -> tuple[dict[uuid.UUID, asyncpg.Record], list[asyncpg.Record]]:
        """The queue's schedules by id, and the jobs they created."""
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM crm_schedules WHERE queue = $1", self.settings.topic_prefix)
            jobs = await conn.fetch(
                "SELECT company_id, job_type, options FROM crm_import_export_jobs WHERE queue = $1",
                self.settings.topic_prefix,
            )
        return {r["id"]: r for r in rows}, list(jobs)


@pytest_asyncio.fixture
async def queue(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[Queue]:
    name = f"sched{uuid.uuid4().hex[:8]}"
    q = Queue(settings.model_copy(update={"topic_prefix": name}), [])
    yield q
    ids = [uuid.UUID(c) for c in q.companies]
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM crm_import_export_jobs WHERE queue = $1", name)
        await conn.execute("DELETE FROM crm_schedules WHERE queue = $1", name)
        for table in ("crm_stored_files", "crm_company_settings", "crm_data_templates"):
            await conn.execute(f"DELETE FROM {table} WHERE company_id = ANY($1::uuid[])", ids)


def _of(jobs: list[asyncpg.Record], schedule: uuid.UUID) -> list[asyncpg.Record]:
    return [j for j in jobs if j["options"].get("schedule_id") == str(schedule)]


async def _import_template(conn: asyncpg.Connection, company: str) -> str:
    row = await templates.create_template(
        conn,
        company,
        {
            "template_name": f"soon gone {uuid.uuid4().hex[:6]}",
            "target_model": "lead",
            "template_type": "import",
            "field_mapping": {"First Name": "first_name", "Last Name": "last_name", "E-mail": "email"},
        },
    )
    return str(row["id"])


async def test_an_import_whose_template_was_deleted_says_so_and_its_file_waits(
    pool: asyncpg.Pool, queue: Queue
) -> None:
    poisoned, other = queue.company(), queue.company()
    async with pool.acquire() as conn:
        template = await _import_template(conn, poisoned)
        orphan = await queue.schedule(
            conn,
            poisoned,
            {"job_type": "import", "target_model": "lead", "folder": "orphan", "template_id": template},
        )
        # Nothing dropped yet: the schedule is broken all the same, and says so before files arrive.
        empty = await queue.schedule(
            conn,
            poisoned,
            {"job_type": "import", "target_model": "lead", "folder": "empty", "template_id": template},
        )
        good = await queue.schedule(conn, other, EXPORT)
        assert await templates.delete_template(conn, poisoned, template)
        await queue.make_due(conn)
    folder = schedules.drop_folder(queue.settings, poisoned, "orphan")
    folder.mkdir(parents=True)
    (folder / "waiting.csv").write_text(LEADS)

    first = await schedules.fire_due(pool, queue.settings)
    rows, jobs = await queue.state(pool)

    assert len(first) == 1 and [j["job_type"] for j in _of(jobs, good)] == ["export"], jobs
    assert rows[good]["failures"] == 0 and rows[good]["last_error"] is None
    assert _of(jobs, orphan) == [] and _of(jobs, empty) == []
    assert [p.name for p in folder.iterdir()] == ["waiting.csv"]  # waits where it was dropped
    for sid, drop in ((orphan, "drop/orphan"), (empty, "drop/empty")):
        row = rows[sid]
        error = row["last_error"]
        assert row["failures"] == 1 and row["last_error_at"] is not None, dict(row)
        assert row["next_run_at"] > row["last_run_at"], dict(row)  # moved on to its next slot
        assert f"the import template {template} this schedule names does not exist" in error, error
        assert f"files dropped in {drop} wait there" in error, error
        assert "create a new schedule naming another import template of lead" in error, error
        assert f"DELETE /api/v1/schedules/{sid}" in error, error

    # Every slot says so again; the file still waits.
    later = max(r["next_run_at"] for r in rows.values()) + dt.timedelta(seconds=1)
    await schedules.fire_due(pool, queue.settings, now=later)
    rows, jobs = await queue.state(pool)
    assert rows[orphan]["failures"] == 2 and _of(jobs, orphan) == []
    assert len(_of(jobs, good)) == 2 and rows[good]["failures"] == 0
    assert [p.name for p in folder.iterdir()] == ["waiting.csv"]


async def test_an_import_whose_template_was_deactivated_says_how_to_activate_it(
    pool: asyncpg.Pool, queue: Queue
) -> None:
    company = queue.company()
    async with pool.acquire() as conn:
        template = await _import_template(conn, company)
        sid = await queue.schedule(
            conn, company, {"job_type": "import", "target_model": "lead", "folder": "in", "template_id": template}
        )
        row = await templates.update_template(conn, company, template, {"is_active": False})
        assert row is not None
        await queue.make_due(conn)
    folder = schedules.drop_folder(queue.settings, company, "in")
    folder.mkdir(parents=True)
    (folder / "waiting.csv").write_text(LEADS)

    assert await schedules.fire_due(pool, queue.settings) == []

    rows, jobs = await queue.state(pool)
    error = rows[sid]["last_error"]
    assert rows[sid]["failures"] == 1 and jobs == []
    assert f"{row['template_name']!r} ({template}) this schedule names is inactive" in error, error
    assert f"PATCH /api/v1/templates/{template} with is_active true" in error, error
    assert [p.name for p in folder.iterdir()] == ["waiting.csv"]


async def test_a_scheduled_export_past_the_storage_quota_is_not_created(
    pool: asyncpg.Pool, settings: Settings, queue: Queue
) -> None:
    full, other = queue.company(), queue.company()
    async with pool.acquire() as conn:
        # 100 bytes stored, 100 allowed: no room for an export's file.
        await conn.execute(
            "INSERT INTO crm_stored_files (company_id, path, size_bytes) VALUES ($1, 'uploads/kept.csv', 100)",
            uuid.UUID(full),
        )
        await limits.set_company_limits(conn, settings, full, {"max_storage_bytes": 100})
        refused = await queue.schedule(conn, full, EXPORT)
        good = await queue.schedule(conn, other, EXPORT)
        await queue.make_due(conn)

    assert len(await schedules.fire_due(pool, queue.settings)) == 1

    rows, jobs = await queue.state(pool)
    assert _of(jobs, refused) == [] and len(_of(jobs, good)) == 1, jobs
    assert rows[good]["failures"] == 0 and rows[good]["last_error"] is None
    row = rows[refused]
    error = row["last_error"]
    assert row["failures"] == 1 and row["next_run_at"] > row["last_run_at"], dict(row)
    assert f"the file of the scheduled export {row['name']!r} of lead records would pass" in error, error
    assert "100 of 100 bytes are in use (max_storage_bytes)" in error, error
    assert "DELETE /api/v1/uploads/ID" in error, error
    assert f"crmio limits set --company {full} --max-storage-bytes BYTES" in error, error

    # Once there is room, the next slot exports.
    async with pool.acquire() as conn:
        await limits.set_company_limits(conn, settings, full, {"max_storage_bytes": None})
    later = max(r["next_run_at"] for r in rows.values()) + dt.timedelta(seconds=1)
    await schedules.fire_due(pool, queue.settings, now=later)
    rows, jobs = await queue.state(pool)
    assert len(_of(jobs, refused)) == 1 and rows[refused]["failures"] == 0
