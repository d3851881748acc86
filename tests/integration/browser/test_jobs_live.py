"""Live views in Chromium: cancelling a running import from the wizard, and the job dashboard following jobs
submitted through the API (they appear and change status without a reload); the job page with its logs, offering
cancel only to a key that may cancel the job."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.jobs import keys
from tests.datagen import make_leads, write_csv
from tests.integration.browser.conftest import shot, sign_in, through_values
from tests.integration.test_api import LEAD_MAPPING, Company, leads_csv, upload, wait_final

pytestmark = pytest.mark.integration


async def leads_count(pool: asyncpg.Pool, company: Company) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", uuid.UUID(company.id))


async def test_cancel_a_running_import_from_the_wizard(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    source = write_csv(make_leads(150_000, seed=33), tmp_path / "big leads.csv")
    await sign_in(page, company.admin)
    await page.get_by_label("Choose a file").set_input_files(str(source))
    await page.get_by_test_id("detected").wait_for(timeout=120_000)
    assert (await page.locator('[data-fact="rows"]').inner_text()).startswith("about 150,")
    await page.get_by_role("button", name="Next: Configuration").click()
    await page.get_by_test_id("preview").wait_for()  # the suggestions map every column of this file
    await page.get_by_role("button", name="Next: Values").click()
    await through_values(page)
    await page.get_by_role("button", name="Skip validation and import").click()

    # Processing: live counters from the job's event stream; cancel once rows are being applied.
    await page.get_by_role("heading", name="5. Processing").wait_for()
    processed = page.locator('[data-counter="processed"]')
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = (await processed.inner_text()).replace(",", "")
        if text.isdigit() and int(text) > 0:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the import showed no progress within 120 s")
    assert (await page.locator(".progress-panel").get_attribute("data-status")) == "running"
    await shot(page, "04-import-processing")
    await page.get_by_role("button", name="Cancel the import").click()

    await page.get_by_role("heading", name="6. Results").wait_for(timeout=60_000)
    summary = await page.get_by_test_id("result-summary").inner_text()
    assert "was cancelled" in summary
    await shot(page, "05-import-cancelled")
    jobs = (await api.get("/api/v1/jobs", headers=company.auth())).json()["items"]
    (job,) = jobs
    assert job["job_status"] == "cancelled" and job["message"] == "cancelled on request"
    # Nothing is applied after the answer: the CRM holds exactly what the job's counters say, and stays so.
    written = await leads_count(pool, company)
    assert written == job["created_records"] < 150_000
    await asyncio.sleep(1.5)  # an observation period, not a wait: the count must stay
    assert await leads_count(pool, company) == written
    assert f"{written:,} rows written" in summary


async def submit_import(
    api: httpx.AsyncClient, company: Company, rows: int, name: str, bad_every: int = 0
) -> dict[str, Any]:
    up = await upload(api, company, name, leads_csv(rows, bad_every=bad_every))
    assert up.status_code == 201, up.text
    r = await api.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_dashboard_follows_jobs_live_and_the_job_page_shows_logs(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await sign_in(page, company.admin)
    await page.get_by_role("link", name="Jobs").click()
    await page.get_by_role("heading", name="Jobs", exact=True).wait_for()
    await page.get_by_text("● Live updates: on").wait_for()
    # Marks this document and records every status a job row shows; a reload would lose both.
    await page.evaluate("""() => {
        window.__sameDocument = true;
        window.__statuses = {};
        new MutationObserver(() => {
            for (const tr of document.querySelectorAll("tr[data-job]")) {
                const seen = (window.__statuses[tr.dataset.job] ||= []);
                if (seen[seen.length - 1] !== tr.dataset.status) seen.push(tr.dataset.status);
            }
        }).observe(document.querySelector("table.jobs"), { subtree: true, childList: true, attributes: true });
    }""")

    job = await submit_import(api, company, 30_000, "live.csv", bad_every=1000)
    row = page.locator(f'tr[data-job="{job["id"]}"]')
    await row.wait_for(timeout=30_000)
    await page.locator(f'tr[data-job="{job["id"]}"][data-status="completed"]').wait_for(timeout=180_000)
    assert await page.evaluate("window.__sameDocument") is True
    statuses = (await page.evaluate("window.__statuses"))[job["id"]]
    assert statuses[-1] == "completed" and len(statuses) >= 2 and set(statuses[:-1]) <= {"pending", "running"}, statuses
    assert "30,000 of 30,000" in await row.locator(".processed").inner_text()
    assert await row.locator(".errors-cell").inner_text() == "30"

    # An export appears too; the filters narrow the list (and the live stream respects them).
    export = await api.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "export",
            "target_model": "lead",
            "file_format": "csv",
            "filters": [{"field": "email", "op": "contains", "value": "user1"}],
        },
    )
    assert export.status_code == 201, export.text
    await page.locator(f'tr[data-job="{export.json()["id"]}"][data-status="completed"]').wait_for(timeout=120_000)
    assert await page.locator("tr[data-job]").count() == 2
    # Both came in live, on a list that had none: the pager counts them (it said "No jobs match." under them).
    assert "1–2 of 2" in await page.locator(".pager").inner_text()
    await shot(page, "08-dashboard")
    await page.get_by_label("Type").select_option("export")
    await page.locator(f'tr[data-job="{job["id"]}"]').wait_for(state="detached")
    assert await page.locator("tr[data-job]").count() == 1
    await page.get_by_label("Type").select_option("")
    await page.get_by_label("Status").select_option("failed")
    await page.get_by_text("No jobs match.").wait_for()
    failing = await submit_import(api, company, 10, "other.csv")  # completes: the failed filter must not show it
    await wait_final(api, company, failing["id"])
    # An observation period, not a wait: the page drops the non-matching event without a trace to poll for.
    await asyncio.sleep(1)
    assert await page.locator("tr[data-job]").count() == 0
    await page.get_by_label("Status").select_option("completed")
    await page.locator("tr[data-job]").nth(2).wait_for()
    assert await page.locator("tr[data-job]").count() == 3

    # The job page: counters, timings, logs filtered by level.
    await page.locator(f'tr[data-job="{job["id"]}"] a').click()
    await page.get_by_role("heading", name="Import of live.csv (leads)").wait_for()
    assert await page.locator('[data-counter="processed"]').inner_text() == "30,000"
    assert await page.locator('[data-counter="errors"]').inner_text() == "30"
    details = await page.get_by_test_id("job-details").inner_text()
    assert "Started" in details and "Duration" in details and "Vorname → first_name" in details
    logs = page.get_by_test_id("logs")
    await logs.wait_for()
    await page.get_by_label("Level").select_option("error")
    await page.locator('table.logs tbody tr[data-level="error"]').nth(29).wait_for()
    assert await page.locator("table.logs tbody tr").count() == 30
    assert await page.locator('table.logs tbody tr:not([data-level="error"])').count() == 0
    served = (await api.get(f"/api/v1/jobs/{job['id']}/logs", headers=company.auth(), params={"level": "error"})).json()
    assert len(served["items"]) == 30
    assert served["items"][0]["message"] in await page.locator("table.logs tbody tr").first.inner_text()
    await page.get_by_label("Level").select_option("info")
    await page.get_by_test_id("no-logs").wait_for()
    await page.get_by_label("Level").select_option("error")
    await logs.wait_for()
    await shot(page, "09-job-page")
    assert await page.get_by_role("button", name="Cancel the job").count() == 0  # final jobs cannot be cancelled
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download the error report (CSV)").click()
    assert (await info.value).suggested_filename == "live-errors.csv"


async def running_job(pool: asyncpg.Pool, company: Company, job_type: str, created_by: str | None) -> str:
    """A job row that stays running while the page shows it (no request is sent for it, and with no heartbeat
    no worker takes it for stalled)."""
    job_id = str(uuid.uuid4())
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, file_format, "
            "file_path, started_at, created_by_user_id) VALUES ($1, $2, $3, 'running', 'lead', 'csv', 'x.csv', now(), $4)",
            job_id,
            company.id,
            job_type,
            created_by,
        )
    return job_id


async def test_the_job_page_offers_cancel_only_to_a_key_that_may_cancel_the_job(
    page: Any, company: Company, api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        admin_key, member_key = await keys.verify_key(conn, company.admin), await keys.verify_key(conn, company.member)
    assert admin_key is not None and member_key is not None
    admins = await running_job(pool, company, "export", admin_key.id)
    members = await running_job(pool, company, "export", member_key.id)
    rollback = await running_job(pool, company, "rollback", None)
    cancel = page.get_by_role("button", name="Cancel the job")
    refused = page.get_by_test_id("cancel-not-allowed")

    async def open_job(job_id: str) -> None:
        await page.goto(f"/#/jobs/{job_id}")
        # The details and the actions are drawn together, once the job and what the key may do are loaded.
        await page.get_by_test_id("job-details").get_by_text(job_id, exact=True).wait_for()

    try:
        await sign_in(page, company.member)
        await open_job(members)  # its own export: offered
        assert await cancel.count() == 1 and await refused.count() == 0
        rules = {
            admins: "may cancel only the jobs it created itself",
            rollback: "only an admin key may cancel a rollback",
        }
        for job_id, rule in rules.items():
            await open_job(job_id)
            assert await cancel.count() == 0
            assert rule in await refused.inner_text()
            # The page offers no more than the API allows: the member is refused there too.
            r = await api.post(f"/api/v1/jobs/{job_id}/cancel", headers=company.auth("member"))
            assert r.status_code == 403 and rule in r.json()["detail"], r.text

        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_label("API key").fill(company.admin)
        await page.get_by_role("button", name="Sign in").click()
        for job_id in (admins, members, rollback):
            await open_job(job_id)
            assert await cancel.count() == 1 and await refused.count() == 0

        member_view = (await api.get(f"/api/v1/jobs/{rollback}/actions", headers=company.auth("member"))).json()
        assert member_view["role"] == "member"
        assert [member_view["actions"][a]["allowed"] for a in ("cancel", "retry", "rollback")] == [False] * 3
        assert member_view["actions"]["rollback"]["reason"] == "only an admin key may roll back imports"
        admin_view = (await api.get(f"/api/v1/jobs/{admins}/actions", headers=company.auth())).json()["actions"]
        assert all(a == {"allowed": True, "reason": None} for a in admin_view.values())
    finally:
        # Running rows count against the deployment's running jobs: end them for the tests after this one.
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE crm_import_export_jobs SET job_status = 'cancelled', completed_at = now() WHERE id = ANY($1::uuid[])",
                [admins, members, rollback],
            )
