"""The template library in Chromium: create a template with a mapping and validation rules, search, edit, use it in
an import (the job gets the template's mapping and rules), deactivate it; checked against the API and the database."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from tests.integration.browser.conftest import shot, sign_in, through_values
from tests.integration.test_api import Company, leads_csv

pytestmark = pytest.mark.integration


async def templates(api: httpx.AsyncClient, company: Company) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/templates", headers=company.auth(), params={"limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def fill_mapping(page: Any, n: int, column: str, target: str) -> None:
    await page.get_by_label(f"Mapping {n}: column in the file").fill(column)
    await page.get_by_label(f"Mapping {n}: field").select_option(target)


async def test_create_search_edit_use_and_deactivate_a_template(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await sign_in(page, company.admin)
    await page.get_by_role("link", name="Templates").click()
    await page.get_by_test_id("no-templates").wait_for()

    # Create: a mapping of three columns and a rule (first names of at most 6 characters).
    await page.get_by_role("link", name="+ New template").click()
    await page.get_by_role("heading", name="New template").wait_for()
    await page.get_by_label("Name", exact=True).fill("Trade fair leads")
    await fill_mapping(page, 1, "Vorname", "first_name")
    for n, (column, target) in enumerate((("Nachname", "last_name"), ("Mail", "email")), start=2):
        await page.get_by_role("button", name="+ Add a mapping").click()
        await fill_mapping(page, n, column, target)
    await page.get_by_role("button", name="+ Add a rule").click()
    await page.get_by_label("Field of rule 1").select_option("first_name")
    await page.get_by_label("Rule 1", exact=True).select_option("max_length")
    await page.get_by_label("Value of rule 1").fill("6")
    await shot(page, "10-template-edit")
    await page.get_by_role("button", name="Create template").click()
    table = page.get_by_test_id("templates")
    await table.locator('tr[data-name="Trade fair leads"]').wait_for()
    (created,) = await templates(api, company)
    assert created["field_mapping"] == {"Vorname": "first_name", "Nachname": "last_name", "Mail": "email"}
    assert created["validation_rules"] == {"first_name": {"max_length": 6}}
    assert created["template_type"] == "import" and created["is_active"] is True

    # A second one, so that search has something to leave out.
    assert (
        await api.post(
            "/api/v1/templates",
            headers=company.auth(),
            json={
                "template_name": "Accounts from ERP",
                "target_model": "account",
                "template_type": "import",
                "field_mapping": {"Firma": "name"},
            },
        )
    ).status_code == 201
    await page.get_by_label("Search by name").fill("fair")
    await page.get_by_text("1 template", exact=True).wait_for()
    await page.get_by_label("Search by name").fill("")
    await page.get_by_text("2 templates", exact=True).wait_for()
    await page.get_by_label("Search by name").fill("no such thing")
    await page.get_by_test_id("no-templates").wait_for()
    await page.get_by_label("Search by name").fill("FAIR")
    await page.get_by_text("1 template", exact=True).wait_for()
    await shot(page, "10-template-library")

    # Edit: the source column is added and the rule changed to a pattern.
    await page.get_by_role("link", name="Edit Trade fair leads").click()
    await page.get_by_role("heading", name="Edit template").wait_for()
    await page.get_by_role("button", name="+ Add a mapping").click()
    await fill_mapping(page, 4, "Quelle", "lead_source")
    await page.get_by_label("Rule 1", exact=True).select_option("regex")
    await page.get_by_label("Value of rule 1").fill("First[0-9]+")
    await page.get_by_role("button", name="Save changes").click()
    await table.wait_for()
    (edited,) = [t for t in await templates(api, company) if t["id"] == created["id"]]
    assert edited["field_mapping"]["Quelle"] == "lead_source"
    assert edited["validation_rules"] == {"first_name": {"regex": "First[0-9]+"}}

    # A rule the API refuses: its message is shown and nothing changes.
    await page.get_by_role("link", name="Edit Trade fair leads").click()
    await page.get_by_label("Field of rule 1").select_option("email")
    await page.get_by_label("Rule 1", exact=True).select_option("min")
    await page.get_by_label("Value of rule 1").fill("3")
    await page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert").filter(has_text="What to do")
    await alert.wait_for()
    assert "applies to number and date fields" in await alert.inner_text()
    await page.get_by_role("link", name="← All templates").click()

    # Use it in an import: the wizard takes its model, mapping and rules.
    await page.get_by_role("link", name="Use Trade fair leads in an import").click()
    await page.get_by_text("Using the template “Trade fair leads” (lead)").wait_for()
    source = tmp_path / "fair.csv"
    source.write_bytes(leads_csv(30, bad_every=0))
    await page.get_by_label("Choose a file").set_input_files(str(source))
    await page.get_by_role("button", name="Next: Configuration").click()
    await page.get_by_role("heading", name="2. Configuration").wait_for()
    await expect(page.get_by_label("Template", exact=True)).to_have_value(created["id"])  # the picker loads its list
    for column, target in (
        ("Vorname", "first_name"),
        ("Nachname", "last_name"),
        ("Mail", "email"),
        ("Quelle", "lead_source"),
        ("Umsatz", ""),
    ):
        assert await page.locator(f'select.map-target[data-column="{column}"]').input_value() == target, column
    assert await page.get_by_label("Value of rule 1").input_value() == "First[0-9]+"
    await page.get_by_test_id("preview").wait_for()
    await page.get_by_role("button", name="Next: Values").click()
    await through_values(page)
    await page.get_by_role("button", name="Skip validation and import").click()
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    assert "30 rows written (30 created" in await page.get_by_test_id("result-summary").inner_text()
    async with pool.acquire() as conn:
        job = await conn.fetchrow(
            "SELECT field_mapping, validation_rules FROM crm_import_export_jobs "
            "WHERE company_id = $1 AND job_type = 'import'",
            uuid.UUID(company.id),
        )
        stored = await conn.fetchval(
            "SELECT count(*) FROM crm_leads WHERE company_id = $1 AND lead_source = 'web'", uuid.UUID(company.id)
        )
    assert dict(job["field_mapping"]) == edited["field_mapping"]
    assert dict(job["validation_rules"]) == edited["validation_rules"]
    assert stored == 30

    # Deactivate: the API says inactive, the active list leaves it out, the import wizard no longer offers it.
    await page.get_by_role("link", name="Templates").click()
    row = page.get_by_test_id("templates").locator('tr[data-name="Trade fair leads"]')
    await row.get_by_role("button", name="Deactivate").click()
    await page.get_by_text("1 template", exact=True).wait_for()
    assert await page.get_by_test_id("templates").locator('tr[data-name="Trade fair leads"]').count() == 0
    (gone,) = [t for t in await templates(api, company) if t["id"] == created["id"]]
    assert gone["is_active"] is False
    await page.get_by_label("Status").select_option("")
    await row.get_by_text("inactive").wait_for()
    assert await row.get_by_role("link", name="Use Trade fair leads in an import").count() == 0
    await shot(page, "11-template-deactivated")
