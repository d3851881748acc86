"""What a worker does with one job request: record and admit it, or (once admitted) run it.

Admitted jobs run in the background, ``worker_job_slots`` at a time per worker, so a long export,
rollback or file split does not hold up the start of the next job. Their start request is then
acknowledged when they start, not when they end: each run touches its job's heartbeat, and a job
whose heartbeat stops (its worker died) is started again (services.jobs.admission.resume_stalled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas import events
from services.apply.pipeline import record_request, run_import_request
from services.core import worker_metrics
from services.core.db import is_transient, with_retry
from services.core.logs import log_context, unbound
from services.core.runtime import Runtime
from services.jobs import repository as jobs
from services.jobs.admission import confirm_start, run_admission

__all__ = ["Senders", "JobSlots", "handle_request", "admit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Senders:
    request: events.SendJobRequest  # crm.jobs.requests (start requests of admitted jobs)
    result: events.SendImportResult  # crm.import.results
    status: events.SendJobStatus  # crm.jobs.status


async def admit(res: Runtime, send: Senders) -> list[str]:
    started = await with_retry(lambda: run_admission(res.system, res.settings, send.request), what="admitting jobs")
    if started:
        log.info("admitted %d job(s): %s", len(started), ", ".join(started))
    return started


class JobSlots:
    """The admitted jobs this worker runs in the background, at most ``size`` at once; the others wait
    here (admission bounds how many can: max_running_jobs_total), so new requests are never held up.

    One company holds at most ``size - 1`` of them (all, when there is one): another company's job never
    waits for a slot behind a company that started first, only for one of its own.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.per_company = max(1, self.size - 1)
        self._held: Counter[str] = Counter()
        self._waiting: list[asyncio.Future[None]] = []
        self._running: set[asyncio.Task[None]] = set()

    def _fits(self, company_id: str) -> bool:
        return self._held.total() < self.size and self._held[company_id] < self.per_company

    @contextlib.asynccontextmanager
    async def slot(self, company_id: str) -> AsyncIterator[None]:
        """Holds one of the slots for ``company_id`` while the block runs."""
        while not self._fits(company_id):
            woken = asyncio.get_running_loop().create_future()
            self._waiting.append(woken)
            try:
                await woken
            finally:
                self._waiting.remove(woken)
        self._held[company_id] += 1
        try:
            yield
        finally:  # no await here: a second cancel cannot keep the slot
            self._held[company_id] -= 1
            for woken in self._waiting:
                if not woken.done():
                    woken.set_result(None)

    def start(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        """Runs ``run`` in the background; ``run`` takes a slot (``slot``) for its work."""

        async def body() -> None:
            try:
                await run()
            except Exception:  # noqa: BLE001 - a runner failing unexpectedly must not take others down
                log.exception("%s failed", name)

        task = asyncio.create_task(body(), name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def cancel(self) -> None:
        """The worker stops: its runs end here and are started again elsewhere once their heartbeat is stale."""
        for task in list(self._running):
            task.cancel()


@contextlib.asynccontextmanager
async def heartbeat(pool: asyncpg.Pool, job_id: str, every_s: float, *, then_s: float = 0.0) -> AsyncIterator[None]:
    """Touches the running job's heartbeat_at while the block runs, and ``then_s`` ahead when it ends well.

    An import whose split ended waits for its rows to be applied and counted, its total not recorded
    until the aggregator reaches the split's last result: a heartbeat left to go stale would start it
    again (runner_stale_s) although nothing died."""
    jid = uuid.UUID(job_id)

    async def beat() -> None:
        while True:
            try:
                await jobs.touch_heartbeat(pool, jid)
            except Exception as exc:  # noqa: BLE001 - the database restarting: the next beat tries again
                if not is_transient(exc):
                    log.exception("heartbeat of job %s failed", job_id)
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    except asyncio.CancelledError:
        # The worker is stopping in the middle of the run: a stale heartbeat lets another worker (or
        # this one, restarted) start the job again at once rather than after stall_resume_s.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                jobs.expire_heartbeat(pool, jid),
                2,
            )
        raise
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if then_s > 0:
        with contextlib.suppress(Exception):  # the stalled-job check then only starts it again later
            await asyncio.wait_for(jobs.hold_heartbeat(pool, jid, then_s), 2)


async def handle_request(res: Runtime, req: dict[str, Any], send: Senders, slots: JobSlots) -> None:
    """A new request becomes a pending job and triggers an admission pass; a start request runs its job
    in one of the worker's job slots."""
    job_id, company_id = req["job_id"], req["company_id"]
    if not req.get("admitted"):
        await record_request(res, req)
        with unbound():  # the pass admits whichever jobs fit, this request's or others'
            await admit(res, send)
        return
    job = await with_retry(lambda: confirm_start(res.system, company_id, job_id), what=f"starting job {job_id}")
    if job is None or job["job_status"] == "pending":
        log.info("start of job %s skipped: not admitted", job_id)
        return

    async def run() -> None:
        # The heartbeat starts at once: a job waiting here for a slot is this worker's, not stalled.
        then_s = res.settings.stall_resume_s - res.settings.runner_stale_s
        async with heartbeat(res.system, job_id, res.settings.job_heartbeat_s, then_s=then_s), slots.slot(company_id):
            worker_metrics.job_started()
            try:
                with log_context(job_id=job_id, company_id=company_id):
                    log.info("running %s job %s", job["job_type"], job_id)
                    await _run_job(res, job, req, send)
                    log.info("%s job %s: this worker's run ended", job["job_type"], job_id)
            finally:
                worker_metrics.job_ended()

    slots.start(run, f"{job['job_type']} {job_id}")


async def _run_job(res: Runtime, job: asyncpg.Record, req: dict[str, Any], send: Senders) -> None:
    # Each runner skips a job that has ended meanwhile, and reports a cancel that came before it started.
    # Imported here: exports and rollbacks pull in their writers only when a worker runs one.
    if job["job_type"] == "import":
        await run_import_request(res, req, send.result)
    elif job["job_type"] == "export":
        from services.exports import run_export_request

        await run_export_request(res, req, send.status)
    elif job["job_type"] == "rollback":
        from services.jobs.rollback import run_rollback_request

        await run_rollback_request(res, req, send.status)
