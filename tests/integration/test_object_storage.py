"""Issue 16, item 1: crmio on object storage. The HTTP API and two workers run as separate processes, each with a
local folder of its own, sharing only S3 (the local S3Proxy): an import uploaded through the API is split and
applied by the workers, an export is written by a worker and downloaded through the API, an upload deleted
through the API and retention delete their objects. No file ever lands in a process's local folder."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bench.bench_isolation import Tenant, new_tenant
from bench.load import api_process
from services.core.kafka_io import ensure_topics
from services.core.settings import Settings
from services.jobs import retention
from tests.datagen import expected, make_leads, write_csv, write_xlsx
from tests.integration.conftest import RUN, start_worker, stop_worker, wait_for_job, worker_env
from tests.integration.object_storage import client, keys, s3_settings
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROWS = 3_000


@pytest.fixture(scope="module")
def deployment(settings: Settings, pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A deployment of its own (topics, consumer group, queue) on S3: the API and two workers, each with its
    own local folder and scratch folder."""
    base = s3_settings(settings, topic_prefix=f"s3{RUN}", app_id=f"crmio-s3-{RUN}")

    def process(name: str) -> Settings:
        root = tmp_path_factory.mktemp(name)
        return base.model_copy(update={"storage_dir": root / "storage", "scratch_dir": root / "scratch"})

    api_s, w1_s, w2_s = process("api"), process("worker1"), process("worker2")
    asyncio.run(ensure_topics(base))
    logs = tmp_path_factory.mktemp("logs")
    workers = [start_worker(w1_s, logs / "worker1.log"), start_worker(w2_s, logs / "worker2.log")]
    api, url = api_process(api_s, logs / "api.log")
    try:
        yield base, url, [api_s, w1_s, w2_s]
    finally:
        api.terminate()
        api.wait(30)
        for w in workers:
            stop_worker(w)


def _upload(url: str, tenant: Tenant, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        r = httpx.post(f"{url}/api/v1/uploads", headers=tenant.auth, files={"file": (path.name, f)}, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _job(url: str, tenant: Tenant, body: dict[str, Any]) -> str:
    r = httpx.post(f"{url}/api/v1/jobs", headers=tenant.auth, json=body, timeout=60)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _local_files(processes: list[Settings]) -> list[Path]:
    return [
        p for s in processes for d in (s.storage_dir, s.scratch_dir) if d.exists() for p in d.rglob("*") if p.is_file()
    ]


async def test_the_api_and_two_workers_share_only_object_storage(
    deployment: Any, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    s3, url, processes = deployment
    tenant = await new_tenant(pool, "object-storage")
    leads = make_leads(ROWS, seed=16)
    _, want = expected(leads, "update")

    # An import uploaded through the API (CSV, streamed from S3 by the split), then an .xlsx of the same rows
    # (read by ranges: its zip directory, then its parts) updating every record.
    for i, path in enumerate((write_csv(leads, tmp_path / "leads.csv"), write_xlsx(leads, tmp_path / "leads.xlsx"))):
        upload = _upload(url, tenant, path)
        job_id = _job(
            url,
            tenant,
            {"job_type": "import", "upload_id": upload["id"], "target_model": "lead", "duplicate_handling": "update"},
        )
        job = await wait_for_job(pool, tenant.id, job_id)
        assert job["job_status"] == "completed", job
        assert job["total_records"] == job["processed_records"] == ROWS
        assert job["error_records"] == want["failed"]
        if i == 0:
            assert (job["created_records"], job["updated_records"]) == (want["created"], want["updated"])
        else:
            assert job["created_records"] == 0 and job["updated_records"] == ROWS - want["failed"]

    # An export written by a worker into S3, downloaded through the API.
    export_id = _job(url, tenant, {"job_type": "export", "target_model": "lead", "file_format": "csv"})
    export = await wait_for_job(pool, tenant.id, export_id)
    assert export["job_status"] == "completed", export
    r = httpx.get(f"{url}/api/v1/jobs/{export_id}/download", headers=tenant.auth, timeout=60)
    assert r.status_code == 200, r.text
    assert int(r.headers["content-length"]) == len(r.content)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == want["created"] == export["total_records"]
    # The CLI of an operator's machine with its own folder: `crmio download` copies the object out.
    got = subprocess.run(
        [
            str(Path(sys.executable).parent / "crmio"),
            "download",
            export_id,
            "--company",
            tenant.id,
            "--output",
            str(tmp_path),
        ],
        env=worker_env(processes[0]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 0, got.stderr
    assert Path(got.stdout.strip()).read_bytes() == r.content

    # An upload deleted through the API takes its object with it at once.
    spare = _upload(url, tenant, write_csv(make_leads(10, seed=99), tmp_path / "spare.csv"))
    before = keys(s3, tenant.id)
    assert httpx.delete(f"{url}/api/v1/uploads/{spare['id']}", headers=tenant.auth, timeout=30).status_code == 204
    assert len(keys(s3, tenant.id)) == len(before) - 1

    # Everything lives in the bucket under the company's prefix; no process kept a file in its local folder.
    stored = [k.removeprefix(f"{s3.s3_prefix}{tenant.id}/") for k in keys(s3, tenant.id)]
    assert sorted(k.split("/")[0] for k in stored) == ["exports", "uploads", "uploads"], stored
    assert keys(s3) == keys(s3, tenant.id)  # nothing outside the company's prefix
    assert _local_files(processes) == []

    # Retention, on a clock moved past the 30 days of files: the objects go, their rows too.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    [summary] = await retention.purge(pool, s3, later, [tenant.id])
    assert summary["files_purged"] == 3 and summary["uploads_purged"] == 2
    assert keys(s3, tenant.id) == []
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM crm_stored_files WHERE company_id = $1", uuid.UUID(tenant.id))
            == 0
        )
    assert _local_files(processes) == []


def test_a_process_started_on_a_missing_bucket_says_which_setting_to_fix(settings: Settings, tmp_path: Path) -> None:
    s3 = s3_settings(settings).model_copy(update={"s3_bucket": f"missing-{uuid.uuid4().hex[:8]}"})
    done = subprocess.run(
        [str(Path(sys.executable).parent / "crmio"), "jobs", "--company", str(uuid.uuid4())],
        env=worker_env(s3),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CRMIO_S3_BUCKET" in done.stderr and "does not exist" in done.stderr, done.stderr


async def test_result_files_retries_and_drop_folders_work_on_object_storage(
    deployment: Any, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    s3, url, processes = deployment
    tenant = await new_tenant(pool, "object-storage-more")
    leads = make_leads(500, seed=17)
    assert leads.invalid
    upload = _upload(url, tenant, write_csv(leads, tmp_path / "leads.csv"))
    first = await wait_for_job(
        pool,
        tenant.id,
        _job(url, tenant, {"job_type": "import", "upload_id": upload["id"], "target_model": "lead"}),
    )
    assert first["error_records"] == len(leads.invalid), first

    # The error file re-reads the job's stored file from S3: every original column of each failed row.
    r = httpx.get(
        f"{url}/api/v1/jobs/{first['id']}/results", params={"kind": "errors"}, headers=tenant.auth, timeout=60
    )
    assert r.status_code == 200, r.text
    errors = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted({int(e["crmio_row"]) for e in errors}) == sorted(leads.invalid)
    assert all(e["E-mail"] == leads.rows[int(e["crmio_row"]) - 1][2] for e in errors)

    # A retry of the failed rows: its row list is an object, read by the worker's split process.
    r = httpx.post(f"{url}/api/v1/jobs/{first['id']}/retry", headers=tenant.auth, timeout=60)
    assert r.status_code == 201, r.text
    retried = await wait_for_job(pool, tenant.id, r.json()["id"])
    assert retried["job_status"] == "completed" and retried["total_records"] == len(leads.invalid), retried
    assert any("/retries/" in k for k in keys(s3, tenant.id))

    # A scheduled import takes an object dropped under the company's drop/inbox/ prefix.
    dropped = write_csv(make_leads(200, seed=18, invalid_rate=0, dup_rate=0), tmp_path / "dropped.csv")
    client(s3).upload_file(str(dropped), s3.s3_bucket, f"{s3.s3_prefix}{tenant.id}/drop/inbox/dropped.csv")
    r = httpx.post(
        f"{url}/api/v1/schedules",
        headers=tenant.auth,
        json={
            "name": "inbox",
            "cron": "* * * * * */2",
            "job": {"job_type": "import", "target_model": "lead", "folder": "inbox", "duplicate_handling": "update"},
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text

    async def fired() -> list[str]:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id FROM crm_import_export_jobs WHERE company_id = $1 AND options->>'schedule_id' = $2",
                uuid.UUID(tenant.id),
                r.json()["id"],
            )
        return [str(row["id"]) for row in rows]

    [scheduled] = await eventually(fired, 30, "the schedule taking the dropped object", interval_s=0.5)
    done = await wait_for_job(pool, tenant.id, scheduled)
    assert done["job_status"] == "completed" and done["created_records"] == 200, done
    assert not any("/drop/" in k for k in keys(s3, tenant.id))  # moved, not copied
    assert f"{s3.s3_prefix}{tenant.id}/{done['file_path']}" in keys(s3, tenant.id)
    assert _local_files(processes) == []
