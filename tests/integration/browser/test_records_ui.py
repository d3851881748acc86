"""The records pages in Chromium: contacts imported with their companies through the API are listed and searched,
a contact's page shows its fields (a custom one under its label) and links to its account, whose page lists it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.browser.conftest import shot, sign_in
from tests.integration.test_account_links import import_file
from tests.integration.test_api import Company

pytestmark = pytest.mark.integration

CONTACTS = (
    "Email,First,Last,Company,Domain,Seats\r\n"
    "ada@analytical.example,Ada,Lovelace,Analytical Engines,analytical.example,12\r\n"
    "charles@analytical.example,Charles,Babbage,Analytical Engines,analytical.example,3\r\n"
    "grace@navy.example,Grace,Hopper,US Navy,navy.example,\r\n"
)
MAPPING = {
    "Email": "email",
    "First": "first_name",
    "Last": "last_name",
    "Company": "account.name",
    "Domain": "account.website",
    "Seats": "seats",
}


async def test_a_contact_found_in_records_links_to_its_account_which_lists_it(
    page: Any, company: Company, api: httpx.AsyncClient
) -> None:
    r = await api.post(
        "/api/v1/fields",
        headers=company.auth(),
        json={"target_model": "contact", "label": "Seats", "field_type": "number"},
    )
    assert r.status_code == 201, r.text
    await import_file(api, company, CONTACTS.encode(), MAPPING)

    await sign_in(page, company.member)
    await page.get_by_role("link", name="Records").click()
    await page.get_by_role("heading", name="Records").wait_for()
    assert await page.get_by_label("Records", exact=True).input_value() == "contact"
    rows = page.get_by_test_id("records").locator("tbody tr[data-record]")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=records] tbody tr[data-record]').length === 3"
    )

    await page.get_by_label("Search").fill("lovelace")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=records] tbody tr[data-record]').length === 1"
    )
    assert "Analytical Engines" in await rows.first.inner_text()
    assert await page.get_by_role("status").filter(has_text="shown").inner_text() == "Contacts shown: 1"
    await shot(page, "10-records-search")

    await rows.first.get_by_role("link", name="Ada Lovelace").click()
    heading = page.get_by_role("heading", name="Ada Lovelace", level=1)
    await heading.wait_for()
    assert await page.evaluate("() => document.activeElement.tagName") == "H1"  # focus moves to the new page's heading
    fields = page.get_by_test_id("record-fields")
    assert await fields.locator('dt[data-field="seats"]').inner_text() == "Seats (custom)"
    assert await fields.locator('dd[data-field="seats"]').inner_text() == "12"
    assert await fields.locator('dd[data-field="email"]').inner_text() == "ada@analytical.example"
    account_link = page.get_by_test_id("record-account").get_by_role("link", name="Analytical Engines")
    await account_link.wait_for()
    await shot(page, "10-record-account-link")

    await account_link.click()
    await page.get_by_role("heading", name="Analytical Engines", level=1).wait_for()
    await page.get_by_role("heading", name="Contacts (2)").wait_for()
    listed = page.get_by_test_id("account-contacts").get_by_role("link")
    assert await listed.all_inner_texts() == ["Charles Babbage", "Ada Lovelace"]
    await listed.last.click()
    await heading.wait_for()
    # Back to the list: it keeps the search it came from.
    await page.get_by_role("link", name="← All contacts").click()
    await page.get_by_role("heading", name="Records").wait_for()
    assert await page.get_by_label("Search").input_value() == "lovelace"
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=records] tbody tr[data-record]').length === 1"
    )
