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

from bench.bench_stages import split_leads, start_import
from schemas import avro
from services.apply.pipeline import JobContexts, apply_prepared, prepare_events
from services.core.db import connect_pool, migrate
from services.core.runtime import Runtime
from services.core.settings import Settings
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


def _timed(
    method: Callable[..., Awaitable[Any]],
    label: Callable[..., str],
    connection: Callable[[Any], asyncpg.Connection] = lambda self: self,
) -> Callable[..., Awaitable[Any]]:
    """``method`` counting its backend's CPU under ``label(*args)``; ``connection`` finds the backend's
    connection from the object the method is called on."""

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        pid = connection(self).get_server_pid()
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
    tx.__aexit__ = _timed(tx.__aexit__, lambda *a: "COMMIT", lambda t: t._connection)


async def _apply(
    res: Runtime, contexts: JobContexts, settings: Settings, mode: str, encoded: list[bytes], job_id: str, company: str
) -> float:
    """One import job of the company applies the events (rewritten to the job); returns the wall seconds."""
    await start_import(res.system, settings, job_id, company, mode)
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
    job_id, company = str(uuid.uuid4()), str(uuid.uuid4())
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(make_leads(args.rows, seed=1), Path(tmp) / "leads.csv")
        encoded = [avro.encode("record_batch", e) for e in split_leads(settings, path, job_id, company)]
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
