"""Where PostgreSQL's share of an import goes: the backend's CPU for each statement of the apply, per row.

The worker's apply path (services.apply.pipeline: prepare_events, then apply_prepared: one transaction a
batch, as a worker runs it) on one connection, without Kafka: the file is read, split and Avro-coded as the
split process does, then applied in batches of ``events_per_batch`` events. Every statement the connection
sends is timed by its backend's CPU clock (/proc/<pid>/schedstat, nanoseconds), grouped by the statement's
first words; the commit is timed apart. Prints µs of PostgreSQL CPU per row and share, largest first.

    .venv/bin/python -m bench.bench_apply_sql [--rows 100000] [--mode update]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from schemas import avro
from schemas.models import get_model
from services.apply.pipeline import JobContexts, apply_prepared, prepare_events
from services.core.db import connect_pool, migrate
from services.core.runtime import Runtime
from services.core.settings import Settings
from services.ingest.reader_limits import reader_limits
from services.ingest.splitter import open_import, split_rows
from services.jobs import repository as jobs
from tests.datagen import make_leads, write_csv

SPENT: collections.Counter[str] = collections.Counter()
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|\(")


def _cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _label(query: str) -> str:
    """The statement's kind and table: "INSERT INTO crm_leads", "SELECT ... FROM crm_import_ledger"."""
    words = [w for w in _WORDS.findall(query) if not w.startswith("__ASYNCPG_SAVEPOINT")]
    head = " ".join(words[:3]).upper() if words else "?"
    table = next((w for w in words if w.startswith(("crm_", "crmio_"))), "")
    return f"{head} … {table}" if table else head


def _timed(method: Callable[..., Awaitable[Any]], label: Callable[..., str]) -> Callable[..., Awaitable[Any]]:
    async def run(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        pid = self.get_server_pid()
        before = _cpu_ns(pid)
        try:
            return await method(self, *args, **kwargs)
        finally:
            SPENT[label(*args, **kwargs)] += _cpu_ns(pid) - before

    return run


def _instrument() -> None:
    conn = asyncpg.connection.Connection
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        setattr(conn, name, _timed(getattr(conn, name), lambda q, *a, **k: _label(q)))
    conn.copy_records_to_table = _timed(conn.copy_records_to_table, lambda table, **k: f"COPY … {table}")
    tx = asyncpg.transaction.Transaction
    tx.__aexit__ = _timed_exit(tx.__aexit__)


def _timed_exit(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def run(self: Any, *args: Any) -> Any:
        pid = self._connection.get_server_pid()
        before = _cpu_ns(pid)
        try:
            return await method(self, *args)
        finally:
            SPENT["COMMIT"] += _cpu_ns(pid) - before

    return run


async def _apply(
    res: Runtime, contexts: JobContexts, settings: Settings, mode: str, encoded: list[bytes], job_id: str, company: str
) -> float:
    """One import job of the company applies the events (rewritten to the job); returns the wall seconds."""
    async with res.system.acquire() as conn:
        await jobs.insert_job(
            conn,
            {
                "id": job_id,
                "company_id": company,
                "job_type": "import",
                "target_model": "lead",
                "file_format": "csv",
                "file_path": "x",
                "duplicate_handling": mode,
                "options": {},
                "queue": settings.topic_prefix,
            },
        )
        await conn.execute("UPDATE crm_import_export_jobs SET job_status = 'running' WHERE id = $1", uuid.UUID(job_id))
    decoded = [{**avro.decode("record_batch", b), "job_id": job_id} for b in encoded]
    started = time.perf_counter()
    step = settings.events_per_batch
    for i in range(0, len(decoded), step):
        await apply_prepared(res, await prepare_events(contexts, decoded[i : i + step]))
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mode", default="update")
    parser.add_argument(
        "--again", action="store_true", help="measure a second import of the same file (its rows then stored)"
    )
    args = parser.parse_args()
    settings = Settings()
    model = get_model("lead")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(make_leads(args.rows, seed=1), Path(tmp) / "leads.csv")
        plan = open_import(
            path, "csv", model, display_name="leads.csv", mapping=None, options={}, limits=reader_limits(settings)
        )
        job_id, company = str(uuid.uuid4()), str(uuid.uuid4())
        encoded = [
            avro.encode("record_batch", e)
            for _, e in split_rows(
                plan,
                model,
                job_id=job_id,
                company_id=company,
                partitions=settings.record_partitions,
                rows_per_event=settings.rows_per_event,
                max_event_bytes=settings.max_event_bytes,
            )
        ]
        plan.close()
    system = await connect_pool(settings.system_dsn(), max_size=1)
    await migrate(system)
    pool = await connect_pool(settings.dsn(), max_size=1)  # the service role, as a worker applies
    res = Runtime(settings, pool, system)
    contexts = JobContexts(res)
    if args.again:
        await _apply(res, contexts, settings, args.mode, encoded, job_id, company)
        job_id = str(uuid.uuid4())
    _instrument()
    wall = await _apply(res, contexts, settings, args.mode, encoded, job_id, company)
    await pool.close()
    await system.close()
    step = settings.events_per_batch
    total = sum(SPENT.values())
    again = ", the file's second import (every row stored)" if args.again else ""
    print(f"{args.rows:,} leads, {args.mode}{again}, batches of {step} events; wall {wall:.1f} s")
    print(f"PostgreSQL CPU of the apply's connection: {total / args.rows / 1000:.1f} µs a row")
    for label, ns in SPENT.most_common():
        print(f"  {ns / args.rows / 1000:6.2f} µs  {100 * ns / total:5.1f} %  {label}")


if __name__ == "__main__":
    asyncio.run(main())
