"""The UI shell in Chromium: signing in with an API key, the company shown, sign-out, clear errors, keyboard use."""

from __future__ import annotations

import pytest

from tests.integration.browser.conftest import shot, sign_in
from tests.integration.test_api import Company

pytestmark = pytest.mark.integration


async def test_sign_in_shows_the_company_and_sign_out_forgets_the_key(page, company: Company) -> None:
    await page.goto("/")
    await page.get_by_role("heading", name="Sign in").wait_for()
    await shot(page, "00-sign-in")

    # A wrong key: the API's message and what to do, announced as an alert; the key is not kept.
    await page.get_by_label("API key").fill("crmio_not-a-real-key")
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    text = await alert.inner_text()
    assert "unknown or revoked" in text and "What to do" in text
    assert await page.evaluate("sessionStorage.getItem('crmio.apiKey')") is None
    await shot(page, "00-sign-in-error")

    await page.get_by_label("API key").fill(company.member)
    await page.keyboard.press("Enter")  # the form submits from the keyboard
    await page.locator("#who").wait_for(state="visible")
    assert await page.locator("#company-id").inner_text() == company.id
    assert "member key" in await page.locator("#role").inner_text()
    assert await page.evaluate("sessionStorage.getItem('crmio.apiKey')") == company.member
    await page.get_by_role("heading", name="Import records").wait_for()

    # The key survives a reload of the tab (sessionStorage), and the navigation works by keyboard.
    await page.reload()
    await page.locator("#who").wait_for(state="visible")
    await page.get_by_role("link", name="Jobs").focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Jobs", exact=True).wait_for()
    assert await page.get_by_role("link", name="Jobs").get_attribute("aria-current") == "page"

    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("heading", name="Sign in").wait_for()
    assert await page.evaluate("sessionStorage.getItem('crmio.apiKey')") is None
    assert await page.locator("#who").is_hidden()


async def test_a_member_key_cannot_change_templates_and_is_told_why(page, company: Company) -> None:
    await sign_in(page, company.member)
    await page.get_by_role("link", name="Templates").click()
    await page.get_by_text("an admin key is needed to create or change them").wait_for()
    assert await page.get_by_role("link", name="+ New template").count() == 0


async def test_the_api_docs_render_from_the_package_with_no_script_blocked(page) -> None:
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    await page.goto("/api/docs")
    await page.locator(".swagger-ui .info .title").wait_for(timeout=30_000)  # rendered by its own start script
    assert "crmio" in await page.locator(".swagger-ui .info .title").inner_text()
    await page.get_by_text("/api/v1/uploads", exact=True).first.wait_for()
    origin = page.url.split("/api/docs")[0]
    assert blocked == [] and [u for u in requested if not u.startswith(origin)] == []
