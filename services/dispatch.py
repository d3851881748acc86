"""What a worker does with one job request: record and admit it, or (once admitted) run it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.admission import confirm_start, run_admission
from services.db import with_retry
from services.pipeline import Resources, record_request, run_import_request

__all__ = ["Senders", "handle_request", "admit"]

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Senders:
    request: Send   # crm.jobs.requests (start requests of admitted jobs)
    result: Send    # crm.import.results
    status: Send    # crm.jobs.status


async def admit(res: Resources, send: Senders) -> list[str]:
    started = await with_retry(lambda: run_admission(res.system, res.settings, send.request), what="admitting jobs")
    if started:
        log.info("admitted %d job(s): %s", len(started), ", ".join(started))
    return started


async def handle_request(res: Resources, req: dict[str, Any], send: Senders) -> None:
    """A new request becomes a pending job and triggers an admission pass; a start request runs its job."""
    job_id, company_id = req["job_id"], req["company_id"]
    if not req.get("admitted"):
        await record_request(res, req)
        await admit(res, send)
        return
    job = await with_retry(lambda: confirm_start(res.system, company_id, job_id), what=f"starting job {job_id}")
    if job is None or job["job_status"] == "pending":
        log.info("start of job %s skipped: not admitted", job_id)
        return
    # Each runner skips a job that has ended meanwhile, and reports a cancel that came before it started.
    # Imported here: exports and rollbacks pull in their writers only when a worker runs one.
    if job["job_type"] == "import":
        await run_import_request(res, req, send.result)
    elif job["job_type"] == "export":
        from services.exports import run_export_request

        await run_export_request(res, req, send.status)
    elif job["job_type"] == "rollback":
        from services.rollback import run_rollback_request

        await run_rollback_request(res, req, send.status)
