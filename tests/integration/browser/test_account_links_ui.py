"""Contacts with their companies in Chromium (issue 18): the wizard's mapping step offers the contact's account
fields, suggests "Company Domain" for the account's website without choosing it, and once a column goes to the
account shows how each contact finds its account; the import links every contact."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.browser.conftest import shot, sign_in, through_values
from tests.integration.test_api import Company

pytestmark = pytest.mark.integration


async def test_the_wizard_links_each_contact_to_its_account_created_from_the_file(
    page: Any, company: Company, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    source = tmp_path / "contacts.csv"
    rows = [f"P{i},Q{i},p{i}@people.example,Firm {i % 3},firm{i % 3}.example" for i in range(9)]
    source.write_text("First Name,Last Name,Email,Company Name,Company Domain\n" + "\n".join(rows) + "\n")
    await sign_in(page, company.admin)
    await page.get_by_label("Choose a file").set_input_files(str(source))
    await page.get_by_test_id("detected").wait_for()
    await page.get_by_role("button", name="Next: Configuration").click()
    await page.get_by_role("heading", name="2. Configuration").wait_for()
    await page.get_by_label("Import into").select_option("contact")

    domain = page.locator('select.map-target[data-column="Company Domain"]')
    await page.wait_for_function(
        """() => [...document.querySelectorAll('select.map-target[data-column="Company Domain"] option')]
                 .some((o) => o.value === "account.website" && o.textContent.includes("suggested"))"""
    )
    assert await domain.input_value() == ""  # suggested, not chosen: a person decides to link accounts
    accounts = page.get_by_test_id("account-links")
    assert await accounts.is_hidden()
    await domain.select_option("account.website")
    await page.locator('select.map-target[data-column="Company Name"]').select_option("account.name")
    await accounts.wait_for()
    await page.get_by_label("Find each contact's account by").select_option("domain")
    await accounts.get_by_label("Create it").check()
    await shot(page, "03-import-contacts-with-accounts")

    await page.get_by_role("button", name="Next: Values").click()
    await through_values(page)
    await page.get_by_role("button", name="Run validation").click()
    await page.get_by_test_id("validation-summary").wait_for(timeout=120_000)
    await page.get_by_role("button", name="Import 9 rows").click()
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)

    async with pool.acquire() as conn:
        company_id = uuid.UUID(company.id)
        firms = await conn.fetch("SELECT id, name, website FROM crm_accounts WHERE company_id = $1", company_id)
        people = await conn.fetch(
            "SELECT email, account, account_id FROM crm_contacts WHERE company_id = $1", company_id
        )
        job = await conn.fetchrow(
            "SELECT options FROM crm_import_export_jobs WHERE company_id = $1 AND job_type = 'import' "
            "AND NOT coalesce((options->>'dry_run')::boolean, false)",
            company_id,
        )
    assert sorted(f["name"] for f in firms) == ["Firm 0", "Firm 1", "Firm 2"]
    by_id = {f["id"]: f["name"] for f in firms}
    assert len(people) == 9
    for p in people:
        i = int(p["email"][1 : p["email"].index("@")])
        assert by_id[p["account_id"]] == p["account"] == f"Firm {i % 3}"
    assert job["options"]["account_match"] == "domain"
