"""Dates known only to the year or the month, end to end on the real broker and database: an accounts
file with years ("Founded" 1990), months and full dates imports every row (create and update mode),
the records hold the first day of the period and its precision, exports write "1990" / "2024-03",
and rolling back an update restores the old dates and their precision."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import openpyxl
import orjson
import pytest

from services.core import storage
from services.core.settings import Settings
from services.exports import submit_export
from tests.integration.conftest import wait_for_job
from tests.integration.test_cli import crmio

pytestmark = pytest.mark.integration

FIRST = (
    "Name,Website,Founded\n"
    "Acme,acme.example,1990\n"
    "Beta,beta.example,2024-03\n"
    "Gamma,gamma.example,2021-06-15\n"
    "Delta,delta.example,45292\n"
    "Epsilon,epsilon.example,March 2024\n"
    "Zeta,zeta.example,03/2019\n"
    "Eta,eta.example,\n"
)
# Update mode: a full date replaces a year, a year replaces a month, a month replaces a full date,
# an empty cell keeps a month, a month replaces a month.
SECOND = (
    "Name,Website,Founded\n"
    "Acme,acme.example,2001-02-03\n"
    "Beta,beta.example,1999\n"
    "Gamma,gamma.example,May 2020\n"
    "Zeta,zeta.example,\n"
    "Epsilon,epsilon.example,2020/11\n"
)
AFTER_FIRST = {
    "Acme": (dt.date(1990, 1, 1), {"founded_date": "year"}),
    "Beta": (dt.date(2024, 3, 1), {"founded_date": "month"}),
    "Gamma": (dt.date(2021, 6, 15), None),
    "Delta": (dt.date(2024, 1, 1), None),  # an Excel serial is a full date
    "Epsilon": (dt.date(2024, 3, 1), {"founded_date": "month"}),
    "Zeta": (dt.date(2019, 3, 1), {"founded_date": "month"}),
    "Eta": (None, None),
}
AFTER_SECOND = {
    **AFTER_FIRST,
    "Acme": (dt.date(2001, 2, 3), None),
    "Beta": (dt.date(1999, 1, 1), {"founded_date": "year"}),
    "Gamma": (dt.date(2020, 5, 1), {"founded_date": "month"}),
    "Epsilon": (dt.date(2020, 11, 1), {"founded_date": "month"}),
}
EXPORTED_FIRST = {
    "Acme": "1990",
    "Beta": "2024-03",
    "Gamma": "2021-06-15",
    "Delta": "2024-01-01",
    "Epsilon": "2024-03",
    "Zeta": "2019-03",
    "Eta": None,
}


async def accounts(pool: asyncpg.Pool, company: str) -> dict[str, tuple[Any, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT name, founded_date, date_precision FROM crm_accounts WHERE company_id = $1", company
        )
    return {r["name"]: (r["founded_date"], r["date_precision"]) for r in rows}


async def export(
    settings: Settings, pool: asyncpg.Pool, producer: Any, company: str, fmt: str
) -> dict[str, str | None]:
    job = await submit_export(
        settings,
        pool,
        producer,
        company_id=company,
        model="account",
        fields=["name", "founded_date"],
        filters=None,
        sort=["name"],
        file_format=fmt,
    )
    done = await wait_for_job(pool, company, job["id"], timeout_s=120)
    assert done["job_status"] == "completed", done
    path = storage.resolve(settings.storage_dir, company, done["file_path"])
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            header, *rows = list(csv.reader(f))
        assert header == ["name", "founded_date"]
        return {name: founded or None for name, founded in rows}
    if fmt == "json":
        return {d["name"]: d["founded_date"] for d in orjson.loads(path.read_bytes())}
    wb = openpyxl.load_workbook(path, read_only=True)
    header, *rows = [list(r) for r in wb.active.iter_rows(values_only=True)]
    wb.close()
    assert header == ["name", "founded_date"]
    return {name: founded for name, founded in rows}


async def test_years_and_months_import_export_update_and_roll_back(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    (tmp_path / "first.csv").write_text(FIRST, encoding="utf-8")
    job = await run_import(tmp_path / "first.csv", company=company, model="account")
    assert job["job_status"] == "completed", job
    assert (job["created_records"], job["error_records"], job["warning_records"]) == (7, 0, 0), job
    assert await accounts(pool, company) == AFTER_FIRST

    # Every export path: COPY csv, COPY json, and the cursor the XLSX writer reads.
    for fmt in ("csv", "json", "excel"):
        assert await export(settings, pool, kafka_producer, company, fmt) == EXPORTED_FIRST, fmt

    (tmp_path / "second.csv").write_text(SECOND, encoding="utf-8")
    update = await run_import(tmp_path / "second.csv", company=company, model="account", duplicates="update")
    assert update["job_status"] == "completed", update
    assert (update["updated_records"], update["error_records"]) == (5, 0), update
    assert await accounts(pool, company) == AFTER_SECOND
    assert (await export(settings, pool, kafka_producer, company, "csv"))["Beta"] == "1999"

    done = crmio(settings, "rollback", update["id"], "--company", company, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    rb = orjson.loads(done.stdout)
    assert rb["job_status"] == "completed" and (rb["success_records"], rb["error_records"]) == (5, 0), rb
    assert await accounts(pool, company) == AFTER_FIRST  # dates and their precision as before the update
    assert await export(settings, pool, kafka_producer, company, "json") == EXPORTED_FIRST
