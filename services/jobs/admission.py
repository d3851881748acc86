"""Admission: which pending jobs may start now, oldest first, within each company's running limit and the global cap.

Every job (import, export, rollback; from the API, the CLI, Kafka or a schedule) is a pending row
first. An admission pass, under one advisory lock shared by every worker, marks the chosen jobs
running and publishes a start request (``admitted``) for each before it commits. The handler of a
start request takes the same lock before it reads the job, so it never sees the job before the
pass commits; a pass that fails to commit leaves its jobs pending and their start requests
ignored. Passes run when a request arrives and on a timer, so a freed slot is taken within the
admission interval. A deployment (its topic prefix, the job's ``queue``) admits only its own jobs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from schemas import events
from services.core.settings import Settings
from services.jobs import repository as jobs
from services.jobs.limits import CompanyLimits, limits_for

__all__ = ["Pending", "choose", "run_admission", "confirm_start", "start_request", "resume_stalled", "ADMISSION_LOCK"]

# pg_advisory_xact_lock key of the admission pass ("crmio" in ASCII).
ADMISSION_LOCK = 0x63726D696F
log = logging.getLogger(__name__)
_PASS_SIZE = 500
# Candidates of one company in a pass: more than any company's free slots, bounded so that one
# company's queue costs a pass at most this many rows.
_PER_COMPANY = 100
_SEND_TIMEOUT_S = 10.0

SendRequest = events.SendJobRequest


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    company_id: str


def choose(
    pending: Sequence[Pending], running: Counter[str], limits: dict[str, CompanyLimits], global_cap: int
) -> list[str]:
    """Ids of the pending jobs (given in turns by company, see jobs.pending_for_admission) that start now.

    A company at its limit does not hold up the others; within a company, jobs start in order.
    """
    running = Counter(running)
    total = sum(running.values())
    chosen = []
    for job in pending:
        if total >= global_cap:
            break
        if running[job.company_id] >= limits[job.company_id].max_running_jobs:
            continue
        chosen.append(job.id)
        running[job.company_id] += 1
        total += 1
    return chosen


def start_request(job: asyncpg.Record) -> events.JobRequest:
    """The request that starts an admitted job (everything the worker needs is on the row)."""
    return events.job_request(job, requested_at=int(job["created_at"].timestamp() * 1000), admitted=True)


async def run_admission(pool: asyncpg.Pool, settings: Settings, send_request: SendRequest) -> list[str]:
    """One admission pass; returns the ids of the jobs it started."""
    async with pool.acquire() as conn, conn.transaction():
        # The lock stops every worker's admission while this pass waits for the broker: a worker that
        # hangs or freezes here must not hold it for long, so PostgreSQL ends such a session.
        await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{int(_SEND_TIMEOUT_S * 2)}s'")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMISSION_LOCK)
        queue = settings.topic_prefix
        pending = [
            Pending(str(r["id"]), str(r["company_id"]))
            for r in await jobs.pending_for_admission(conn, queue, _PASS_SIZE, _PER_COMPANY)
        ]
        if not pending:
            return []
        running = Counter({str(r["company_id"]): r["n"] for r in await jobs.running_per_company(conn, queue)})
        limits = await limits_for(conn, settings, {p.company_id for p in pending})
        chosen = choose(pending, running, limits, settings.max_running_jobs_total)
        if not chosen:
            return []
        rows = await jobs.admit_jobs(conn, [uuid.UUID(i) for i in chosen])
        # heartbeat_at: a start request no worker runs (one dying as it took it) is sent again
        # once this is stall_resume_s old, like a run whose heartbeat stopped.
        order = {i: n for n, i in enumerate(chosen)}
        started = []
        for row in sorted(rows, key=lambda r: order[str(r["id"])]):
            request = start_request(row)
            try:  # a job whose stored definition cannot be sent fails alone, not every pass after it
                events.encode_job_request(request)
            except (TypeError, ValueError, AttributeError) as exc:
                message = f"the job could not be started: its definition does not fit the job request event ({exc})"
                await jobs.finish_job(
                    conn, str(row["company_id"]), str(row["id"]), "failed", None, message, dt.datetime.now(dt.UTC)
                )
                log.warning("admission: job %s failed alone: %s", row["id"], message)
                continue
            # Acknowledged before the commit (see the module doc); no answer in time rolls the pass back.
            await asyncio.wait_for(send_request(request), _SEND_TIMEOUT_S)
            started.append(str(row["id"]))
        return started


async def confirm_start(pool: asyncpg.Pool, company_id: str, job_id: str) -> asyncpg.Record | None:
    """The job row as an admission pass committed it: run it only when it is 'running' (not cancelled
    meanwhile, nor left pending by a pass that rolled back)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMISSION_LOCK)
        return await jobs.get_job_row(conn, uuid.UUID(company_id), uuid.UUID(job_id))


async def resume_stalled(pool: asyncpg.Pool, settings: Settings, send_request: SendRequest) -> list[str]:
    """Start again the running jobs that stopped moving: runs are idempotent, so a second one is safe.

    - An import whose whole file was read but whose rows stopped arriving. Delivery is at least
      once, but a batch went missing between the broker and the database when a worker died or was
      evicted in the middle of it (seen in the fault suite before partition order was checked).
      Reading the file again sends every row again; the ledger makes the rows already applied
      replays, so only the missing ones are applied. Such a job's row has not changed for
      ``stall_resume_s`` (its live counters may even show every row: they count a redelivered batch
      twice, while the ledger misses the lost one).
    - A job whose runner's heartbeat is ``runner_stale_s`` old: an export, a rollback, or an import still being
      read. Runners work in the background of a worker (their start request is acknowledged when
      they start), so when a worker dies, this is what runs its jobs again. Admission sets the
      heartbeat too, so a start request that no runner took up counts the same.

    Claiming a job (touching updated_at and heartbeat_at) makes one worker resume it per stall.
    """
    async with pool.acquire() as conn:
        rows = await jobs.claim_stalled(conn, settings.topic_prefix, settings.stall_resume_s, settings.runner_stale_s)
    for row in rows:
        await asyncio.wait_for(send_request(start_request(row)), _SEND_TIMEOUT_S)
    return [str(r["id"]) for r in rows]
