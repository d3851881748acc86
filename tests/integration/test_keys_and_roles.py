"""API keys (list, revoke; never the last admin key), a revoked key's open event stream, and who may cancel,
retry and roll back which job, on the real API, broker, database and worker (issue 17)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.core.settings import PROJECT_ROOT, Settings
from services.jobs import keys
from tests.integration.conftest import worker_env
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


def crmio(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=PROJECT_ROOT,
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def key_ids(client: httpx.AsyncClient, company: Company) -> dict[str, dict[str, Any]]:
    listed = await client.get("/api/v1/keys", headers=company.auth())
    assert listed.status_code == 200, listed.text
    return {k["label"]: k for k in listed.json()["items"]}


# --------------------------------------------------------------------------- keys over the API


async def test_keys_list_and_revoke_over_the_api(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    acme, globex = await new_company(pool), await new_company(pool)
    async with pool.acquire() as conn:
        spare, _ = await keys.create_key(conn, acme.id, "member", "spare")

    listed = await key_ids(client, acme)
    assert set(listed) == {"test admin", "test member", "spare"}
    assert listed["test admin"]["role"] == "admin" and listed["test admin"]["current"] is True
    body = orjson.dumps(listed).decode()
    assert spare not in body and acme.admin not in body and acme.member not in body and "hash" not in body
    assert all(k["revoked"] is False and k["revoked_at"] is None for k in listed.values())

    # Admin only, and another company's key is not found.
    member = await client.get("/api/v1/keys", headers=acme.auth("member"))
    assert member.status_code == 403 and "admin" in member.json()["detail"]
    spare_id = listed["spare"]["id"]
    assert (await client.delete(f"/api/v1/keys/{spare_id}", headers=acme.auth("member"))).status_code == 403
    other = await client.delete(f"/api/v1/keys/{spare_id}", headers=globex.auth())
    assert other.status_code == 404
    assert (await client.delete("/api/v1/keys/not-a-uuid", headers=acme.auth())).status_code == 404

    assert (await client.get("/api/v1/jobs", headers=bearer(spare))).status_code == 200
    revoked = await client.delete(f"/api/v1/keys/{spare_id}", headers=acme.auth())
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True and revoked.json()["id"] == spare_id
    assert (await client.get("/api/v1/jobs", headers=bearer(spare))).status_code == 401
    again = await client.delete(f"/api/v1/keys/{spare_id}", headers=acme.auth())  # a no-op
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert (await key_ids(client, acme))["spare"]["revoked"] is True


async def test_the_last_live_admin_key_is_never_revoked(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    acme = await new_company(pool)
    admin_id = (await key_ids(client, acme))["test admin"]["id"]
    refused = await client.delete(f"/api/v1/keys/{admin_id}", headers=acme.auth())
    assert refused.status_code == 409, refused.text
    assert "last live admin key" in refused.json()["detail"]
    assert (await client.get("/api/v1/jobs", headers=acme.auth())).status_code == 200

    # With a second admin key, an admin may revoke the key it calls with (rotation); the new one then
    # is the last, and refused in turn.
    async with pool.acquire() as conn:
        second, record = await keys.create_key(conn, acme.id, "admin", "second admin")
    own = await client.delete(f"/api/v1/keys/{admin_id}", headers=acme.auth())
    assert own.status_code == 200 and own.json()["revoked"] is True
    assert (await client.get("/api/v1/jobs", headers=acme.auth())).status_code == 401
    last = await client.delete(f"/api/v1/keys/{record.id}", headers=bearer(second))
    assert last.status_code == 409


async def test_two_concurrent_revokes_leave_one_admin_key(pool: asyncpg.Pool) -> None:
    company = await new_company(pool)
    async with pool.acquire() as conn:
        _, second = await keys.create_key(conn, company.id, "admin", "second admin")
        first = next(k for k in await keys.list_keys(conn, company.id) if k.label == "test admin")

    async def revoke(key_id: str) -> str:
        async with pool.acquire() as conn, conn.transaction():
            try:
                await keys.revoke_company_key(conn, company.id, key_id)
            except keys.LastAdminKey:
                return "refused"
            await asyncio.sleep(0.2)  # hold the lock: the other revoke waits, then sees this one
            return "revoked"

    outcomes = await asyncio.gather(revoke(first.id), revoke(second.id))
    assert sorted(outcomes) == ["refused", "revoked"]
    async with pool.acquire() as conn:
        live = [k for k in await keys.list_keys(conn, company.id) if k.role == "admin" and k.revoked_at is None]
    assert len(live) == 1


# --------------------------------------------------------------------------- keys over the CLI


def test_keys_list_and_revoke_over_the_cli(settings: Settings, worker: Any) -> None:
    company = str(uuid.uuid4())
    made = crmio(settings, "keys", "create", "--company", company, "--role", "admin", "--label", "ops")
    assert made.returncode == 0, made.stderr
    admin_key = made.stdout.strip().splitlines()[-1]
    assert admin_key.startswith(keys.KEY_PREFIX)
    member = crmio(settings, "keys", "create", "--company", company, "--role", "member")
    assert member.returncode == 0, member.stderr

    listed = crmio(settings, "keys", "list", "--company", company, "--json")
    assert listed.returncode == 0, listed.stderr
    items = orjson.loads(listed.stdout)["items"]
    assert [k["role"] for k in items] == ["admin", "member"] and items[0]["label"] == "ops"
    assert admin_key not in listed.stdout
    table = crmio(settings, "keys", "list", "--company", company)
    assert table.returncode == 0 and items[1]["id"] in table.stdout and "revoked" in table.stdout.splitlines()[0]

    revoked = crmio(settings, "keys", "revoke", items[1]["id"], "--company", company)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == items[1]["id"]
    last = crmio(settings, "keys", "revoke", items[0]["id"], "--company", company)
    assert last.returncode == 2 and "last live admin key" in last.stderr
    other = crmio(settings, "keys", "revoke", items[0]["id"], "--company", str(uuid.uuid4()))
    assert other.returncode == 2 and "no API key" in other.stderr
    after = orjson.loads(crmio(settings, "keys", "list", "--company", company, "--json").stdout)["items"]
    assert [k["revoked"] for k in after] == [False, True]


# --------------------------------------------------------------------------- a revoked key's stream


async def _read_until_end(response: httpx.Response, timeout_s: float) -> list[str]:
    names: list[str] = []

    async def consume() -> None:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                names.append(line[7:])

    await asyncio.wait_for(consume(), timeout_s)  # the server ends the stream: aiter_lines stops
    return names


@pytest.mark.parametrize("path", ["/api/v1/events", "job"])
async def test_a_revoked_keys_stream_ends_with_a_revoked_event(
    client: httpx.AsyncClient, pool: asyncpg.Pool, path: str
) -> None:
    acme = await new_company(pool)
    async with pool.acquire() as conn:
        watcher, record = await keys.create_key(conn, acme.id, "member", "dashboard")
    if path == "job":
        # A job row that stays running while watched (no request is sent for it: the stream never sees it final).
        job_id = str(uuid.uuid4())
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, "
                "file_format, file_path, started_at) VALUES ($1, $2, 'export', 'running', 'lead', 'csv', 'x.csv', now())",
                job_id,
                acme.id,
            )
        path = f"/api/v1/jobs/{job_id}/events"
    async with client.stream("GET", path, headers=bearer(watcher)) as stream:
        assert stream.status_code == 200
        await asyncio.sleep(0.5)
        revoked_at = time.monotonic()
        r = await client.delete(f"/api/v1/keys/{record.id}", headers=acme.auth())
        assert r.status_code == 200, r.text
        names = await _read_until_end(stream, timeout_s=10)
        assert names[-1] == "revoked" and time.monotonic() - revoked_at < 5
    assert (await client.get(path, headers=bearer(watcher))).status_code == 401


# --------------------------------------------------------------------------- roles for job control


async def _job(client: httpx.AsyncClient, company: Company, role: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/v1/jobs", headers=company.auth(role), json=body)
    assert r.status_code == 201, r.text
    job: dict[str, Any] = r.json()
    return job


async def _import(
    client: httpx.AsyncClient, company: Company, role: str, rows: int, bad_every: int = 0
) -> dict[str, Any]:
    up = await upload(client, company, "leads.csv", leads_csv(rows, bad_every=bad_every))
    assert up.status_code == 201, up.text
    body = {"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": LEAD_MAPPING}
    return await _job(client, company, role, body)


async def test_a_member_controls_only_the_jobs_its_own_key_created(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme, globex = await new_company(pool), await new_company(pool)

    # An admin's export: a member may not cancel it; the admin may.
    export = await _job(client, acme, "admin", {"job_type": "export", "target_model": "lead"})
    refused = await client.post(f"/api/v1/jobs/{export['id']}/cancel", headers=acme.auth("member"))
    assert refused.status_code == 403 and "only the jobs it created" in refused.json()["detail"]
    other = await client.post(f"/api/v1/jobs/{export['id']}/cancel", headers=globex.auth("member"))
    assert other.status_code == 404  # another company's job: not found, for every role

    # An admin's import with failed rows: a member may not retry it, nor roll it back, nor cancel its rollback.
    imported = await _import(client, acme, "admin", 20, bad_every=5)
    done = await wait_final(client, acme, imported["id"])
    assert done["error_records"] == 4
    retry = await client.post(f"/api/v1/jobs/{imported['id']}/retry", headers=acme.auth("member"), json={})
    assert retry.status_code == 403 and "retry only the jobs it created" in retry.json()["detail"]
    rollback = await client.post(f"/api/v1/jobs/{imported['id']}/rollback", headers=acme.auth("member"), json={})
    assert rollback.status_code == 403 and "admin" in rollback.json()["detail"]
    rb = await client.post(f"/api/v1/jobs/{imported['id']}/rollback", headers=acme.auth(), json={})
    assert rb.status_code == 202, rb.text
    cancel_rb = await client.post(f"/api/v1/jobs/{rb.json()['id']}/cancel", headers=acme.auth("member"))
    assert cancel_rb.status_code == 403 and "only an admin key may cancel a rollback" in cancel_rb.text
    await wait_final(client, acme, rb.json()["id"])

    # The member's own import: it may cancel it (running or pending: 200, never 403).
    own = await _import(client, acme, "member", 30_000)
    cancelled = await client.post(f"/api/v1/jobs/{own['id']}/cancel", headers=acme.auth("member"))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["job_status"] == "cancelled"

    # The member's own import with failed rows: it may retry it, and cancel (or see finished) the retry.
    mine = await _import(client, acme, "member", 20, bad_every=5)
    await wait_final(client, acme, mine["id"])
    again = await client.post(f"/api/v1/jobs/{mine['id']}/retry", headers=acme.auth("member"), json={})
    assert again.status_code == 201, again.text
    await wait_final(client, acme, again.json()["id"])
    retry_cancel = await client.post(f"/api/v1/jobs/{again.json()['id']}/cancel", headers=acme.auth("member"))
    assert retry_cancel.status_code == 409  # finished: not 403, the retry is the member's too

    # The admin may cancel a member's job.
    member_export = await _job(client, acme, "member", {"job_type": "export", "target_model": "lead"})
    by_admin = await client.post(f"/api/v1/jobs/{member_export['id']}/cancel", headers=acme.auth())
    assert by_admin.status_code in (200, 409), by_admin.text
