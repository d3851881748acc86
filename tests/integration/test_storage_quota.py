"""Issue 17, "each job copies its upload": one upload is stored once however many jobs (dry runs, imports,
retries) are made from it; a company's storage quota refuses an upload, an import of a new file, an export
and a dropped file past it with a 413 (exit code 2 in the CLI) that leaves nothing stored; another company
is unaffected; retention and upload deletion remove a stored file only once no kept job or upload names it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio

from services.core import storage
from services.core.errors import StorageQuotaExceeded
from services.core.settings import Settings
from services.ingest.submit import submit_import
from services.jobs import limits, schedules
from services.jobs.retention import purge
from tests.integration.test_api import LEAD_MAPPING, Company, Server, leads_csv, new_company, upload, wait_final
from tests.integration.test_cli import crmio
from tests.polling import eventually

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def api(settings: Settings, pool: asyncpg.Pool, worker: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with Server(settings) as url, httpx.AsyncClient(base_url=url, timeout=120) as client:
        yield client


def stored(settings: Settings, company: Company) -> dict[str, int]:
    """Every file in the company's storage folder (the drop folder aside) with its size: what the disk holds."""
    folder = storage.company_dir(settings.storage_dir, company.id)
    if not folder.exists():
        return {}
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    return {rel: size for rel, size in files.items() if not rel.startswith("drop/")}


async def set_quota(pool: asyncpg.Pool, settings: Settings, company: Company, max_storage_bytes: int) -> None:
    async with pool.acquire() as conn:
        await limits.set_company_limits(conn, settings, company.id, {"max_storage_bytes": max_storage_bytes})


async def company_limits(api: httpx.AsyncClient, company: Company) -> dict[str, Any]:
    r = await api.get("/api/v1/limits", headers=company.auth("member"))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def start_import(api: httpx.AsyncClient, company: Company, upload_id: str, **options: Any) -> str:
    r = await api.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": upload_id,
            "target_model": "lead",
            "mapping": LEAD_MAPPING,
            "duplicate_handling": "update",
            "options": options,
        },
    )
    assert r.status_code == 201, r.text
    job_id: str = r.json()["id"]
    return job_id


async def count(pool: asyncpg.Pool, table: str, company: Company) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE company_id = $1", uuid.UUID(company.id))
    return n


async def job_files(pool: asyncpg.Pool, company: Company) -> set[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT file_path FROM crm_import_export_jobs WHERE company_id = $1", uuid.UUID(company.id)
        )
    return {r["file_path"] for r in rows}


def assert_quota_error(response: httpx.Response, what: str, company: Company, used: int, quota: int) -> None:
    assert response.status_code == 413, response.text
    error = response.json()
    assert error["code"] == "StorageQuotaExceeded", error
    message = error["detail"]
    assert what in message and f"{used:,} of {quota:,} bytes are in use (max_storage_bytes)" in message, message
    assert "DELETE /api/v1/uploads/ID" in message, message
    assert f"crmio limits set --company {company.id} --max-storage-bytes BYTES" in message, message


async def test_dry_runs_imports_and_a_retry_of_one_upload_store_it_once(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    data = leads_csv(300, bad_every=10)
    up = await upload(api, company, "leads.csv", data)
    assert up.status_code == 201, up.text
    (upload_file,) = stored(settings, company)
    jobs = [await start_import(api, company, up.json()["id"], dry_run=True) for _ in range(5)]
    jobs.append(await start_import(api, company, up.json()["id"]))
    for job_id in jobs:
        done = await wait_final(api, company, job_id)
        assert done["job_status"] == "completed" and done["error_records"] == 30, done
    retry = await api.post(f"/api/v1/jobs/{jobs[-1]}/retry", headers=company.auth(), json={})
    assert retry.status_code == 201, retry.text
    assert (await wait_final(api, company, retry.json()["id"]))["job_status"] == "completed"

    # Seven jobs, one file: every job names the upload's file; the retry adds only its list of 30 row numbers.
    assert await job_files(pool, company) == {upload_file}
    files = stored(settings, company)
    (row_list,) = set(files) - {upload_file}
    assert files[upload_file] == len(data) and row_list.startswith("retries/") and files[row_list] < 200
    doc = await company_limits(api, company)
    assert doc["storage_used_bytes"] == sum(files.values()) < 2 * len(data)
    assert doc["max_storage_bytes"] == settings.max_storage_bytes


async def test_the_quota_refuses_an_upload_an_import_and_an_export_past_it_and_leaves_nothing(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, tmp_path: Path
) -> None:
    company = await new_company(pool)
    data = leads_csv(200)
    quota = len(data) * 3 // 2
    await set_quota(pool, settings, company, quota)
    first = await upload(api, company, "first.csv", data)
    assert first.status_code == 201, first.text
    before = stored(settings, company)
    assert sum(before.values()) == len(data)

    # The second upload passes the room left while it arrives: refused, nothing kept.
    second = await upload(api, company, "second.csv", data)
    assert_quota_error(
        second, f"storing 'second.csv' (more than the {quota - len(data):,} bytes left)", company, len(data), quota
    )
    assert stored(settings, company) == before and await count(pool, "crm_uploads", company) == 1

    # An import of a new file (the CLI's path) is refused before it is copied, in process and by `crmio import`.
    path = tmp_path / "new.csv"
    path.write_bytes(data)
    with pytest.raises(StorageQuotaExceeded) as refused:
        await submit_import(
            settings, pool, kafka_producer, company_id=company.id, path=path, model="lead", mapping=LEAD_MAPPING
        )
    assert f"storing 'new.csv' ({len(data):,} bytes) would pass" in refused.value.message
    cli = crmio(settings, "import", str(path), "--company", company.id, "--model", "lead")
    assert cli.returncode == 2 and "would pass this company's storage quota" in cli.stderr, cli.stderr
    assert stored(settings, company) == before and await count(pool, "crm_import_export_jobs", company) == 0

    # A job made from the stored upload stores nothing: it is taken however little room is left.
    job_id = await start_import(api, company, first.json()["id"], dry_run=True)
    assert (await wait_final(api, company, job_id))["job_status"] == "completed"
    assert stored(settings, company) == before

    # Full to the byte: an export (it writes a file) and the smallest upload are refused too.
    await set_quota(pool, settings, company, len(data))
    export = await api.post("/api/v1/jobs", headers=company.auth(), json={"job_type": "export", "target_model": "lead"})
    assert_quota_error(export, "the file of an export of lead records", company, len(data), len(data))
    tiny = await upload(api, company, "tiny.csv", b"Vorname,Nachname\r\nA,B\r\n")
    assert_quota_error(tiny, "another upload", company, len(data), len(data))
    assert stored(settings, company) == before
    assert await count(pool, "crm_uploads", company) == 1 and await count(pool, "crm_import_export_jobs", company) == 1

    # The operator raises the quota: the same upload is taken.
    cli = crmio(settings, "limits", "set", "--company", company.id, "--max-storage-bytes", str(3 * len(data)))
    assert cli.returncode == 0, cli.stderr
    shown = orjson.loads(cli.stdout)
    assert (shown["max_storage_bytes"], shown["storage_used_bytes"]) == (3 * len(data), len(data)), shown
    assert (await upload(api, company, "second.csv", data)).status_code == 201
    assert (await company_limits(api, company))["storage_used_bytes"] == 2 * len(data)


async def test_a_dropped_file_past_the_quota_waits_in_the_folder_with_the_error_on_its_schedule(
    settings: Settings, pool: asyncpg.Pool, worker: Any
) -> None:
    company = await new_company(pool)
    data = leads_csv(100)
    await set_quota(pool, settings, company, len(data) - 1)
    async with pool.acquire() as conn:
        schedule = await schedules.create_schedule(
            conn,
            company.id,
            name="inbox",
            cron="* * * * * */2",
            timezone="UTC",
            job={"job_type": "import", "target_model": "lead", "folder": "inbox", "mapping": LEAD_MAPPING},
            queue=settings.topic_prefix,
            min_interval_s=1,
        )
    inbox = schedules.drop_folder(settings, company.id, "inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "leads.csv").write_bytes(data)

    async def failed_slot() -> str | None:
        async with pool.acquire() as conn:
            error: str | None = await conn.fetchval(
                "SELECT last_error FROM crm_schedules WHERE id = $1", schedule["id"]
            )
        return error

    error: str = await eventually(failed_slot, 30, "a slot refused by the storage quota", interval_s=0.5)
    assert "taking the dropped file 'leads.csv'" in error and "storage quota" in error, error
    assert [p.name for p in inbox.iterdir()] == ["leads.csv"] and stored(settings, company) == {}
    assert await count(pool, "crm_import_export_jobs", company) == 0
    async with pool.acquire() as conn:
        await schedules.delete_schedule(conn, company.id, str(schedule["id"]))


async def test_a_full_company_does_not_hold_up_another(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    full, other = await new_company(pool), await new_company(pool)
    data = leads_csv(50)
    assert (await upload(api, full, "a.csv", data)).status_code == 201
    await set_quota(pool, settings, full, len(data))
    assert (await upload(api, full, "b.csv", data)).status_code == 413
    theirs = await upload(api, other, "b.csv", data)
    assert theirs.status_code == 201, theirs.text
    done = await wait_final(api, other, await start_import(api, other, theirs.json()["id"]))
    assert done["job_status"] == "completed" and done["created_records"] == 50, done
    doc = await company_limits(api, other)
    assert doc["storage_used_bytes"] == len(data) and doc["max_storage_bytes"] == settings.max_storage_bytes
    # Its export's file counts too, measured once written.
    export = await api.post("/api/v1/jobs", headers=other.auth(), json={"job_type": "export", "target_model": "lead"})
    assert export.status_code == 201, export.text
    assert (await wait_final(api, other, export.json()["id"]))["job_status"] == "completed"
    files = stored(settings, other)
    assert len(files) == 2 and (await company_limits(api, other))["storage_used_bytes"] == sum(files.values())


async def test_retention_keeps_a_file_a_kept_job_names_and_deletes_it_after_the_last_name_goes(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    data = leads_csv(40, bad_every=8)
    up = await upload(api, company, "leads.csv", data)
    assert up.status_code == 201, up.text
    (upload_file,) = stored(settings, company)
    job_id = await start_import(api, company, up.json()["id"])
    assert (await wait_final(api, company, job_id))["job_status"] == "completed"

    # The upload is past the 30 days of files, the job ended today: the upload goes, its file stays.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE crm_uploads SET created_at = now() - interval '40 days' WHERE company_id = $1",
            uuid.UUID(company.id),
        )
    (first,) = await purge(pool, settings, company_ids=[company.id])
    assert (first["uploads_purged"], first["files_purged"]) == (1, 0), first
    assert (await api.get(f"/api/v1/uploads/{up.json()['id']}", headers=company.auth())).status_code == 404
    assert stored(settings, company) == {upload_file: len(data)}
    assert (await company_limits(api, company))["storage_used_bytes"] == len(data)
    # The job still reads its file: the error file carries every original column of the failed rows.
    errors = await api.get(f"/api/v1/jobs/{job_id}/results", headers=company.auth(), params={"kind": "errors"})
    assert errors.status_code == 200 and "Vorname" in errors.text and "First8" in errors.text, errors.text[:500]

    # 40 days on, the job's file is released too: the last name went, and so did the file.
    (later,) = await purge(pool, settings, dt.datetime.now(dt.UTC) + dt.timedelta(days=40), [company.id])
    assert (later["files_purged"], later["bytes_purged"]) == (1, len(data)), later
    assert stored(settings, company) == {} and await job_files(pool, company) == {""}
    assert (await company_limits(api, company))["storage_used_bytes"] == 0
    assert await count(pool, "crm_stored_files", company) == 0


async def test_deleting_an_upload_frees_its_file_once_no_job_names_it(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    named_data, lone_data = leads_csv(20), leads_csv(30)
    named = (await upload(api, company, "named.csv", named_data)).json()
    lone = (await upload(api, company, "lone.csv", lone_data)).json()
    job_id = await start_import(api, company, named["id"])
    assert (await wait_final(api, company, job_id))["job_status"] == "completed"
    (named_file,) = await job_files(pool, company)
    assert len(stored(settings, company)) == 2

    member = await api.delete(f"/api/v1/uploads/{lone['id']}", headers=company.auth("member"))
    assert member.status_code == 403 and "only an admin key may delete uploads" in member.text
    assert (await api.delete(f"/api/v1/uploads/{lone['id']}", headers=company.auth())).status_code == 204
    assert stored(settings, company) == {named_file: len(named_data)}  # no job named it: gone at once
    assert (await api.delete(f"/api/v1/uploads/{named['id']}", headers=company.auth())).status_code == 204
    assert stored(settings, company) == {named_file: len(named_data)}  # the import still names it
    assert (await api.get(f"/api/v1/uploads/{named['id']}", headers=company.auth())).status_code == 404
    assert (await api.delete(f"/api/v1/uploads/{named['id']}", headers=company.auth())).status_code == 404
    assert (await company_limits(api, company))["storage_used_bytes"] == len(named_data)
