"""Job control on the running system: admission limits, error policies, rollback and retry."""

from __future__ import annotations

import asyncio
import csv
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.core.errors import FileTooLarge, JobStateError
from services.core.settings import Settings
from services.jobs import ledger_repository, limits, log_repository
from services.jobs import repository as jobs
from tests.integration.conftest import ProgressChangelog, wait_for_job
from tests.integration.test_cli import crmio
from tests.polling import eventually

pytestmark = pytest.mark.integration

HEADER = ["First Name", "Last Name", "E-mail", "Title", "City", "Annual Revenue"]
LEAD_FIELDS = ("first_name", "last_name", "email", "title", "city", "annual_revenue", "version")


def lead_rows(
    n: int, *, start: int = 1, title: str = "Engineer", bad: set[int] = frozenset(), tag: str = ""
) -> list[list[str]]:
    """``n`` leads lead{i}{tag}@example.com; rows whose number (1-based in this file) is in ``bad`` have a broken email."""
    rows = []
    for k in range(n):
        i = start + k
        email = f"lead{i}{tag}@" if k + 1 in bad else f"lead{i}{tag}@example.com"
        rows.append([f"First{i}", f"Last{i}", email, title, "Berlin", str(1000 + i)])
    return rows


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


async def leads(pool: asyncpg.Pool, company: str) -> dict[str, dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT id, {', '.join(LEAD_FIELDS)} FROM crm_leads WHERE company_id = $1", company)
    return {r["email"]: dict(r) for r in rows}


async def job_rows(pool: asyncpg.Pool, company: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM crm_import_export_jobs WHERE company_id = $1 ORDER BY created_at, id", company
        )


# --- admission -----------------------------------------------------------------------------------


async def test_six_jobs_of_two_companies_respect_the_limit_and_keep_their_order(
    pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    companies = [str(uuid.uuid4()), str(uuid.uuid4())]
    submitted: dict[str, list[str]] = {c: [] for c in companies}
    for n in range(3):
        for ci, company in enumerate(companies):
            path = write(tmp_path / f"{ci}-{n}.csv", lead_rows(4000, start=n * 10_000, tag=f"c{ci}"))
            job = await run_import(path, company=company, wait=False)
            submitted[company].append(job["id"])
    for company, ids in submitted.items():
        done = [await wait_for_job(pool, company, i, timeout_s=300) for i in ids]
        assert [d["job_status"] for d in done] == ["completed"] * 3, [d["message"] for d in done]
        assert all(d["created_records"] == 4000 for d in done)
        rows = {str(r["id"]): r for r in await job_rows(pool, company)}
        spans = [(rows[i]["admitted_at"], rows[i]["completed_at"]) for i in ids]
        # Started in submission order...
        assert [s for s, _ in spans] == sorted(s for s, _ in spans)
        # ...and never more than two running at once: the third waits for a slot.
        assert spans[2][0] >= min(spans[0][1], spans[1][1])
        for start, _ in spans:
            assert sum(1 for s, e in spans if s <= start < e) <= 2


async def test_company_limits_refuse_with_the_limit_named(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    async with pool.acquire() as conn:
        await limits.set_company_limits(conn, settings, company, {"max_file_bytes": 2000, "max_rows": 50})
    with pytest.raises(FileTooLarge, match=r"this company's limit is 2,000 bytes \(max_file_bytes\)"):
        await run_import(write(tmp_path / "big.csv", lead_rows(100)), company=company)
    done = await run_import(_narrow(tmp_path / "rows.csv", 60), company=company)
    assert done["job_status"] == "failed" and "50 data rows" in done["message"] and "max_rows" in done["message"]
    assert await leads(pool, company) == {}
    cli = crmio(settings, "limits", "show", "--company", company)
    assert cli.returncode == 0 and orjson.loads(cli.stdout)["max_rows"] == 50


def _narrow(path: Path, n: int) -> Path:
    """n short rows (under 2,000 bytes): only the row limit applies."""
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([["First Name", "Last Name"], *([f"F{i}", f"L{i}"] for i in range(n))])
    assert path.stat().st_size < 2000
    return path


# --- error policies ------------------------------------------------------------------------------


async def test_stop_after_n_errors(pool: asyncpg.Pool, run_import: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    bad = set(range(5, 20_001, 10))  # one row in ten is broken: 2,000 errors in all
    done = await run_import(
        write(tmp_path / "bad.csv", lead_rows(20_000, bad=bad)),
        company=company,
        options={"error_policy": {"mode": "stop", "max_errors": 50}},
    )
    assert done["job_status"] == "failed" and "max_errors" in done["message"]
    # Exactly 50 failed rows reported, the 51st not applied, nor anything after it.
    assert done["error_records"] == 50 and done["processed_records"] < 20_000
    async with pool.acquire() as conn:
        ledger = await ledger_repository.ledger_counts(conn, company, done["id"])
    assert done["processed_records"] == sum(ledger.values()) and done["error_records"] == ledger["failed"]
    assert len(await leads(pool, company)) == done["created_records"] == ledger["created"]
    await asyncio.sleep(2)  # an observation period, not a wait: nothing may be applied after the stop
    assert len(await leads(pool, company)) == ledger["created"]


async def test_all_or_nothing_with_one_bad_row_changes_nothing(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    seeded = await run_import(write(tmp_path / "seed.csv", lead_rows(500)), company=company)
    assert seeded["created_records"] == 500
    before = await leads(pool, company)
    rows = lead_rows(3000, title="Director", bad={2222})  # updates the 500, creates 2,500, one row broken
    done = await run_import(
        write(tmp_path / "aon.csv", rows),
        company=company,
        duplicates="update",
        options={"error_policy": {"mode": "all_or_nothing"}},
    )
    assert done["job_status"] == "failed" and "all-or-nothing" in done["message"]
    assert done["error_records"] == 1 and done["created_records"] == 0 and done["updated_records"] == 0
    assert await leads(pool, company) == before  # no CRM row created or changed
    async with pool.acquire() as conn:
        logs = await log_repository.list_logs(conn, company, done["id"], level="error")
    assert [log["record_number"] for log in logs] == [2222]
    refused = crmio(settings, "rollback", done["id"], "--company", company)
    assert refused.returncode == 2 and "nothing to roll back" in refused.stderr


async def test_all_or_nothing_applies_a_clean_file(pool: asyncpg.Pool, run_import: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    done = await run_import(
        write(tmp_path / "ok.csv", lead_rows(3000)),
        company=company,
        options={"error_policy": {"mode": "all_or_nothing"}},
    )
    assert done["job_status"] == "completed", done["message"]
    assert done["created_records"] == done["processed_records"] == 3000 and done["error_records"] == 0
    assert len(await leads(pool, company)) == 3000
    async with pool.acquire() as conn:
        assert sum((await ledger_repository.ledger_counts(conn, company, done["id"])).values()) == 3000


# --- rollback ------------------------------------------------------------------------------------


async def test_rollback_restores_before_images_and_reports_conflicts(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    await run_import(write(tmp_path / "seed.csv", lead_rows(3000, title="Engineer")), company=company)
    before = await leads(pool, company)
    # Update mode: 3,000 updated (new title and revenue), 1,000 created.
    update_rows = [[*r[:3], "Director", r[4], str(int(r[5]) * 2)] for r in lead_rows(4000)]
    job = await run_import(write(tmp_path / "upd.csv", update_rows), company=company, duplicates="update")
    assert (job["updated_records"], job["created_records"]) == (3000, 1000)
    edited = "lead17@example.com"
    async with pool.acquire() as conn:  # someone edits one record after the import
        await conn.execute(
            "UPDATE crm_leads SET title = 'Edited later', version = version + 1 WHERE company_id = $1 AND email = $2",
            company,
            edited,
        )

    done = crmio(settings, "rollback", job["id"], "--company", company, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    rb = orjson.loads(done.stdout)
    assert rb["job_type"] == "rollback" and rb["job_status"] == "completed"
    assert (rb["total_records"], rb["success_records"], rb["error_records"]) == (4000, 3999, 1)
    after = await leads(pool, company)
    assert set(after) == set(before)  # the 1,000 created records are gone
    for email, rec in before.items():
        if email == edited:
            assert after[email]["title"] == "Edited later"  # the conflict is left alone
            continue
        restored = {k: v for k, v in after[email].items() if k != "version"}
        assert restored == {k: v for k, v in rec.items() if k != "version"}
    async with pool.acquire() as conn:
        warnings = await log_repository.list_logs(conn, company, rb["id"], level="warning")
    assert (
        len(warnings) == 1
        and warnings[0]["record_number"] == 17
        and "changed after the import" in warnings[0]["message"]
    )

    again = orjson.loads(crmio(settings, "rollback", job["id"], "--company", company, "--wait", "--json").stdout)
    assert again["job_status"] == "completed" and again["success_records"] == 0 and again["error_records"] == 1
    assert await leads(pool, company) == after  # a second rollback changes nothing

    forced = orjson.loads(
        crmio(settings, "rollback", job["id"], "--company", company, "--force", "--wait", "--json").stdout
    )
    assert forced["success_records"] == 1
    assert (await leads(pool, company))[edited]["title"] == "Engineer"


async def test_rollback_refusals(settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    dry = await run_import(write(tmp_path / "d.csv", lead_rows(10)), company=company, options={"dry_run": True})
    async with pool.acquire() as conn:
        from services.jobs.rollback import create_rollback_job

        with pytest.raises(JobStateError, match="nothing to roll back"):
            await create_rollback_job(conn, company, dry["id"], force=False)
    foreign = crmio(settings, "rollback", dry["id"], "--company", str(uuid.uuid4()))
    assert foreign.returncode == 2 and "no job" in foreign.stderr


# --- retry ---------------------------------------------------------------------------------------


async def test_retry_failed_rows_with_a_corrected_mapping_and_with_a_fixed_file(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    bad = {3, 8, 9, 15}
    header = [*HEADER, "Other Mail"]
    rows = [[*r, f"other{n + 1}@example.com"] for n, r in enumerate(lead_rows(20, bad=bad))]
    mapping = {"First Name": "first_name", "Last Name": "last_name", "E-mail": "email", "Title": "title"}
    first = await run_import(write(tmp_path / "m.csv", rows, header), company=company, mapping=mapping)
    assert first["error_records"] == 4 and first["created_records"] == 16

    fixed_mapping = {**mapping, "E-mail": None, "Other Mail": "email"}
    done = crmio(
        settings,
        "retry",
        first["id"],
        "--company",
        company,
        "--wait",
        "--json",
        "--mapping",
        orjson.dumps({k: v for k, v in fixed_mapping.items() if v}).decode(),
    )
    assert done.returncode == 0, done.stderr
    retry = orjson.loads(done.stdout)
    assert retry["total_records"] == 4 and retry["created_records"] == 4 and retry["error_records"] == 0
    assert retry["options"]["retry_of"] == first["id"]
    async with pool.acquire() as conn:
        numbers = sorted(
            r["record_number"]
            for r in await conn.fetch(
                "SELECT record_number FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(retry["id"])
            )
        )
    assert numbers == sorted(bad)  # only the failed rows, under their own row numbers
    assert {f"other{n}@example.com" for n in bad} <= set(await leads(pool, company))

    # The other way: the fixed error report (columns are field names; the error column maps to nothing).
    second = await run_import(write(tmp_path / "n.csv", lead_rows(10, start=100, bad={2, 4})), company=company)
    assert second["error_records"] == 2
    report = write(
        tmp_path / "fixed-errors.csv",
        [
            ["First101", "Last101", "lead101@example.com", "row 2: fixed"],
            ["First103", "Last103", "lead103@example.com", "row 4: fixed"],
        ],
        ["first_name", "last_name", "email", "error"],
    )
    done = crmio(settings, "retry", second["id"], "--company", company, "--file", str(report), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["created_records"] == 2
    assert {"lead101@example.com", "lead103@example.com"} <= set(await leads(pool, company))
    clean = crmio(settings, "retry", retry["id"], "--company", company)
    assert clean.returncode == 2 and "no failed rows" in clean.stderr


# --- stalled imports ------------------------------------------------------------------------------


async def test_an_import_whose_rows_stopped_arriving_is_read_again_and_completes_exactly(
    settings: Settings,
    pool: asyncpg.Pool,
    kafka_producer: Any,
    worker: Any,
    progress_changelog: ProgressChangelog,
    tmp_path: Path,
) -> None:
    """Half of a file's record events never reach the database (as when a batch is lost with a dying
    worker): once the job has been quiet for the stall time, a worker reads the file again and only the
    missing rows are applied."""
    import time

    from schemas import avro
    from schemas.models import get_model
    from schemas.topics import IMPORT_RECORDS, IMPORT_RESULTS
    from services.core import storage
    from services.core.kafka_io import publish
    from services.ingest.reader_limits import reader_limits
    from services.ingest.splitter import open_import, split_rows

    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    path = write(tmp_path / "half.csv", lead_rows(2000))
    rel = storage.store_file(settings.storage_dir, company, path, suffix=".csv")
    async with pool.acquire() as conn:
        await jobs.insert_job(
            conn,
            {
                "id": job_id,
                "company_id": company,
                "job_type": "import",
                "target_model": "lead",
                "file_format": "csv",
                "file_path": rel,
                "original_filename": "half.csv",
                "queue": settings.topic_prefix,
            },
        )
        await conn.execute(
            "UPDATE crm_import_export_jobs SET job_status = 'running', admitted_at = now(), "
            "started_at = now() WHERE id = $1",
            uuid.UUID(job_id),
        )
    model = get_model("lead")
    plan = open_import(
        path, "csv", model, display_name="half.csv", mapping=None, options={}, limits=reader_limits(settings)
    )
    now = lambda: int(time.time() * 1000)  # noqa: E731
    await publish(
        kafka_producer,
        settings,
        IMPORT_RESULTS,
        job_id,
        {"job_id": job_id, "company_id": company, "kind": "started", "at": now()},
    )
    try:  # only rows 1..1000 are sent, as if the other record events had been lost
        for partition, event in split_rows(
            plan,
            model,
            job_id=job_id,
            company_id=company,
            partitions=settings.record_partitions,
            rows_per_event=100,
            max_event_bytes=settings.max_event_bytes,
            only=frozenset(range(1, 1001)),
        ):
            await kafka_producer.send_and_wait(
                settings.topic(IMPORT_RECORDS.name),
                avro.encode(IMPORT_RECORDS.schema, event),
                key=f"{job_id}:{partition}".encode(),
                partition=partition,
            )
    finally:
        plan.close()
    await publish(
        kafka_producer,
        settings,
        IMPORT_RESULTS,
        job_id,
        {"job_id": job_id, "company_id": company, "kind": "split_done", "total": 2000, "at": now()},
    )
    deadline = time.monotonic() + 60
    while True:
        async with pool.acquire() as conn:
            applied = sum((await ledger_repository.ledger_counts(conn, company, job_id)).values())
        if applied == 1000:
            break
        assert time.monotonic() < deadline, applied
        await asyncio.sleep(0.2)
    # The aggregator has taken in the last results: a progress write after the backdating below would undo it.
    await eventually(
        lambda: progress_changelog.latest_if(job_id, processed=1000, total=2000),
        30,
        "the aggregator counting the 1,000 applied rows of 2,000",
    )
    async with pool.acquire() as conn:
        row = await jobs.get_job(conn, company, job_id)
    assert row["job_status"] == "running" and row["total_records"] == 2000
    async with pool.acquire() as conn:  # quiet for longer than the stall time
        await conn.execute(
            "UPDATE crm_import_export_jobs SET updated_at = now() - interval '1 hour' WHERE id = $1", uuid.UUID(job_id)
        )
    done = await wait_for_job(pool, company, job_id, timeout_s=120)
    assert done["job_status"] == "completed", done
    assert (done["processed_records"], done["created_records"], done["error_records"]) == (2000, 2000, 0)
    assert len(await leads(pool, company)) == 2000
    async with pool.acquire() as conn:
        assert sum((await ledger_repository.ledger_counts(conn, company, job_id)).values()) == 2000


# --- jobs run in the background of a worker --------------------------------------------------------


async def test_a_long_export_does_not_hold_up_an_import_on_the_same_worker(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, run_import: Any, tmp_path: Path
) -> None:
    from services.exports import submit_export

    exporter, importer = str(uuid.uuid4()), str(uuid.uuid4())
    await write_leads(pool, exporter, 60_000)
    export = await submit_export(
        settings,
        pool,
        kafka_producer,
        company_id=exporter,
        model="lead",
        file_format="pdf",
        fields=None,
        filters=None,
        sort=["email"],
    )
    deadline = asyncio.get_running_loop().time() + 60
    while (await jobs_row(pool, exporter, export["id"]))["processed_records"] == 0:  # the export is running
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    done = await run_import(write(tmp_path / "small.csv", lead_rows(50)), company=importer)
    assert done["job_status"] == "completed" and done["created_records"] == 50
    assert (await jobs_row(pool, exporter, export["id"]))["job_status"] == "running"  # still writing its pages
    assert (await wait_for_job(pool, exporter, export["id"], timeout_s=180))["job_status"] == "completed"


async def jobs_row(pool: asyncpg.Pool, company: str, job_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await jobs.get_job(conn, company, job_id)


@pytest.mark.parametrize("job_type", ["export", "import"])
async def test_a_job_whose_runner_died_is_started_again(
    settings: Settings, pool: asyncpg.Pool, worker: Any, job_type: str, tmp_path: Path
) -> None:
    """A running job whose heartbeat stopped (its worker died mid-run; nothing on Kafka will start it
    again, since runs acknowledge their start request when they start) is started again and completes."""
    from services.core import storage

    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    job: dict[str, Any] = {
        "id": job_id,
        "company_id": company,
        "job_type": job_type,
        "target_model": "lead",
        "queue": settings.topic_prefix,
    }
    if job_type == "import":
        rel = storage.store_file(
            settings.storage_dir, company, write(tmp_path / "died.csv", lead_rows(300)), suffix=".csv"
        )
        job |= {"file_format": "csv", "file_path": rel, "original_filename": "died.csv"}
    else:
        await write_leads(pool, company, 300)
        job |= {"file_format": "csv", "file_path": "", "options": {"fields": ["email"], "filters": [], "sort": []}}
    async with pool.acquire() as conn:
        await jobs.insert_job(conn, job)
        await conn.execute(
            "UPDATE crm_import_export_jobs SET job_status = 'running', admitted_at = now(), "
            "started_at = now(), heartbeat_at = now() - interval '1 hour' WHERE id = $1",
            uuid.UUID(job_id),
        )
    done = await wait_for_job(pool, company, job_id, timeout_s=60)
    assert done["job_status"] == "completed", done
    assert done["processed_records"] == 300


async def write_leads(pool: asyncpg.Pool, company: str, n: int) -> None:
    from schemas.models import get_model
    from services.cleansing.cleaning import match_key

    lead = get_model("lead")
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, match_key, first_name, last_name, email) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (
                    uuid.uuid4(),
                    company,
                    match_key(lead, {"email": f"w{i}@example.com"}),
                    f"F{i}",
                    f"L{i}",
                    f"w{i}@example.com",
                )
                for i in range(n)
            ],
        )


async def test_a_rollback_run_twice_at_once_reverts_each_record_once(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    """Its start request delivered again while the first run still works (a frozen worker, then the
    stall check): both runs revert chunks, each record once, no conflict is invented, one ending."""
    from services.core.db import connect_pool
    from services.core.runtime import Runtime
    from services.jobs.rollback import create_rollback_job, run_rollback_request

    company = str(uuid.uuid4())
    await run_import(write(tmp_path / "seed.csv", lead_rows(3000, title="Engineer")), company=company)
    before = await leads(pool, company)
    # 3,000 records updated (a restore each: a second revert would find a newer version), 2,000 created.
    imported = await run_import(
        write(tmp_path / "twice.csv", lead_rows(5000, title="Director")), company=company, duplicates="update"
    )
    assert (imported["updated_records"], imported["created_records"]) == (3000, 2000)
    async with pool.acquire() as conn:
        rollback_id = await create_rollback_job(conn, company, imported["id"], force=False)
        await conn.execute(
            "UPDATE crm_import_export_jobs SET job_status = 'running', admitted_at = now(), "
            "started_at = now() WHERE id = $1",
            uuid.UUID(rollback_id),
        )  # admitted, by hand
    app_pool = await connect_pool(settings.dsn(), max_size=4)
    sent: list[dict[str, Any]] = []

    async def send_status(event: dict[str, Any]) -> None:
        sent.append(event)

    try:
        res = Runtime(settings.model_copy(update={"rollback_chunk_rows": 500}), app_pool, pool)
        req = {"job_id": rollback_id, "company_id": company, "admitted": True}
        await asyncio.gather(run_rollback_request(res, req, send_status), run_rollback_request(res, req, send_status))
    finally:
        await app_pool.close()
    done = await wait_for_job(pool, company, rollback_id, timeout_s=5)
    assert done["job_status"] == "completed", done
    after = await leads(pool, company)
    assert set(after) == set(before)
    assert all(after[e]["title"] == "Engineer" for e in before)
    async with pool.acquire() as conn:
        logs = await log_repository.list_logs(conn, company, rollback_id)
        reverted = await conn.fetchval(
            "SELECT count(*) FROM crm_import_ledger WHERE job_id = $1 AND rolled_back_by = $2",
            uuid.UUID(imported["id"]),
            uuid.UUID(rollback_id),
        )
    assert reverted == 5000
    assert [entry["log_level"] for entry in logs] == ["info"]  # no conflict invented, one summary
    assert {e["job_status"] for e in sent if e["job_status"] != "running"} == {"completed"}
