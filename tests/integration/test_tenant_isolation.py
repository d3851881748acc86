"""Tenant isolation in depth: row-level security on every tenant table (forced; the service's role is
neither owner nor BYPASSRLS; the tenant set per transaction), and every CLI command refusing another
company's ids."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.core.db import set_tenant
from services.core.settings import Settings
from tests.integration.test_cli import crmio
from tests.integration.test_job_control import lead_rows, write

pytestmark = pytest.mark.integration


async def _tenant_tables(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'company_id' ORDER BY table_name"
        )
    return [r["table_name"] for r in rows]


async def test_the_service_role_is_bound_by_forced_row_level_security(settings: Settings, pool: asyncpg.Pool) -> None:
    app_role = settings.dsn().split("//", 1)[1].split(":", 1)[0]
    async with pool.acquire() as conn:
        role = await conn.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", app_role)
        assert role is not None and not role["rolsuper"] and not role["rolbypassrls"]
        tables = await _tenant_tables(pool)
        assert {"crm_leads", "crm_import_export_jobs", "crm_import_ledger", "crm_api_keys", "crm_schedules"} <= set(
            tables
        )
        for t in tables:
            rel = await conn.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) AS owner FROM pg_class "
                "WHERE oid = $1::regclass",
                t,
            )
            assert rel["relrowsecurity"] and rel["relforcerowsecurity"], t
            assert rel["owner"] != app_role, t


async def test_a_session_without_the_tenant_setting_sees_no_rows(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for company in (a, b):
        done = await run_import(write(tmp_path / f"{company}.csv", lead_rows(20, bad={4})), company=company)
        assert done["created_records"] == 19
    tables = await _tenant_tables(pool)
    conn = await asyncpg.connect(settings.dsn())  # the service's role, as the worker and API use it
    try:
        for t in tables:  # no tenant set: nothing visible, whatever the table holds
            assert await conn.fetchval(f"SELECT count(*) FROM {t}") == 0, t
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                "INSERT INTO crm_leads (id, company_id, first_name, last_name) VALUES ($1, $2, 'x', 'y')",
                uuid.uuid4(),
                uuid.UUID(a),
            )
        async with conn.transaction():
            await set_tenant(conn, a)
            assert await conn.fetchval("SELECT count(*) FROM crm_leads") == 19
            assert await conn.fetchval("SELECT count(DISTINCT company_id) FROM crm_import_export_jobs") == 1
            # Even a query without its company predicate sees one company only...
            assert await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", uuid.UUID(b)) == 0
            # ...and cannot write into another.
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute("UPDATE crm_leads SET company_id = $1", uuid.UUID(b))
        async with conn.transaction():
            await set_tenant(conn, b)
            assert await conn.fetchval("SELECT count(*) FROM crm_leads") == 19
        assert await conn.fetchval("SELECT count(*) FROM crm_leads") == 0  # the setting ended with its transaction
    finally:
        await conn.close()


async def test_every_cli_command_refuses_another_companys_ids(
    settings: Settings, run_import: Any, tmp_path: Path
) -> None:
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    job = await run_import(write(tmp_path / "o.csv", lead_rows(10, bad={2})), company=owner)
    template = orjson.loads(
        crmio(
            settings,
            "templates",
            "create",
            "--company",
            owner,
            "--name",
            "t",
            "--model",
            "lead",
            "--type",
            "import",
            "--json",
        ).stdout
    )
    schedule = orjson.loads(
        crmio(
            settings,
            "schedules",
            "create",
            "--company",
            owner,
            "--name",
            "s",
            "--cron",
            "0 3 * * *",
            "--job",
            '{"job_type": "export", "target_model": "lead"}',
        ).stdout
    )
    commands = [
        ("status", job["id"]),
        ("logs", job["id"]),
        ("jobs", "cancel", job["id"]),
        ("rollback", job["id"]),
        ("retry", job["id"]),
        ("templates", "show", template["id"]),
        ("templates", "deactivate", template["id"]),
        ("schedules", "pause", schedule["id"]),
        ("schedules", "resume", schedule["id"]),
        ("schedules", "delete", schedule["id"]),
    ]
    for args in commands:
        done = crmio(settings, *args, "--company", other)
        assert done.returncode == 2 and "no " in done.stderr, (args, done.returncode, done.stderr)
    listed = orjson.loads(crmio(settings, "jobs", "--company", other, "--json").stdout)
    assert listed["total"] == 0
    assert orjson.loads(crmio(settings, "schedules", "list", "--company", other, "--json").stdout) == []
    # The owner still sees everything of its own.
    assert crmio(settings, "status", job["id"], "--company", owner).returncode == 0
    assert crmio(settings, "schedules", "delete", schedule["id"], "--company", owner).returncode == 0
