"""A retry records the key that created it, as a new import does, and the role rules follow that key (issue 17)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from services.jobs import keys
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    LEAD_MAPPING,
    Company,
    api_settings,
    base_url,
    client,
    leads_csv,
    new_company,
    upload,
    wait_final,
)

pytestmark = pytest.mark.integration


async def _finished_import_with_failed_rows(client: httpx.AsyncClient, company: Company, role: str) -> dict[str, Any]:
    up = await upload(client, company, "leads.csv", leads_csv(20, bad_every=5))
    assert up.status_code == 201, up.text
    body = {"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": LEAD_MAPPING}
    r = await client.post("/api/v1/jobs", headers=company.auth(role), json=body)
    assert r.status_code == 201, r.text
    done = await wait_final(client, company, r.json()["id"])
    assert done["error_records"] == 4
    return done


async def test_a_retry_records_the_key_that_created_it(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    acme = await new_company(pool)
    async with pool.acquire() as conn:
        admin, member = await keys.verify_key(conn, acme.admin), await keys.verify_key(conn, acme.member)
    assert admin is not None and member is not None

    mine = await _finished_import_with_failed_rows(client, acme, "member")
    assert mine["created_by_user_id"] == member.id

    # The member retries its own import: the retry is the member's, like a new import.
    own = await client.post(f"/api/v1/jobs/{mine['id']}/retry", headers=acme.auth("member"), json={})
    assert own.status_code == 201, own.text
    assert own.json()["created_by_user_id"] == member.id
    assert own.json()["options"]["retry_of"] == mine["id"]
    actions = (await client.get(f"/api/v1/jobs/{own.json()['id']}/actions", headers=acme.auth("member"))).json()
    assert actions["actions"]["cancel"]["allowed"] is True and actions["actions"]["retry"]["allowed"] is True

    # An admin retries the member's import: that retry is the admin's work, which the member may not control.
    by_admin = await client.post(f"/api/v1/jobs/{mine['id']}/retry", headers=acme.auth(), json={})
    assert by_admin.status_code == 201, by_admin.text
    assert by_admin.json()["created_by_user_id"] == admin.id
    refused = await client.post(f"/api/v1/jobs/{by_admin.json()['id']}/cancel", headers=acme.auth("member"))
    assert refused.status_code == 403 and "created by another key" in refused.json()["detail"]

    for job in (own.json(), by_admin.json()):
        done = await wait_final(client, acme, job["id"])
        assert done["created_by_user_id"] == job["created_by_user_id"]  # the job row holds it, not only the answer
