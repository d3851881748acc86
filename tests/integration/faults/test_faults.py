"""The fault suite: a 200k-row import in each duplicate mode survives a killed worker, a killed broker,
PostgreSQL restarting in immediate mode, a worker joining and leaving, and a worker frozen past the
session timeout — with nothing lost, nothing applied twice, exact counters, one error log per
invalid row and the before-images a rollback needs.

Each run appends its outcome to var/reliability/faults.jsonl; `python -m bench.fault_table` prints
the table (and runs the suite first with --run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.core.db import connect_pool
from services.core.kafka_io import producer
from services.core.settings import Settings
from services.ingest.submit import submit_import
from stack import local as stack
from tests.datagen import LeadFile, expected
from tests.integration.faults.conftest import RESULTS, ROWS, SESSION_TIMEOUT_S, START_AT, Workers
from tests.integration.test_import_pipeline import seed, stored_state

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def _fresh_pool(settings: Settings) -> asyncpg.Pool:
    """The owner's pool (the test checks state across companies), made again until PostgreSQL answers."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return await connect_pool(settings.system_dsn(), max_size=2, timeout_s=5)
        except Exception:  # noqa: BLE001 - the server is restarting
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _applied(settings: Settings, job_id: str) -> int:
    """Ledger rows of the job (retried across a database restart)."""
    while True:
        try:
            conn = await asyncpg.connect(settings.system_dsn(), timeout=5)
            try:
                return int(
                    await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job_id))
                )
            finally:
                await conn.close()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)


async def _wait_applied(settings: Settings, job_id: str, at_least: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while (n := await _applied(settings, job_id)) < at_least:
        assert time.monotonic() < deadline, f"only {n} rows applied after {timeout_s} s"
        await asyncio.sleep(0.2)


class _Sampler:
    """Samples the job's applied rows from the fault on: the longest stretch without progress is the stall."""

    def __init__(self, settings: Settings, job_id: str) -> None:
        self.settings, self.job_id = settings, job_id
        self.samples: list[tuple[float, int]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), await _applied(self.settings, self.job_id)))
            await asyncio.sleep(0.2)

    async def stop(self) -> float:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        longest, last_t, last_n = 0.0, *self.samples[0]
        for t, n in self.samples[1:]:
            if n > last_n or n >= ROWS:
                longest = max(longest, t - last_t)
                last_t, last_n = t, n
                if n >= ROWS:
                    break
        return longest


async def _wait_final(
    settings: Settings, company: str, job_id: str, timeout_s: float = 400, workers: Workers | None = None
) -> asyncpg.Record:
    deadline, row = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(settings.system_dsn(), timeout=5)
            try:
                row = await conn.fetchrow(
                    "SELECT * FROM crm_import_export_jobs WHERE company_id = $1 AND id = $2",
                    uuid.UUID(company),
                    uuid.UUID(job_id),
                )
            finally:
                await conn.close()
            if row is not None and row["job_status"] in ("completed", "failed", "cancelled"):
                return row
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pass
        await asyncio.sleep(0.5)
    state = ("job_status", "admitted_at", "started_at", "processed_records", "heartbeat_at", "message")
    seen = {k: row[k] for k in state} if row else None
    detail = f"\n{await asyncio.to_thread(workers.diagnose, about=job_id)}" if workers is not None else ""
    raise AssertionError(f"job {job_id} of company {company} did not finish within {timeout_s} s: {seen}{detail}")


# --- the faults: each returns when the fault is over (healed) ---------------------------------------


async def kill_worker(settings: Settings, workers: Workers) -> None:
    workers.signal(workers.procs[0], signal.SIGKILL)
    workers.procs[0].wait()
    await asyncio.sleep(1)  # the fault's duration (the behaviour under test), not a wait
    await workers.start_async()


async def kill_broker(settings: Settings, workers: Workers) -> None:
    await asyncio.to_thread(stack.kafka_stop, settings, kill=True)
    await asyncio.sleep(3)  # the fault's duration (the behaviour under test), not a wait
    await asyncio.to_thread(stack.kafka_start, settings)


async def restart_postgres(settings: Settings, workers: Workers) -> None:
    await asyncio.to_thread(stack.postgres_stop, settings, mode="immediate")
    await asyncio.to_thread(stack.postgres_start, settings)


async def rebalance(settings: Settings, workers: Workers) -> None:
    second = await workers.start_async()
    await asyncio.sleep(6)  # the second worker takes partitions and applies some batches
    workers.signal(second, signal.SIGTERM)
    await asyncio.to_thread(second.wait, 60)


async def freeze_worker(settings: Settings, workers: Workers) -> None:
    workers.signal(workers.procs[0], signal.SIGSTOP)
    await asyncio.sleep(SESSION_TIMEOUT_S + 4)  # past the session timeout: the group evicts it
    workers.signal(workers.procs[0], signal.SIGCONT)


FAULTS: dict[str, Callable[[Settings, Workers], Awaitable[None]]] = {
    "worker SIGKILL + restart": kill_worker,
    "broker SIGKILL + restart": kill_broker,
    "PostgreSQL immediate restart": restart_postgres,
    "second worker joins, then leaves": rebalance,
    "worker SIGSTOP past session timeout": freeze_worker,
}


def _record(result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")


@pytest.mark.parametrize("mode", ["skip", "update", "create_new"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_import_survives(
    fault: str, mode: str, fault_topics: Settings, workers: Workers, lead_file: LeadFile, lead_csv: Path
) -> None:
    settings = fault_topics
    company = str(uuid.uuid4())
    pool = await _fresh_pool(settings)
    result: dict[str, Any] = {
        "fault": fault,
        "mode": mode,
        "rows": ROWS,
        "outcome": "FAILED",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        await seed(pool, company, lead_file)
        want_state, want = expected(lead_file, mode)
        await workers.start_async()
        started = time.monotonic()
        async with producer(settings) as prod:
            job = await submit_import(
                settings, pool, prod, company_id=company, path=lead_csv, model="lead", duplicates=mode
            )
        await _wait_applied(settings, job["id"], int(ROWS * START_AT))
        before = await _applied(settings, job["id"])
        sampler = _Sampler(settings, job["id"])
        struck = time.monotonic()
        await FAULTS[fault](settings, workers)
        healed = time.monotonic()
        row = await _wait_final(settings, company, job["id"], workers=workers)
        result.update(
            fault_s=round(healed - struck, 1),
            longest_stall_s=round(await sampler.stop(), 1),
            total_s=round(time.monotonic() - started, 1),
            applied_at_fault=before,
            gaps_read_again=_gaps_read_again(workers),
        )
        await pool.close()
        pool = await _fresh_pool(settings)

        assert row["job_status"] == "completed", dict(row)
        assert (row["total_records"], row["processed_records"]) == (ROWS, ROWS)
        assert row["error_records"] == want["failed"] == len(lead_file.invalid)
        assert (row["created_records"], row["updated_records"], row["skipped_records"]) == (
            want["created"],
            want["updated"],
            want["skipped"],
        )
        assert await stored_state(pool, company) == want_state  # none lost, none twice
        async with pool.acquire() as conn:
            errors = await conn.fetch(
                "SELECT record_number FROM crm_import_export_logs WHERE job_id = $1 AND log_level = 'error'",
                uuid.UUID(job["id"]),
            )
            ledger = await conn.fetchrow(
                "SELECT count(*) AS n, count(DISTINCT record_number) AS distinct_n, "
                "count(*) FILTER (WHERE outcome = 'updated' AND before_image IS NULL) AS missing_images, "
                "count(*) FILTER (WHERE outcome = 'updated' AND before_image->>'title' LIKE 'Stored title %') AS stored_images "
                "FROM crm_import_ledger WHERE job_id = $1",
                uuid.UUID(job["id"]),
            )
        assert sorted(r["record_number"] for r in errors) == sorted(lead_file.invalid)  # one per invalid row
        assert ledger["n"] == ledger["distinct_n"] == ROWS
        assert ledger["missing_images"] == 0
        if mode == "update":  # every stored record the file matched keeps its pre-import image for rollback
            assert ledger["stored_images"] >= len(_matched(lead_file))
        result["outcome"] = "ok"
    finally:
        result.setdefault("fault_s", None)
        _record(result)
        await pool.close()


def _gaps_read_again(workers: Workers) -> int:
    """Partitions a worker sought back because an event arrived after a gap (services/apply/partition_order.py)."""
    return sum(
        log.read_text(errors="replace").count("an event arrived after a gap")
        for log in workers.logs.glob("worker*.log")
    )


def _matched(lf: LeadFile) -> set[str]:
    """Stored emails the file's valid rows refer to (case and spaces aside)."""
    emails = {r[2].strip().lower() for n, r in enumerate(lf.rows, 1) if n not in lf.invalid}
    return {e for e in lf.stored if e in emails}


async def test_an_export_survives_its_worker_being_killed(fault_topics: Settings, workers: Workers) -> None:
    """A 100k-row PDF export whose worker is killed part way: a new worker finds the job's heartbeat stale,
    runs the export again and completes it; the killed run's partial file is removed."""
    import pypdf

    from schemas.models import get_model
    from services.cleansing.cleaning import match_key
    from services.core import storage
    from services.exports import submit_export

    settings = fault_topics
    company, lead = str(uuid.uuid4()), get_model("lead")
    pool = await _fresh_pool(settings)
    try:
        emails = [f"x{i:06d}@example.com" for i in range(100_000)]
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "crm_leads",
                columns=["id", "company_id", "match_key", "first_name", "last_name", "email"],
                records=[
                    (uuid.uuid4(), uuid.UUID(company), match_key(lead, {"email": e}), "First", f"Last {i}", e)
                    for i, e in enumerate(emails)
                ],
            )
        await workers.start_async()
        async with producer(settings) as prod:
            job = await submit_export(
                settings,
                pool,
                prod,
                company_id=company,
                model="lead",
                file_format="pdf",
                fields=["email", "first_name", "last_name"],
                filters=None,
                sort=["email"],
            )
        deadline = time.monotonic() + 120
        while True:
            async with pool.acquire() as conn:
                processed = await conn.fetchval(
                    "SELECT processed_records FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(job["id"])
                )
            if processed >= 20_000:
                break
            assert time.monotonic() < deadline, f"the export did not get going ({processed} rows)"
            await asyncio.sleep(0.1)
        await kill_worker(settings, workers)
        row = await _wait_final(settings, company, job["id"], timeout_s=300, workers=workers)
        assert row["job_status"] == "completed", dict(row)
        assert row["processed_records"] == row["total_records"] == 100_000
        path = storage.resolve(settings.storage_dir, company, row["file_path"])
        reader = pypdf.PdfReader(path, strict=True)
        assert emails[0] in reader.pages[0].extract_text() and emails[-1] in reader.pages[-1].extract_text()
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # the killed run's partial file is gone
    finally:
        await pool.close()


async def test_no_job_is_lost_while_workers_keep_joining_and_leaving(
    fault_topics: Settings, workers: Workers, tmp_path: Path
) -> None:
    """Ten times a second worker joins and leaves while imports are requested and admitted, from the CLI's path and
    from another system over Kafka: Faust passed over job requests around such rebalances (a start
    request never delivered left its job 'running' forever). Every job completes, with exact counts.
    Whether Faust passes over a request in a given run is chance (it did in two of two CPU-loaded
    runs of a longer loop); test_partition_order.py makes it certain."""
    import random

    from services.core import storage
    from tests.integration.test_job_control import lead_rows, write
    from tests.integration.test_kafka_interface import CSV, publish_request

    settings, rng = fault_topics, random.Random(7)
    company = str(uuid.uuid4())
    source = tmp_path / "from-crm.csv"
    source.write_text(CSV, encoding="utf-8")
    pool = await _fresh_pool(settings)
    submitted: list[tuple[str, str, int]] = []  # company, job id, leads it creates
    try:
        await workers.start_async()
        async with producer(settings) as prod:
            for cycle in range(10):
                second = await workers.start_async()
                for k in range(5):  # more than the company may run at once: admissions go on across the rebalance
                    path = write(tmp_path / f"c{cycle}-{k}.csv", lead_rows(40, tag=f"c{cycle}k{k}"))
                    job = await submit_import(settings, pool, prod, company_id=company, path=path, model="lead")
                    submitted.append((company, job["id"], 40))
                other = str(uuid.uuid4())  # the same two rows each time: a company of their own
                stored = storage.store_file(settings.storage_dir, other, source, suffix=".csv")
                submitted.append((other, await publish_request(settings, prod, other, stored), 1))
                await asyncio.sleep(rng.uniform(0.5, 4))
                workers.signal(second, signal.SIGTERM)
                await asyncio.to_thread(second.wait, 60)
        settled = time.monotonic()
        for owner, job_id, created in submitted:
            # No job may be lost; one can take a stalled-job restart or two (stall_resume_s) to end.
            row = await _wait_final(settings, owner, job_id, workers=workers)
            assert (row["job_status"], row["created_records"]) == ("completed", created), dict(row)
        last_s = time.monotonic() - settled
    finally:
        await pool.close()
    logs = [log.read_text(errors="replace") for log in workers.logs.glob("worker*.log")]
    passed_over = sum(text.count("reading again from offset") for text in logs)
    restarts = sum(text.count("stalled job(s) again") for text in logs)
    print(
        f"{len(submitted)} jobs over 10 rebalances, all exact, the last ended {last_s:.1f} s after the last "
        f"rebalance; partitions read again: {passed_over}; stalled-job restarts: {restarts}"
    )
