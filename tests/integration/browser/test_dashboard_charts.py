"""The job dashboard's activity charts in Chromium, drawn from GET /api/v1/stats/timeseries after a real import
through the API and the session's worker: rows per second, errors, jobs by state and rows waiting, with their
figures as a table matching the job's counters. Screenshot: docs/screenshots/10-dashboard-charts.png."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.browser.conftest import shot, sign_in
from tests.integration.browser.test_jobs_live import submit_import
from tests.integration.test_api import Company, wait_final

pytestmark = pytest.mark.integration


async def test_the_dashboard_charts_the_companys_activity(page: Any, company: Company, api: httpx.AsyncClient) -> None:
    first = await submit_import(api, company, 30_000, "charts.csv", bad_every=1000)
    second = await submit_import(api, company, 12_000, "more.csv", bad_every=400)
    jobs = [await wait_final(api, company, j["id"]) for j in (first, second)]
    assert [j["job_status"] for j in jobs] == ["completed", "completed"], jobs

    await sign_in(page, company.member)
    await page.get_by_role("link", name="Jobs").click()
    await page.get_by_role("heading", name="Activity").wait_for()
    await page.get_by_label("Window").select_option("10")
    charts = page.locator('.charts[aria-busy="false"]')
    await charts.wait_for()
    for key in ("rows_per_s", "errors", "running", "backlog_rows"):
        await page.locator(f'figure[data-chart="{key}"] svg[role="img"]').wait_for()
    assert await page.locator('figure[data-chart="rows_per_s"] path.line').count() == 1
    assert await page.locator("rect.bar.s-errors").count() >= 1
    assert await page.locator("rect.bar.s-completed").count() >= 1
    label = await page.locator('figure[data-chart="rows_per_s"] svg').get_attribute("aria-label")
    assert label and label.startswith("Rows processed (per second), rows/s: now"), label

    # The figures behind the pictures: every failed row is one error, both jobs ended completed, none waits.
    await page.get_by_text("Figures as a table").click()
    rows = await page.locator(".chart-table tbody tr").all()
    cells = [[(await c.inner_text()).replace(",", "") for c in await r.locator("td").all()] for r in rows]
    assert sum(int(c[2]) for c in cells) == sum(j["error_records"] for j in jobs) == 30 + 30
    assert sum(int(c[5]) for c in cells) == 2
    assert int(cells[-1][8]) == 0 and int(cells[-1][3]) == 0 and int(cells[-1][4]) == 0, cells[-1]
    await page.get_by_text("Figures as a table").click()
    await shot(page, "10-dashboard-charts")
