"""The export builder in Chromium: fields in a chosen order, a filter with its live count, a sort, and a run with
download in each format (CSV, Excel, JSON, PDF); every file is read back and compared with the database."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.browser.conftest import shot, sign_in
from tests.integration.test_api import Company, upload, wait_final

pytestmark = pytest.mark.integration

STATUSES = ("new", "contacted", "qualified")


async def seed_leads(api: httpx.AsyncClient, company: Company, n: int) -> None:
    """n leads imported through the API: statuses cycle new / contacted / qualified."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["First Name", "Last Name", "Email", "Status", "City"])
    for i in range(1, n + 1):
        w.writerow(
            [f"Ada{i}", f"Byron{i:03d}", f"ada{i:03d}@example.com", STATUSES[i % 3], "Oslo" if i % 2 else "Bergen"]
        )
    up = await upload(api, company, "seed.csv", out.getvalue().encode())
    assert up.status_code == 201, up.text
    job = await api.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": up.json()["id"],
            "target_model": "lead",
            "mapping": {
                "First Name": "first_name",
                "Last Name": "last_name",
                "Email": "email",
                "Status": "status",
                "City": "city",
            },
        },
    )
    assert job.status_code == 201, job.text
    assert (await wait_final(api, company, job.json()["id"]))["success_records"] == n


async def expected_rows(pool: asyncpg.Pool, company: Company) -> list[tuple[str, str, str]]:
    """(email, last_name, city) of the qualified leads, by email descending: what every export must hold."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT email, last_name, city FROM crm_leads WHERE company_id = $1 AND status = 'qualified' ORDER BY email DESC",
            uuid.UUID(company.id),
        )
    return [(r["email"], r["last_name"], r["city"]) for r in rows]


async def test_export_each_format_with_fields_filter_and_sort(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await seed_leads(api, company, 45)
    want = await expected_rows(pool, company)
    assert len(want) == 15

    await sign_in(page, company.member)  # exports need no admin key
    await page.get_by_role("link", name="Export", exact=True).click()
    await page.get_by_role("heading", name="Export records").wait_for()
    count = page.get_by_test_id("match-count")
    await count.get_by_text("45 matching records").wait_for()

    # Fields: only email, last name and city, email moved before last name.
    await page.get_by_role("button", name="Select none").click()
    assert await page.get_by_role("button", name="Run the export").is_disabled()
    for name in ("Last Name", "Email", "City"):
        await page.get_by_label(name, exact=True).check()
    await page.get_by_role("button", name="Move Email up").click()
    order = page.get_by_test_id("field-order")
    assert (await order.locator("li").nth(1).get_attribute("data-field")) == "email"
    assert await page.get_by_role("button", name="Move Email up").evaluate("el => el === document.activeElement")

    # A filter: the live count follows it (an incomplete filter is left out and blocks the run).
    await page.get_by_role("button", name="+ Add a filter").click()
    await page.get_by_label("Filter 1: field").select_option("status")
    await page.get_by_label("Filter 1: condition").select_option("in")
    assert await page.get_by_role("button", name="Run the export").is_disabled()
    assert "Enter a value for filter 1" in await page.locator("#run-hint").inner_text()
    await page.get_by_label("Filter 1: values, separated by commas").fill("qualified, contacted")
    await count.get_by_text("30 matching records").wait_for()
    await page.get_by_label("Filter 1: condition").select_option("eq")
    await page.get_by_label("Filter 1: value").select_option("qualified")
    await count.get_by_text("15 matching records").wait_for()
    assert await count.get_attribute("data-count") == "15"

    # A filter the API refuses shows its message and what to do, and the count says it cannot count.
    await page.get_by_role("button", name="+ Add a filter").click()
    await page.get_by_label("Filter 2: field").select_option("number_of_employees")
    await page.get_by_label("Filter 2: condition").select_option("eq")
    await page.get_by_label("Filter 2: value").fill("1e99")
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "number_of_employees" in await alert.inner_text() and "What to do" in await alert.inner_text()
    await page.get_by_role("button", name="Remove filter 2").click()
    await count.get_by_text("15 matching records").wait_for()

    await page.get_by_role("button", name="+ Add a sort key").click()
    await page.get_by_label("Sort 1: field").select_option("email")
    await page.get_by_label("Sort 1: direction").select_option("desc")
    await shot(page, "06-export-builder")

    for fmt, label in (("csv", "CSV"), ("excel", "Excel (.xlsx)"), ("json", "JSON"), ("pdf", "PDF")):
        await page.get_by_label(label, exact=False).first.check()
        await page.get_by_role("button", name="Run the export").click()
        done = page.get_by_test_id("export-done")
        button = page.get_by_role("button", name=f"Download the {fmt.upper()} file")
        await button.wait_for(timeout=120_000)
        assert "15 records exported" in await done.inner_text()
        job_id = await button.get_attribute("data-job")
        job = (await api.get(f"/api/v1/jobs/{job_id}", headers=company.auth())).json()
        assert job["job_status"] == "completed" and job["file_format"] == fmt
        assert job["options"]["fields"] == ["email", "last_name", "city"] and job["options"]["sort"] == ["-email"]
        assert job["options"]["filters"] == [{"field": "status", "op": "eq", "value": "qualified"}]
        async with page.expect_download() as info:
            await button.click()
        dl = await info.value
        data = Path(await dl.path()).read_bytes()
        served = await api.get(f"/api/v1/jobs/{job_id}/download", headers=company.auth())
        assert data == served.content, fmt
        check_file(fmt, data, want)
        if fmt == "csv":
            await shot(page, "07-export-done")


def check_file(fmt: str, data: bytes, want: list[tuple[str, str, str]]) -> None:
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0] == ["email", "last_name", "city"]
        assert [tuple(r) for r in rows[1:]] == want
    elif fmt == "excel":
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        try:
            rows = [
                tuple(c if c is not None else "" for c in r) for r in book.worksheets[0].iter_rows(values_only=True)
            ]
        finally:
            book.close()
        assert rows[0] == ("email", "last_name", "city") and rows[1:] == want
    elif fmt == "json":
        records = json.loads(data)
        assert [list(r) for r in records[:1]] == [["email", "last_name", "city"]]
        assert [(r["email"], r["last_name"], r["city"]) for r in records] == want
    else:
        from pypdf import PdfReader

        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        assert data.startswith(b"%PDF")
        for email, _, _ in want:
            assert email in text
        assert "ada001@example.com" not in text  # status contacted: filtered out
