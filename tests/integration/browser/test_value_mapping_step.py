"""The wizard's Values step and the Picklists page in Chromium: a lead file's Source words matched to the company's
picklist (known words, suggestions, an unknown word added to the picklist from the wizard, one left to the policy),
checked against the database and the API; then the Picklists page adds, edits, retires and restores values."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from tests.integration.browser.conftest import shot, sign_in
from tests.integration.test_api import Company

pytestmark = pytest.mark.integration

# (email, source word); the decisions the test makes are below.
ROWS = [
    ("ann@example.org", "Web"),
    ("bob@example.org", "Referral"),
    ("cid@example.org", "Google Ads"),
    ("dan@example.org", "google ads"),
    ("eve@example.org", "Website Form"),
    ("fay@example.org", "Podcast"),
    ("gus@example.org", "Podcast"),
    ("hal@example.org", "Fax"),
    ("ida@example.org", "Web"),
]
EXPECTED = {
    "Web": "web",
    "Referral": "referral",  # in the picklist
    "Google Ads": "advertisement",
    "google ads": "advertisement",  # the suggestion, taken
    "Website Form": "event",  # suggested web; the user chooses Event instead
    "Podcast": "podcast",  # added to the picklist from the wizard
    "Fax": None,  # unknown, left to the policy: left empty with a warning
}


def lead_file(path: Path) -> Path:
    lines = ["First Name,Last Name,Email,Source"]
    lines += [f"{e.split('@')[0].title()},Tester,{e},{word}" for e, word in ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def value_select(page: Any, word: str) -> Any:
    return page.locator(f'select.value-target[data-field="lead_source"][data-word="{word}"]')


async def test_values_step_maps_suggests_adds_to_picklist_and_imports(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    source = lead_file(tmp_path / "sources.csv")
    await sign_in(page, company.admin)
    await page.get_by_label("Choose a file").set_input_files(str(source))
    await page.get_by_test_id("detected").wait_for()
    await page.get_by_role("button", name="Next: Configuration").click()

    # 2. Configuration: the mapping, and Strict (left off: an unknown word is left out with a warning).
    await page.get_by_role("heading", name="2. Configuration").wait_for()
    for column, target in (
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Email", "email"),
        ("Source", "lead_source"),
    ):
        await page.locator(f'select.map-target[data-column="{column}"]').select_option(target)
    strict = page.get_by_label("Strict")
    assert not await strict.is_checked()
    assert "fails its row" in await page.locator("#strict-hint").inner_text()
    await page.get_by_test_id("preview").wait_for()
    await page.get_by_role("button", name="Next: Values").click()

    # 3. Values: every distinct word with its count, pre-set from the picklist or a sure suggestion.
    await page.get_by_role("heading", name="3. Values").wait_for()
    table = page.get_by_test_id("values-lead_source")
    await table.wait_for()
    assert "Lead Source" in await page.locator(".values-field h3").inner_text()
    podcast_row = table.locator('tr[data-word="Podcast"]')
    assert await podcast_row.locator("td.num").inner_text() == "2"
    assert await value_select(page, "Web").input_value() == "web"
    assert await value_select(page, "Referral").input_value() == "referral"
    assert await value_select(page, "Google Ads").input_value() == "advertisement"
    assert "contains 'ads'" in await table.locator('tr[data-word="Google Ads"] td.reason').inner_text()
    assert await value_select(page, "Website Form").input_value() == "web"
    assert "contains 'website'" in await table.locator('tr[data-word="Website Form"] td.reason').inner_text()
    assert await value_select(page, "Podcast").input_value() == "__policy__"
    assert await value_select(page, "Fax").input_value() == "__policy__"
    assert "no suggestion" in await table.locator('tr[data-word="Fax"] td.reason').inner_text()
    # The picklist's values by label, "leave empty" and "use the policy" are the choices.
    labels = await value_select(page, "Podcast").locator("option").all_inner_texts()
    assert "Advertisement" in labels and "— leave empty —" in labels and "unknown: use the policy below" in labels
    policy = page.locator('select.unknown-policy[data-field="lead_source"]')
    assert await policy.input_value() == "empty"

    # The user overrides one suggestion (by the keyboard-reachable label) and adds Podcast to the picklist.
    await page.get_by_label("Website Form", exact=True).select_option("event")
    await page.get_by_role("button", name="Add “Podcast” to the Lead Source picklist").click()
    await expect(value_select(page, "Podcast")).to_have_value("podcast")
    await page.get_by_text("Added “Podcast” (podcast) to the lead_source picklist.").wait_for()
    assert await table.locator('tr[data-word="Podcast"] button').count() == 0
    # The new value is a choice of every row now.
    assert "Podcast" in await value_select(page, "Fax").locator("option").all_inner_texts()
    await expect(page.locator(".toast-item")).to_have_count(0, timeout=10_000)
    await shot(page, "wizard-values")
    await page.get_by_role("button", name="Next: Validation").click()

    # 4. Validation: no errors, one warning (Fax, left out), shown apart from errors.
    await page.get_by_role("heading", name="4. Validation").wait_for()
    await page.get_by_role("button", name="Run validation").click()
    summary = page.get_by_test_id("validation-summary")
    await summary.wait_for(timeout=120_000)
    assert "9 rows checked: 9 valid, 0 with errors, 1 with warnings" in await summary.inner_text()
    warnings = page.get_by_test_id("warning-rows")
    await warnings.wait_for()
    assert "Rows with warnings" in await warnings.locator("caption").inner_text()
    assert "Fax" in await warnings.inner_text()
    assert await page.get_by_test_id("bad-rows").count() == 0
    await page.get_by_role("button", name=re.compile(r"^Import 9 rows$")).click()

    # 6. Results: written, the warning listed apart from errors.
    await page.get_by_role("heading", name="6. Results").wait_for(timeout=120_000)
    result = await page.get_by_test_id("result-summary").inner_text()
    assert (
        "9 rows written (9 created, 0 updated)" in result
        and "0 with errors" in result
        and "1 imported with warnings" in result
    )
    await page.get_by_test_id("warning-rows").wait_for()
    assert await page.locator('[data-counter="warnings"]').inner_text() == "1"

    # The database holds what was chosen for every row; the picklist holds podcast.
    async with pool.acquire() as conn:
        stored = {
            r["email"]: r["lead_source"]
            for r in await conn.fetch(
                "SELECT email, lead_source FROM crm_leads WHERE company_id = $1", uuid.UUID(company.id)
            )
        }
    assert stored == {email: EXPECTED[word] for email, word in ROWS}
    r = await api.get("/api/v1/picklists/lead_source", headers=company.auth())
    podcast = [v for v in r.json()["values"] if v["value"] == "podcast"]
    assert podcast and podcast[0]["label"] == "Podcast" and podcast[0]["active"]
    jobs = (await api.get("/api/v1/jobs", headers=company.auth())).json()["items"]
    real = [j for j in jobs if not j["options"].get("dry_run")][0]
    assert real["warning_records"] == 1 and real["error_records"] == 0
    mapping = {k.lower(): v for k, v in real["value_mapping"]["lead_source"].items()}
    assert (
        mapping["website form"] == "event"
        and mapping["podcast"] == "podcast"
        and mapping["google ads"] == "advertisement"
    )
    assert "fax" not in mapping  # left to the policy

    # The job page shows the warnings beside the errors.
    await page.goto(f"/#/jobs/{real['id']}")
    details = page.get_by_test_id("job-details")
    await details.get_by_text("Rows with warnings").wait_for()
    assert "1 (imported with a value left out" in await details.inner_text()


async def test_values_step_without_choice_columns_lets_the_user_go_on(
    page: Any, company: Company, tmp_path: Path
) -> None:
    source = tmp_path / "plain.csv"
    source.write_text("First Name,Last Name,Email\nAnn,Lee,ann@example.org\n", encoding="utf-8")
    await sign_in(page, company.admin)
    await page.get_by_label("Choose a file").set_input_files(str(source))
    await page.get_by_role("button", name="Next: Configuration").click()
    for column, target in (("First Name", "first_name"), ("Last Name", "last_name"), ("Email", "email")):
        await page.locator(f'select.map-target[data-column="{column}"]').select_option(target)
    await page.get_by_role("button", name="Next: Values").click()
    await page.get_by_test_id("no-choice-fields").wait_for()
    await page.get_by_role("button", name="Back").click()
    await page.get_by_role("heading", name="2. Configuration").wait_for()
    await page.get_by_role("button", name="Next: Values").click()
    await page.get_by_role("button", name="Next: Validation").click()
    await page.get_by_role("heading", name="4. Validation").wait_for()


async def test_picklists_page_adds_edits_retires_and_restores(
    page: Any, company: Company, api: httpx.AsyncClient
) -> None:
    await sign_in(page, company.admin)
    await page.get_by_role("link", name="Picklists").click()
    await page.get_by_role("heading", name="Picklists", exact=True).wait_for()
    lead_source = page.get_by_test_id("picklist-lead_source")
    await lead_source.locator('tr[data-value="web"]').wait_for()
    for name in ("lead_status", "account_type"):
        await page.get_by_test_id(f"picklist-{name}").wait_for()
    assert "website" in await lead_source.locator('tr[data-value="web"] td.synonyms').inner_text()

    # Add a value with synonyms.
    await page.locator("#new-value-lead_source").fill("podcast")
    await page.locator("#new-label-lead_source").fill("Podcast")
    await page.locator("#new-syn-lead_source").fill("Podcasts, pod cast")
    await page.get_by_role("button", name="Add value").first.click()
    row = lead_source.locator('tr[data-value="podcast"]')
    await row.wait_for()
    assert "Podcasts, pod cast" in await row.inner_text()

    # A value taken already: the API's message is shown.
    await page.locator("#new-value-lead_source").fill("web")
    await page.get_by_role("button", name="Add value").first.click()
    box = page.locator('[data-picklist="lead_source"] .error-box')
    await box.wait_for()
    assert "already a value of lead_source" in await box.inner_text()

    # Relabel and edit synonyms.
    await page.get_by_role("button", name="Edit Podcast").click()
    await page.locator("#label-lead_source-podcast").fill("Podcast episode")
    await page.locator("#syn-lead_source-podcast").fill("Podcasts, audio show")
    await page.get_by_role("button", name="Save").click()
    await expect(lead_source.locator('tr[data-value="podcast"] th')).to_have_text("Podcast episode")

    # Retire and restore a built-in value.
    await page.get_by_role("button", name="Retire Cold call").click()
    await expect(lead_source.locator('tr[data-value="cold_call"]')).to_have_class(re.compile("retired"))
    r = await api.get("/api/v1/picklists/lead_source", headers=company.auth())
    values = {v["value"]: v for v in r.json()["values"]}
    assert values["cold_call"]["active"] is False
    assert values["podcast"]["label"] == "Podcast episode" and values["podcast"]["synonyms"] == [
        "Podcasts",
        "audio show",
    ]
    await expect(page.locator(".toast-item")).to_have_count(0, timeout=10_000)
    await shot(page, "picklists")
    await page.get_by_role("button", name="Restore Cold call").click()
    await expect(lead_source.locator('tr[data-value="cold_call"]')).to_have_class(re.compile("active"))
    r = await api.get("/api/v1/picklists/lead_source", headers=company.auth())
    assert {v["value"]: v for v in r.json()["values"]}["cold_call"]["active"] is True

    # A member key reads the picklists and changes nothing.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, company.member)
    await page.goto("/#/picklists")
    await page.get_by_test_id("read-only").wait_for()
    await page.get_by_test_id("picklist-lead_source").locator('tr[data-value="podcast"]').wait_for()
    assert await page.get_by_role("button", name="Add value").count() == 0
