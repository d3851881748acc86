"""The import wizard in Chromium, end to end: a CSV and an XLSX file through all five steps, checked against the
database and the API (a mapping change, a dry run that finds errors, the import, the error report)."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.browser.conftest import shot, sign_in, through_values
from tests.integration.test_api import Company, leads_csv

pytestmark = pytest.mark.integration


async def count(pool: asyncpg.Pool, table: str, company: Company) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(f"SELECT count(*) FROM {table} WHERE company_id = $1", uuid.UUID(company.id))


async def jobs_of(api: httpx.AsyncClient, company: Company) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/jobs", headers=company.auth(), params={"limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def map_column(page: Any, column: str, target: str) -> None:
    await page.locator(f'select.map-target[data-column="{column}"]').select_option(target)


async def read_download(page: Any, click: Any) -> tuple[str, bytes]:
    async with page.expect_download() as info:
        await click()
    dl = await info.value
    path = await dl.path()
    return dl.suggested_filename, Path(path).read_bytes()


async def run_validation(page: Any) -> None:
    await page.get_by_role("button", name="Run validation").click()
    await page.get_by_test_id("validation-summary").wait_for(timeout=120_000)


async def test_csv_wizard_maps_validates_imports_and_reports_errors(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # 100 leads under German headers that no suggestion maps fully; every 7th lacks a last name and has a bad email.
    source = tmp_path / "Messe Leads.csv"
    source.write_bytes(leads_csv(100, bad_every=7))
    await sign_in(page, company.admin)

    # 1. File Selection: the picker, the upload's progress, what was detected.
    await page.get_by_role("heading", name="1. File Selection").wait_for()
    await page.get_by_label("Choose a file").set_input_files(str(source))
    detected = page.get_by_test_id("detected")
    await detected.wait_for()
    assert "Uploaded Messe Leads.csv" in await page.get_by_test_id("upload-progress-text").inner_text()
    assert await page.get_by_role("progressbar", name="Upload progress").get_attribute("value") == "100"
    assert await detected.locator('[data-fact="format"]').inner_text() == "CSV (decided by the file's content)"
    assert await detected.locator('[data-fact="delimiter"]').inner_text() == "comma ( , )"
    assert await detected.locator('[data-fact="rows"]').inner_text() == "100"
    await shot(page, "01-import-file-csv")
    await page.get_by_role("button", name="Next: Configuration").click()

    # 2. Configuration: required fields are marked until mapped, and Next waits for them.
    await page.get_by_role("heading", name="2. Configuration").wait_for()
    assert await page.get_by_label("Import into").input_value() == "lead"
    required = page.get_by_test_id("required-fields")
    # German header words are suggested now (Vorname -> first_name); the column is taken off to see the check.
    await page.get_by_test_id("preview").wait_for()
    await map_column(page, "Vorname", "")
    await required.locator('li.missing[data-field="first_name"]').wait_for()
    next_button = page.get_by_role("button", name="Next: Values")
    assert await next_button.is_disabled()
    assert "Map the required fields first" in await page.locator("#next-hint").inner_text()
    preview = page.locator(".preview")
    await preview.get_by_role("alert").wait_for()  # the preview says which fields are missing
    assert "first_name" in await preview.inner_text()
    await shot(page, "02-import-mapping-incomplete")
    # An update needs it only for rows that create a record: Next is open, the field marked so; back to skip, not.
    await page.get_by_label("Update").check()
    await required.locator('li.optional[data-field="first_name"]').wait_for()
    assert await next_button.is_enabled()
    assert "only rows that create a record need" in await page.locator("#next-hint").inner_text()
    await page.get_by_test_id("preview").wait_for()  # the preview takes the partial mapping
    await page.get_by_label("Skip").check()
    await required.locator('li.missing[data-field="first_name"]').wait_for()
    assert await next_button.is_disabled()

    # The mapping changed by hand: every German header chosen, "Mail" kept from its suggestion.
    assert await page.locator('select.map-target[data-column="Mail"]').input_value() == "email"
    await map_column(page, "Vorname", "first_name")
    await map_column(page, "Nachname", "last_name")
    await map_column(page, "Quelle", "lead_source")
    await map_column(page, "Umsatz", "annual_revenue")
    await required.locator('li.ok[data-field="last_name"]').wait_for()
    assert await required.locator("li.missing").count() == 0
    assert await next_button.is_enabled()
    # The live preview: row 7 is bad, with the error in its cells; the others are cleaned (revenue as a number).
    table = page.get_by_test_id("preview")
    await table.locator('tr[data-record="7"].invalid').wait_for()
    bad_cell = table.locator('tr[data-record="7"] td.cell-error[data-field="last_name"]')
    assert "last_name is required" in await bad_cell.inner_text()
    assert await table.locator('tr[data-record="1"] td[data-field="annual_revenue"]').inner_text() == "1200.50"
    assert await table.locator('tr[data-record="1"] td[data-field="lead_source"]').inner_text() == "web"
    await shot(page, "02-import-mapping")
    # Usable from 1024 px: nothing but the wide tables' own scroll areas is wider than the window.
    await page.set_viewport_size({"width": 1024, "height": 900})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024
    await shot(page, "02-import-mapping-1024px")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # Save the mapping as a template: the API has it, the picker shows it.
    await page.get_by_label("Template name").fill("Messe leads")
    await page.get_by_role("button", name="Save as template").click()
    await page.get_by_text("Saved the template “Messe leads”.").wait_for()
    templates = (await api.get("/api/v1/templates", headers=company.auth())).json()["items"]
    assert [(t["template_name"], t["field_mapping"]) for t in templates] == [
        (
            "Messe leads",
            {
                "Vorname": "first_name",
                "Nachname": "last_name",
                "Mail": "email",
                "Quelle": "lead_source",
                "Umsatz": "annual_revenue",
            },
        )
    ]
    assert await page.get_by_label("Template", exact=True).input_value() == templates[0]["id"]
    await next_button.click()
    await through_values(page)

    # 3. Validation: a dry run over every row finds the 14 bad rows, counted per field, paged with hints.
    await page.get_by_role("heading", name="4. Validation").wait_for()
    await run_validation(page)
    summary = await page.get_by_test_id("validation-summary").inner_text()
    assert "100 rows checked: 86 valid, 14 with errors" in summary
    per_field = page.get_by_test_id("errors-per-field")
    await per_field.wait_for()
    assert await per_field.locator('tr[data-field="last_name"] td.num').inner_text() == "14"
    assert await per_field.locator('tr[data-field="email"] td.num').inner_text() == "14"
    bad_rows = page.get_by_test_id("bad-rows")
    await bad_rows.wait_for()
    assert "Rows with errors: 1–10 of 14" in await bad_rows.locator("caption").inner_text()
    first_bad = bad_rows.locator('tr[data-record="7"]').first
    assert "fill in last_name in every row" in await first_bad.inner_text()
    await shot(page, "03-import-validation")
    await page.get_by_role("button", name="Next page").click()
    await bad_rows.locator("caption", has_text="11–14 of 14").wait_for()
    assert await count(pool, "crm_leads", company) == 0  # the dry run wrote nothing
    dry = [j for j in await jobs_of(api, company) if j["options"].get("dry_run")]
    assert len(dry) == 1 and dry[0]["error_records"] == 14 and dry[0]["job_status"] == "completed"

    # 4. Processing, then 5. Results (the job is short: the wizard moves on when its final event arrives).
    await page.get_by_role("button", name="Import the 86 valid rows").click()
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    await shot(page, "05-import-results")
    result = await page.get_by_test_id("result-summary").inner_text()
    assert "completed" in result and "86 rows written (86 created, 0 updated)" in result and "14 with errors" in result
    assert await count(pool, "crm_leads", company) == 86
    real = [j for j in await jobs_of(api, company) if not j["options"].get("dry_run")]
    assert len(real) == 1 and (real[0]["success_records"], real[0]["error_records"]) == (86, 14)
    assert real[0]["field_mapping"]["Quelle"] == "lead_source"

    # The error report: the same file the API serves, with the 14 failed rows and their reasons.
    name, data = await read_download(page, page.get_by_role("button", name="Download the error report (CSV)").click)
    assert name == "Messe Leads-errors.csv"
    served = await api.get(f"/api/v1/jobs/{real[0]['id']}/errors.csv", headers=company.auth())
    assert data == served.content
    table_rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table_rows[0][-1] == "error" and len(table_rows) == 15
    assert table_rows[1][0] == "First7" and "row 7" in table_rows[1][-1]

    # Next actions lead on: the job's page.
    await page.get_by_role("link", name="Open the job's page (logs, timings)").click()
    await page.get_by_test_id("job-details").wait_for()
    assert real[0]["id"] in await page.get_by_test_id("job-details").inner_text()


def contacts_workbook() -> bytes:
    """A workbook whose first sheet is notes and whose second holds contacts; every 5th birthday is not a date."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Exported from the trade fair app; the contacts are on the next sheet"])
    sheet = book.create_sheet("Kontakte")
    sheet.append(["First Name", "Last Name", "E-mail", "Geburtstag", "Company", "Abteilung"])
    for i in range(1, 31):
        birthday = "sometime in spring" if i % 5 == 0 else f"1990-01-{(i % 28) + 1:02d}"
        sheet.append([f"Ann{i}", f"Lee{i}", f"ann{i}@example.org", birthday, f"Firm {i % 4}", "Sales"])
    buf = io.BytesIO()
    book.save(buf)
    book.close()
    return buf.getvalue()


async def drop_file(page: Any, name: str, data: bytes, mime: str) -> None:
    """Drag and drop: a real File in a DataTransfer, dropped on the drop zone."""
    await page.get_by_test_id("dropzone").evaluate(
        """(zone, [name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            for (const type of ["dragenter", "dragover", "drop"]) {
              zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )


async def test_xlsx_wizard_with_drop_sheet_correction_and_update_mode(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await sign_in(page, company.admin)
    await page.get_by_role("heading", name="1. File Selection").wait_for()
    await drop_file(
        page,
        "fair contacts.xlsx",
        contacts_workbook(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    detected = page.get_by_test_id("detected")
    await detected.wait_for()
    assert (await detected.locator('[data-fact="sheet"]').inner_text()).startswith("Notes (2 sheets: Notes, Kontakte)")

    # The detected sheet is wrong: choose the contacts sheet and read the file again.
    await page.get_by_label("Sheet").select_option("Kontakte")
    await page.get_by_role("button", name="Read the file again").click()
    await detected.locator('[data-fact="sheet"]', has_text="Kontakte (").wait_for()
    assert await detected.locator('[data-fact="columns"]').inner_text() == "6"
    assert await detected.locator('[data-fact="rows"]').inner_text() == "30"
    await shot(page, "01-import-file-xlsx")
    await page.get_by_role("button", name="Next: Configuration").click()

    await page.get_by_role("heading", name="2. Configuration").wait_for()
    await page.get_by_label("Import into").select_option("contact")
    # Suggestions: the English headers are chosen; Company goes to account; German "Geburtstag" is a birthdate.
    assert await page.locator('select.map-target[data-column="E-mail"]').input_value() == "email"
    assert await page.locator('select.map-target[data-column="Geburtstag"]').input_value() == "birthdate"
    await map_column(page, "Geburtstag", "birthdate")
    await map_column(page, "Abteilung", "department")
    # Strict: a birthday that is not a date fails its row (without it, the value is left out with a warning).
    await page.get_by_label("Strict").check()
    await page.get_by_label("Update", exact=False).first.check()
    # The error policy control: limits only apply when stopping.
    await page.get_by_label("Stop", exact=False).first.check()
    assert await page.get_by_label("Stop after this many errors").is_enabled()
    await page.get_by_label("Continue", exact=False).first.check()
    assert await page.get_by_label("Stop after this many errors").is_disabled()
    table = page.get_by_test_id("preview")
    await table.locator('tr[data-record="5"] td.cell-error[data-field="birthdate"]').wait_for()
    assert "is not a date" in await table.locator('tr[data-record="5"] td[data-field="birthdate"]').inner_text()
    await shot(page, "02-import-mapping-xlsx")
    await page.get_by_role("button", name="Next: Values").click()
    await through_values(page)

    await run_validation(page)
    assert "30 rows checked: 24 valid, 6 with errors" in await page.get_by_test_id("validation-summary").inner_text()
    per_field = page.get_by_test_id("errors-per-field")
    assert await per_field.locator('tr[data-field="birthdate"] td.num').inner_text() == "6"
    assert await count(pool, "crm_contacts", company) == 0
    await page.get_by_role("button", name="Import the 24 valid rows").click()

    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    assert "24 rows written (24 created, 0 updated)" in await page.get_by_test_id("result-summary").inner_text()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT email, department, birthdate, account FROM crm_contacts WHERE company_id = $1 ORDER BY email",
            uuid.UUID(company.id),
        )
    first = {r["email"]: r for r in rows}["ann1@example.org"]
    assert len(rows) == 24 and first["department"] == "Sales" and first["account"] == "Firm 1"
    assert str(first["birthdate"]) == "1990-01-02"
    real = [j for j in await jobs_of(api, company) if not j["options"].get("dry_run")]
    assert real[0]["duplicate_handling"] == "update" and real[0]["options"]["sheet"] == "Kontakte"
    assert real[0]["options"]["strict"] is True
    name, data = await read_download(page, page.get_by_role("button", name="Download the error report (CSV)").click)
    assert name == "fair contacts-errors.csv"
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(lines) == 7 and all("birthdate" in line[-1] for line in lines[1:])
    await shot(page, "05-import-results-xlsx")


async def test_error_policies_all_or_nothing_and_stop(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    source = tmp_path / "policy.csv"
    source.write_bytes(leads_csv(100, bad_every=7))
    await sign_in(page, company.admin)

    async def configure(policy: str) -> None:
        await page.get_by_label("Choose a file").set_input_files(str(source))
        await page.get_by_role("button", name="Next: Configuration").click()
        for column, target in (("Vorname", "first_name"), ("Nachname", "last_name"), ("Mail", "email")):
            await map_column(page, column, target)
        await page.get_by_label(policy, exact=False).first.check()

    # All or nothing: 14 rows fail validation, so not one row is written.
    await configure("All or nothing")
    await page.get_by_role("button", name="Next: Values").click()
    await through_values(page)
    await page.get_by_role("button", name="Skip validation and import").click()
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    assert "failed" in await page.get_by_test_id("result-summary").inner_text()
    await shot(page, "05-import-results-all-or-nothing")
    (job,) = await jobs_of(api, company)
    assert job["job_status"] == "failed" and job["options"]["error_policy"]["mode"] == "all_or_nothing"
    assert await count(pool, "crm_leads", company) == 0

    # Stop: the limit is asked for before the import may start; the job stops at its limit of 2 failed rows.
    await page.get_by_role("button", name="Import another file").click()
    await configure("Stop")
    next_button = page.get_by_role("button", name="Next: Values")
    assert await next_button.is_disabled()
    assert "needs a number of errors or a percentage" in await page.locator("#next-hint").inner_text()
    await page.get_by_label("Stop after this many errors").fill("2")
    await next_button.click()
    await through_values(page)
    await page.get_by_role("button", name="Skip validation and import").click()
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    result = await page.get_by_test_id("result-summary").inner_text()
    stopped = [j for j in await jobs_of(api, company) if j["id"] != job["id"]]
    assert stopped[0]["job_status"] == "failed" and stopped[0]["error_records"] == 2
    assert stopped[0]["options"]["error_policy"] == {"mode": "stop", "max_errors": 2, "max_error_percent": None}
    assert "failed" in result and stopped[0]["message"] in await page.get_by_test_id("message").inner_text()
    written = await count(pool, "crm_leads", company)
    assert written == stopped[0]["created_records"] < 86 and f"{written} rows written" in result
    await shot(page, "05-import-results-stopped")
