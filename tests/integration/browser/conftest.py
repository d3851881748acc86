"""Browser fixtures: the real API (uvicorn in the session's event loop, serving the web UI at /) and the session's
real worker, driven through Debian's headless Chromium by Playwright (its own browser builds are never downloaded).

A missing Chromium or Playwright FAILS the tests with a message saying how to install it; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from services.core.settings import PROJECT_ROOT, Settings
from tests.integration.test_api import Company, Server, new_company

SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str:
    """CRMIO_CHROMIUM, else Debian's chromium on PATH; fails the test with how to install it."""
    wanted = os.environ.get("CRMIO_CHROMIUM")
    if wanted:
        if Path(wanted).is_file() and os.access(wanted, os.X_OK):
            return wanted
        pytest.fail(f"CRMIO_CHROMIUM={wanted!r} is not an executable file", pytrace=False)
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is not installed, and the browser tests need it (headless). Install Debian's package: "
        "`apt-get install chromium` (`bash stack/install.sh` does it), or point CRMIO_CHROMIUM at a Chromium binary.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def ui_settings(settings: Settings) -> Settings:
    # A quick SSE poll: the tests watch short jobs change status live.
    return settings.model_copy(update={"sse_poll_interval_s": 0.2})


@pytest_asyncio.fixture(scope="session")
async def ui_url(ui_settings: Settings, pool: asyncpg.Pool, worker: Any) -> AsyncIterator[str]:
    async with Server(ui_settings) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def api(ui_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ui_url, timeout=60) as c:
        yield c


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: `.venv/bin/pip install -e '.[test]'`", pytrace=False)
    pw = await async_playwright().start()
    try:
        b = await pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
    except Exception as exc:  # noqa: BLE001 - any launch failure: say which binary and why
        await pw.stop()
        pytest.fail(f"Chromium at {executable} did not start: {exc}", pytrace=False)
    yield b
    await b.close()
    await pw.stop()


@pytest_asyncio.fixture
async def company(pool: asyncpg.Pool) -> Company:
    """A new company with an admin and a member key: each test starts with no records, jobs or templates."""
    return await new_company(pool)


@pytest_asyncio.fixture
async def other(pool: asyncpg.Pool) -> Company:
    """A second company, whose key must see none of the first one's objects."""
    return await new_company(pool)


@pytest_asyncio.fixture
async def page(browser: Any, ui_url: str) -> AsyncIterator[Any]:
    """A fresh browser context (own sessionStorage) per test; JavaScript errors fail the test."""
    context = await browser.new_context(viewport=VIEWPORT, accept_downloads=True, base_url=ui_url)
    context.set_default_timeout(30_000)
    p = await context.new_page()
    problems: list[str] = []
    p.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    # 4xx answers are part of the tests (refused filters, missing mappings); a 5xx never is.
    p.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status} from {r.request.method} {r.url}") if r.status >= 500 else None,
    )
    p.on(
        "console",
        lambda msg: (
            problems.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    yield p
    await context.close()
    assert not problems, "the page reported JavaScript errors:\n" + "\n".join(problems)


async def sign_in(page: Any, key: str) -> None:
    await page.goto("/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#who").wait_for(state="visible")


async def through_values(page: Any) -> None:
    """From the Configuration step's "Next: Values" on: the Values step loads, then "Next: Validation"."""
    await page.get_by_role("heading", name="3. Values").wait_for()
    next_button = page.get_by_role("button", name="Next: Validation")
    await page.locator('.values-fields[aria-busy="false"]').wait_for()
    await next_button.click()
    await page.get_by_role("heading", name="4. Validation").wait_for()


Shot = Callable[[Any, str], Awaitable[None]]


async def shot(page: Any, name: str) -> None:
    """A screenshot of the page as the user sees it, under a stable name (overwritten each run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")
