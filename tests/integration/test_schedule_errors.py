"""Issue 17, "one tenant must never stall the others": a schedule that cannot fire says why in its last_error
and the pass goes on — an import whose template was deleted or deactivated (its files wait in the drop
folder), an export past the company's storage quota (no job is created). A schedule its template or options
could never serve is refused when it is made (422, over the API and the CLI), and a scheduled import takes
its template's value decisions (value_mapping) as an import over the API does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio

from services.cleansing import picklist_store
from services.core.settings import Settings
from services.jobs import limits, schedules, templates
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    Company,
    api_settings,
    base_url,
    client,
    new_company,
    wait_final,
)
from tests.integration.test_cli import crmio
from tests.polling import eventually

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
        for table in ("crm_stored_files", "crm_company_settings", "crm_data_templates", "crm_picklist_values"):
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


# --------------------------------------------------------------------------- refused when made

MAPPING = {"First Name": "first_name", "Last Name": "last_name", "E-mail": "email", "Source": "lead_source"}
IMPORTS = "GET /api/v1/templates?template_type=import&target_model=lead lists the company's import templates"


async def _api_template(client: httpx.AsyncClient, company: Company, **values: object) -> dict[str, object]:
    body = {
        "template_name": f"t {uuid.uuid4().hex[:6]}",
        "target_model": "lead",
        "template_type": "import",
        "field_mapping": MAPPING,
        **values,
    }
    r = await client.post("/api/v1/templates", headers=company.auth(), json=body)
    assert r.status_code == 201, r.text
    doc: dict[str, object] = r.json()
    return doc


async def _api_schedule(
    client: httpx.AsyncClient, company: Company, job: dict[str, object], cron: str = "0 6 * * *"
) -> httpx.Response:
    return await client.post(
        "/api/v1/schedules",
        headers=company.auth(),
        json={"name": "fair leads", "cron": cron, "job": {"job_type": "import", "target_model": "lead", **job}},
    )


async def test_a_schedule_naming_a_template_it_cannot_use_is_refused_when_made(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    company, other = await new_company(pool), await new_company(pool)
    missing = str(uuid.uuid4())
    foreign = await _api_template(client, other)  # another company's: not found for this one
    inactive = await _api_template(client, company, is_active=False)
    export = await _api_template(client, company, template_type="export", field_mapping={"email": "E-mail"})
    contacts = await _api_template(client, company, target_model="contact", field_mapping={"E-mail": "email"})
    cases = [
        (missing, f"the import template {missing} the job names does not exist"),
        (foreign["id"], f"the import template {foreign['id']} the job names does not exist"),
        (
            inactive["id"],
            f"the import template {inactive['template_name']!r} ({inactive['id']}) the job names is inactive: "
            f"activate it (PATCH /api/v1/templates/{inactive['id']} with is_active true) or name",
        ),
        (
            export["id"],
            f"the template {export['template_name']!r} ({export['id']}) the job names is an export template",
        ),
        (contacts["id"], f"({contacts['id']}) the job names is for contact, the schedule imports lead"),
    ]
    for template, refusal in cases:
        r = await _api_schedule(client, company, {"folder": "in", "template_id": template})
        assert r.status_code == 422, r.text
        error = r.json()
        assert error["code"] == "ScheduleError", error
        assert refusal in error["detail"] and IMPORTS in error["detail"], error["detail"]
    # `crmio schedules create` makes schedules through the same function: refused the same way.
    made = crmio(
        settings,
        "schedules",
        "create",
        "--company",
        company.id,
        "--name",
        "fair leads",
        "--cron",
        "0 6 * * *",
        "--job",
        orjson.dumps({"job_type": "import", "target_model": "lead", "template_id": missing}).decode(),
    )
    assert made.returncode == 2, (made.stdout, made.stderr)
    assert f"the import template {missing} the job names does not exist" in made.stderr, made.stderr
    assert (await client.get("/api/v1/schedules", headers=company.auth())).json()["items"] == []

    fits = await _api_template(client, company)
    r = await _api_schedule(client, company, {"folder": "in", "template_id": fits["id"]})
    assert r.status_code == 201, r.text
    assert (await client.delete(f"/api/v1/schedules/{r.json()['id']}", headers=company.auth())).status_code == 204


async def test_options_and_value_maps_that_failed_every_scheduled_job_are_refused_when_made(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    r = await client.patch(
        "/api/v1/picklists/lead_source/values/partner", headers=company.auth(), json={"active": False}
    )
    assert r.status_code == 200, r.text
    retired = await _api_template(client, company, value_mapping={"lead_source": {"Podcast": "partner"}})
    cases = [
        ({"options": {"unknown_values": "explode"}}, "ValueMappingError", "unknown_values is 'explode'"),
        (
            {"options": {"unknown_values": "map:podcast"}},
            "ValueMappingError",
            "'podcast' is not an active value of any picklist of this model",
        ),
        ({"options": {"encoding": "klingon"}}, "ScheduleError", "options.encoding: unknown text encoding 'klingon'"),
        (
            {"template_id": retired["id"]},
            "ScheduleError",
            f"the value_mapping of the import template {retired['template_name']!r} ({retired['id']}) does not fit "
            "the company's picklists: invalid value_mapping: value_mapping['lead_source'] maps 'Podcast' to 'partner', "
            "which is not an active value",
        ),
    ]
    for job, kind, refusal in cases:
        r = await _api_schedule(client, company, {"folder": "in", **job})
        assert r.status_code == 422, r.text
        error = r.json()
        assert error["code"] == kind and refusal in error["detail"], error
    assert (await client.get("/api/v1/schedules", headers=company.auth())).json()["items"] == []


# --------------------------------------------------------------------------- the template's value decisions


async def test_a_scheduled_import_takes_its_templates_value_mapping(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    company = await new_company(pool)
    decided = {"lead_source": {"Podcast": "partner", "Billboard": "advertisement"}}
    template = await _api_template(client, company, value_mapping=decided)
    folder = schedules.drop_folder(settings, company.id, "fair")
    folder.mkdir(parents=True)
    data = (
        "First Name,Last Name,E-mail,Source\n"
        "Pia,Pod,pia@fair.example,Podcast\n"
        "Bill,Board,bill@fair.example,Billboard\n"
        "Wes,Web,wes@fair.example,Web\n"
    )
    (folder / "fair.csv").write_text(data)
    # Every second: the session's worker fires it and runs the job its first slot makes of the file.
    r = await _api_schedule(client, company, {"folder": "fair", "template_id": template["id"]}, cron="* * * * * *")
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    try:

        async def fired() -> asyncpg.Record | None:
            async with pool.acquire() as conn:
                return await conn.fetchrow(
                    "SELECT id, value_mapping FROM crm_import_export_jobs "
                    "WHERE company_id = $1 AND options->>'schedule_id' = $2",
                    uuid.UUID(company.id),
                    sid,
                )

        job = await eventually(fired, 30, "the schedule firing an import of the dropped file", interval_s=0.2)
    finally:
        assert (await client.delete(f"/api/v1/schedules/{sid}", headers=company.auth())).status_code == 204
    assert job["value_mapping"] == decided
    done = await wait_final(client, company, str(job["id"]))
    assert done["job_status"] == "completed", done
    assert (done["success_records"], done["warning_records"], done["error_records"]) == (3, 0, 0), done
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT email, lead_source FROM crm_leads WHERE company_id = $1", uuid.UUID(company.id))
    assert {r["email"]: r["lead_source"] for r in rows} == {
        "pia@fair.example": "partner",
        "bill@fair.example": "advertisement",
        "wes@fair.example": "web",
    }

    # An import over the API with the same template carries the same decisions.
    up = await client.post(
        "/api/v1/uploads", headers=company.auth(), files={"file": ("fair.csv", data.encode(), "text/csv")}
    )
    assert up.status_code == 201, up.text
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": up.json()["id"],
            "template_id": template["id"],
            "options": {"dry_run": True},
        },
    )
    assert r.status_code == 201, r.text
    async with pool.acquire() as conn:
        over_api = await conn.fetchval(
            "SELECT value_mapping FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(r.json()["id"])
        )
    assert over_api == job["value_mapping"]
    assert (await wait_final(client, company, r.json()["id"]))["job_status"] == "completed"


async def test_a_template_value_map_that_no_longer_fits_fails_each_slot_and_the_file_waits(
    pool: asyncpg.Pool, queue: Queue
) -> None:
    company = queue.company()
    async with pool.acquire() as conn:
        row = await templates.create_template(
            conn,
            company,
            {
                "template_name": f"fair {uuid.uuid4().hex[:6]}",
                "target_model": "lead",
                "template_type": "import",
                "field_mapping": MAPPING,
                "value_mapping": {"lead_source": {"Podcast": "partner"}},
            },
        )
        template = str(row["id"])
        sid = await queue.schedule(
            conn, company, {"job_type": "import", "target_model": "lead", "folder": "in", "template_id": template}
        )
        # Retired after the schedule was made: an import with these decisions would be refused now.
        await picklist_store.update_value(conn, company, "lead_source", "partner", active=False)
        await queue.make_due(conn)
    folder = schedules.drop_folder(queue.settings, company, "in")
    folder.mkdir(parents=True)
    (folder / "waiting.csv").write_text("First Name,Last Name,E-mail,Source\nPia,Pod,pia@fair.example,Podcast\n")

    assert await schedules.fire_due(pool, queue.settings) == []

    rows, jobs = await queue.state(pool)
    error = rows[sid]["last_error"]
    assert rows[sid]["failures"] == 1 and jobs == [], jobs
    assert f"the value_mapping of the import template {row['template_name']!r} ({template}) does not fit" in error
    assert "maps 'Podcast' to 'partner', which is not an active value of the lead_source picklist" in error, error
    assert f"PATCH /api/v1/templates/{template}" in error, error
    assert [p.name for p in folder.iterdir()] == ["waiting.csv"]
