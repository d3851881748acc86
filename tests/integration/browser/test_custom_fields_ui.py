"""Custom fields in Chromium (issue 18): a column with nowhere to go becomes a field of the company's own from the
wizard's mapping step, the import stores its values, and the Fields page lists, retires and restores it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.browser.conftest import shot, sign_in, through_values
from tests.integration.test_api import Company

pytestmark = pytest.mark.integration


async def test_a_custom_field_is_created_from_the_mapping_step_and_listed_on_the_fields_page(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    source = tmp_path / "deals.csv"
    rows = [f"First{i},Last{i},deal{i}@example.com,{['Gold', 'Silver', 'Bronze'][i % 3]}" for i in range(12)]
    source.write_text("First Name,Last Name,E-mail,Support Tier\n" + "\n".join(rows) + "\n")
    await sign_in(page, company.admin)
    await page.get_by_label("Choose a file").set_input_files(str(source))
    await page.get_by_test_id("detected").wait_for()
    await page.get_by_role("button", name="Next: Configuration").click()
    await page.get_by_role("heading", name="2. Configuration").wait_for()

    # "Support Tier" matches no field: the admin makes one for it, a choice field with the column's values.
    stage = page.locator('select.map-target[data-column="Support Tier"]')
    assert await stage.input_value() == ""
    await page.get_by_role("button", name="Create a custom field for Support Tier").click()
    form = page.get_by_test_id("cf-3-form")
    assert await form.get_by_label("Label").input_value() == "Support Tier"
    await form.get_by_label("Type").select_option("choice")
    choices = form.get_by_label("Choices (comma-separated)")
    assert set((await choices.input_value()).split(", ")) == {"Gold", "Silver", "Bronze"}
    await shot(page, "02-import-create-custom-field")
    await form.get_by_role("button", name="Create field").click()
    await page.get_by_text("Created the field “Support Tier” (support_tier).").wait_for()
    await page.wait_for_function(
        """() => document.querySelector('select.map-target[data-column="Support Tier"]').value === "support_tier" """
    )
    fields = (await api.get("/api/v1/fields", headers=company.auth())).json()["items"]
    assert [(f["name"], f["field_type"], [c["value"] for c in f["choices"]]) for f in fields] == [
        ("support_tier", "choice", ["gold", "silver", "bronze"])
    ]

    await page.get_by_role("button", name="Next: Values").click()
    await through_values(page)
    await page.get_by_role("button", name="Run validation").click()
    await page.get_by_test_id("validation-summary").wait_for(timeout=120_000)
    await page.get_by_role("button", name="Import 12 rows").click()
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    async with pool.acquire() as conn:
        stored = await conn.fetch(
            "SELECT custom->>'support_tier' AS stage FROM crm_leads WHERE company_id = $1", uuid.UUID(company.id)
        )
    assert sorted(r["stage"] for r in stored) == ["bronze"] * 4 + ["gold"] * 4 + ["silver"] * 4

    # The Fields page lists it; retiring it keeps the values.
    await page.get_by_role("link", name="Fields").click()
    await page.get_by_role("heading", name="Custom fields").wait_for()
    row = page.get_by_test_id("fields").locator('tr[data-field="support_tier"]')
    await row.wait_for()
    assert "Gold, Silver, Bronze" in await row.inner_text()
    await shot(page, "09-custom-fields")
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Retire Support Tier").click()
    await page.get_by_text("Retired “Support Tier”.").wait_for()
    await page.get_by_text("No custom fields yet.").wait_for()
    assert (await api.get("/api/v1/fields", headers=company.auth())).json()["items"] == []
    async with pool.acquire() as conn:
        kept = await conn.fetchval(
            "SELECT count(*) FROM crm_leads WHERE company_id = $1 AND custom ? 'support_tier'", uuid.UUID(company.id)
        )
    assert kept == 12

    # Shown again with the retired ones, it is restored from its row.
    await page.get_by_label("Show retired fields").check()
    row = page.get_by_test_id("fields").locator('tr[data-field="support_tier"]')
    await row.get_by_role("button", name="Restore Support Tier").click()
    await page.get_by_text("Restored “Support Tier”, with the values records kept.").wait_for()
    [field] = (await api.get("/api/v1/fields", headers=company.auth())).json()["items"]
    assert field["name"] == "support_tier" and not field["retired"]


async def test_a_member_sees_the_fields_read_only(page: Any, company: Company, api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/api/v1/fields",
        headers=company.auth(),
        json={"target_model": "contact", "label": "Region", "field_type": "text"},
    )
    assert r.status_code == 201, r.text
    await sign_in(page, company.member)
    await page.goto("/#/fields")
    await page.get_by_test_id("read-only").wait_for()
    await page.get_by_test_id("fields").locator('tr[data-field="region"]').wait_for()
    assert await page.get_by_role("button", name="Create field").count() == 0
    assert await page.get_by_role("button", name="Retire Region").count() == 0
