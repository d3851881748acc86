"""The worker's side of an export request: run it, keep the job row and the status topic current."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

import asyncpg

from schemas import events
from services.core import storage
from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.runtime import Runtime
from services.exports.runner import run_export, run_files
from services.jobs import repository as jobs

__all__ = ["run_export_request"]

log = logging.getLogger(__name__)

SendStatus = events.SendJobStatus


def _ms() -> int:
    return int(time.time() * 1000)


def _counters(total: int, processed: int) -> dict[str, int]:
    return {
        "total": total,
        "processed": processed,
        "success": processed,
        "error": 0,
        "created": 0,
        "updated": 0,
        "skipped": 0,
    }


class ExportCancelled(CrmioError):
    """The export's job was cancelled while it ran: stop, remove the partial file, report it."""


async def run_export_request(res: Runtime, req: dict[str, Any], send_status: SendStatus) -> None:
    """Run an export job request; failures fail the job (with a final status event) and never raise."""
    job_id, company_id = req["job_id"], req["company_id"]
    try:
        async with tenant(res.pool, company_id) as conn:
            job = await jobs.get_job(conn, company_id, job_id)
            if job is None or job["job_type"] != "export" or job["job_status"] in jobs.FINAL_STATUSES:
                log.info("export request %s skipped: no such pending export job for company %s", job_id, company_id)
                if job is not None and job["job_status"] == "cancelled":
                    await _send(send_status, jobs.status_event(job))  # cancelled just before it started
                return
            started = dt.datetime.now(dt.UTC)
            await jobs.mark_running(conn, company_id, job_id, started)
    except Exception:  # noqa: BLE001 - the database is unreachable: the agent must not die on it
        log.exception("export request %s: could not load the job", job_id)
        return
    started_ms = int(started.timestamp() * 1000)
    last = _counters(0, 0)

    async def report(progress: dict[str, int | str]) -> None:
        nonlocal last
        last = _counters(int(progress["total"]), int(progress["processed"]))
        async with tenant(res.pool, company_id) as conn:
            await jobs.update_progress(conn, company_id, job_id, last)
            status = await jobs.job_status(conn, company_id, job["id"])
        if status == "cancelled":  # checked every status interval: the export stops within a second
            raise ExportCancelled(f"export {job_id} cancelled on request")
        await _send(send_status, jobs.progress_status_event(job, "running", last, started_ms))

    try:
        await _send(send_status, jobs.progress_status_event(job, "running", last, started_ms))
        rel, count = await run_export(res.pool, res.settings, job, report)
    except ExportCancelled as exc:
        await asyncio.to_thread(_remove_files, res, company_id, job_id)
        await _send(send_status, jobs.progress_status_event(job, "cancelled", last, started_ms, _ms(), exc.message))
        return
    except Exception as exc:  # noqa: BLE001 - every failure ends the job, never the agent
        if isinstance(exc, CrmioError):
            message = exc.message
            log.info("export %s refused: %s", job_id, message)
        else:
            message = f"the export failed unexpectedly ({type(exc).__name__}); see the worker log"
            log.exception("export %s failed", job_id)
        await _finish(res, job, "failed", last, message, started_ms, send_status)
        return
    final = _counters(count, count)
    try:
        async with tenant(res.pool, company_id) as conn:
            done = await jobs.finish_job(conn, company_id, job_id, "completed", final, None, dt.datetime.now(dt.UTC))
            if done:  # in the same transaction: a job names its file only once it is complete
                await jobs.set_file_path(conn, company_id, job_id, rel)
            ended = None if done else await jobs.job_status(conn, company_id, job["id"])
    except Exception:  # noqa: BLE001
        log.exception("export %s: could not record completion", job_id)
        await _finish(
            res, job, "failed", final, "the export was written but could not be recorded", started_ms, send_status
        )
        return
    if ended is None:
        await asyncio.to_thread(_remove_files, res, company_id, job_id, keep=rel)  # files of other runs of the job
        await _send(send_status, jobs.progress_status_event(job, "completed", final, started_ms, _ms()))
    elif ended == "cancelled":  # between the last row and now: the cancel wins
        await asyncio.to_thread(_remove_files, res, company_id, job_id)
        await _send(
            send_status,
            jobs.progress_status_event(
                job, "cancelled", last, started_ms, _ms(), f"export {job_id} cancelled on request"
            ),
        )
    else:
        # Finished by another run of this job (started again while this worker was frozen): only this
        # run's file goes, and nothing is reported, so the status topic keeps the job's real last state.
        await asyncio.to_thread(storage.of(res.settings).remove, company_id, [rel])
        log.info("export %s was already %s by another run; this run's file is removed", job_id, ended)


def _remove_files(res: Runtime, company_id: str, job_id: str, keep: str | None = None) -> None:
    """Every stored run's file of the export but ``keep``. Blocking: run in a thread."""
    gone = [rel for rel in run_files(res.settings, company_id, job_id) if rel != keep]
    storage.of(res.settings).remove(company_id, gone)


async def _finish(
    res: Runtime,
    job: asyncpg.Record,
    status: events.JobStatusKind,
    counters: dict[str, int],
    message: str,
    started_ms: int,
    send_status: SendStatus,
) -> None:
    try:
        async with tenant(res.pool, job["company_id"]) as conn:
            if await jobs.finish_job(
                conn, str(job["company_id"]), str(job["id"]), status, None, message, dt.datetime.now(dt.UTC)
            ):
                await asyncio.to_thread(
                    _remove_files, res, str(job["company_id"]), str(job["id"])
                )  # a failed export leaves no file
    except Exception:  # noqa: BLE001
        log.exception("export %s: could not mark the job %s", job["id"], status)
    await _send(send_status, jobs.progress_status_event(job, status, counters, started_ms, _ms(), message))


async def _send(send_status: SendStatus, event: events.JobStatus) -> None:
    try:
        await send_status(event)
    except Exception:  # noqa: BLE001 - the job row is the record; a lost status event is logged
        log.exception("export %s: could not send its status event", event["job_id"])
