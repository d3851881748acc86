"""The aggregator's step: one import result in, the job's new progress (and maybe a status event) out.

Keeps the job row current: running on the first result, throttled counters while running, and
the final status with counters recounted from the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas import events
from schemas.progress import JobProgress, job_progress
from services.aggregate.progress import counters, exact_counters, fold, is_due, ready_to_finish, status_event
from services.apply.pipeline import now_ms
from services.core.db import tenant, with_retry
from services.core.errors import JobStateError
from services.core.runtime import Runtime
from services.jobs import ledger_repository
from services.jobs import repository as jobs
from services.jobs.admission import start_request
from services.jobs.error_policy import breach, parse_policy
from services.jobs.rollback import create_rollback_job

__all__ = ["aggregate_result", "report_progress"]

SendRequest = events.SendJobRequest


def _at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


async def _first_sight(res: Runtime, event: events.ImportResult) -> JobProgress:
    job_id, company_id = event["job_id"], event["company_id"]

    async def load() -> Any:
        async with tenant(res.pool, company_id) as conn:
            return await jobs.get_job(conn, company_id, job_id)

    job = await with_retry(load, what=f"loading job {job_id}")
    p = job_progress(job_id, company_id)
    if job is None:
        p["status"], p["message"] = "failed", "unknown job"
    else:
        p["job_type"], p["target_model"] = job["job_type"], job["target_model"]
        options = job["options"] or {}
        p["policy"] = options.get("error_policy")
        p["phase"] = None if options.get("dry_run") else options.get("phase")
        if job["job_status"] in jobs.FINAL_STATUSES:
            p["status"] = job["job_status"]
    return p


async def _report_cancel(res: Runtime, progress: JobProgress, now: int) -> tuple[JobProgress, events.JobStatus | None]:
    """The cancel already set the job row and its exact counters: report them, after every earlier result."""
    job_id, company_id = progress["job_id"], progress["company_id"]

    async def load() -> Any:
        async with tenant(res.pool, company_id) as conn:
            return await jobs.get_job(conn, company_id, job_id)

    return _report_ended(progress, await with_retry(load, what=f"loading job {job_id}"), now)


async def _stop(
    res: Runtime, progress: JobProgress, message: str, now: int
) -> tuple[JobProgress, events.JobStatus | None]:
    """The error policy stops the job: ended like a cancel (nothing applied after it), status failed."""
    job_id, company_id = progress["job_id"], progress["company_id"]

    async def stop() -> Any:
        async with tenant(res.pool, company_id) as conn:
            row, _ = await jobs.end_job_now(conn, company_id, job_id, "failed", message)
            return row

    return _report_ended(progress, await with_retry(stop, what=f"stopping job {job_id}"), now)


def _report_ended(progress: JobProgress, row: Any, now: int) -> tuple[JobProgress, events.JobStatus | None]:
    if row is None:
        return progress, None
    c = {"total": row["total_records"], **jobs.row_counters(row)}
    p = progress.copy()
    p["status"], p["message"] = row["job_status"], row["message"]
    p["completed_ms"] = p["reported_ms"] = now
    p["job_type"], p["target_model"] = row["job_type"], row["target_model"]
    p["processed"], p["created"], p["updated"] = c["processed"], c["created"], c["updated"]
    p["skipped"], p["failed"] = c["skipped"], c["error"]
    p["total"] = p["total"] if p["total"] is not None else c["total"]
    return p, status_event(p, now, c)


async def _all_or_nothing_end(
    res: Runtime, p: JobProgress, final: dict[str, int], now: int, send_request: SendRequest
) -> tuple[JobProgress, events.JobStatus] | None:
    """The end of an all-or-nothing pass: start the apply pass, or fail the job (rolling back an apply pass).
    None when the job simply completes."""
    job_id, company_id = p["job_id"], p["company_id"]
    if p["phase"] == "validate" and final["error"] == 0:

        async def switch() -> Any:
            async with tenant(res.pool, company_id) as conn:
                if not await jobs.begin_apply_phase(conn, company_id, job_id):
                    return None
                return await jobs.get_job(conn, company_id, job_id)

        row = await with_retry(switch, what=f"starting the apply pass of job {job_id}")
        if row is None:
            return None
        await send_request(start_request(row))
        fresh = job_progress(job_id, company_id, p["job_type"], p["target_model"], policy=p["policy"], phase="apply")
        fresh["started_ms"], fresh["reported_ms"], fresh["message"] = p["started_ms"], now, row["message"]
        return fresh, status_event(fresh, now)
    if p["phase"] == "validate":
        message = (
            f"all-or-nothing: {final['error']:,} of {final['processed']:,} rows failed validation, so nothing "
            "was written to the CRM tables; fix those rows (errors.csv) and import again"
        )
        final = {**final, "success": 0, "created": 0, "updated": 0, "skipped": 0}
    elif p["phase"] == "apply" and final["error"] > 0:

        async def rollback() -> str:
            async with tenant(res.pool, company_id) as conn:
                return await create_rollback_job(conn, company_id, job_id, force=False, automatic=True)

        rollback_id = await with_retry(rollback, what=f"rolling back job {job_id}")
        message = (
            f"all-or-nothing: {final['error']:,} rows were refused while applying; the rows applied are "
            f"being rolled back by job {rollback_id}"
        )
    else:
        return None
    p["status"] = "failed"
    return await _finish(res, p, final, message, now)


async def _fail(res: Runtime, p: JobProgress, now: int) -> tuple[JobProgress, events.JobStatus | None]:
    """The file was refused: end the job like a cancel (batches in flight finish first, none after), then
    roll back whatever its batches applied."""
    job_id, company_id = p["job_id"], p["company_id"]

    async def end() -> Any:
        async with tenant(res.pool, company_id) as conn:
            row, _ = await jobs.end_job_now(conn, company_id, job_id, "failed", p["message"] or "the import failed")
            return row

    row = await with_retry(end, what=f"failing job {job_id}")
    if row is not None and row["created_records"] + row["updated_records"]:
        message = await _undo_partial(
            res,
            {**p, "message": row["message"]},
            {"created": row["created_records"], "updated": row["updated_records"]},
        )

        async def note() -> Any:
            async with tenant(res.pool, company_id) as conn:
                await jobs.set_message(conn, company_id, row["id"], message)
                return await jobs.get_job(conn, company_id, job_id)

        row = await with_retry(note, what=f"recording the rollback of job {job_id}")
    return _report_ended(p, row, now)


async def _undo_partial(res: Runtime, p: JobProgress, final: dict[str, int]) -> str:
    """The file was refused part way (a row the reader cannot read, a limit): nothing of it may stay
    half-applied, so the rows applied before are rolled back by an automatic rollback job."""
    job_id, company_id = p["job_id"], p["company_id"]

    async def rollback() -> str | None:
        async with tenant(res.pool, company_id) as conn:
            try:
                return await create_rollback_job(conn, company_id, job_id, force=False, automatic=True)
            except JobStateError:
                return None  # a dry run or validation pass: nothing was written

    rollback_id = await with_retry(rollback, what=f"rolling back job {job_id}")
    if rollback_id is None:
        return str(p["message"])
    applied = final["created"] + final["updated"]
    return (
        f"{p['message']}; the {applied:,} rows applied before the file was refused are being rolled back "
        f"by job {rollback_id}"
    )


async def _finish(
    res: Runtime, p: JobProgress, final: dict[str, int], message: str | None, now: int
) -> tuple[JobProgress, events.JobStatus]:
    job_id, company_id = p["job_id"], p["company_id"]
    p["completed_ms"] = now
    p["message"] = message
    p["processed"], p["created"], p["updated"] = final["processed"], final["created"], final["updated"]
    p["skipped"], p["failed"] = final["skipped"], final["error"]

    async def write() -> None:
        async with tenant(res.pool, company_id) as conn:
            await jobs.finish_job(conn, company_id, job_id, p["status"], final, message, _at(now))

    await with_retry(write, what=f"finishing job {job_id}")
    p["reported_ms"] = now
    return p, status_event(p, now, final)


async def _exact_when_complete(res: Runtime, p: JobProgress) -> dict[str, int] | None:
    """Exact counters when the ledger holds every row of the job, else None (results still in flight)."""

    async def count() -> dict[str, int]:
        async with tenant(res.pool, p["company_id"]) as conn:
            return await ledger_repository.ledger_counts(conn, p["company_id"], p["job_id"])

    c = exact_counters(await with_retry(count, what=f"counting job {p['job_id']}"), p["total"])
    return c if c["processed"] >= (p["total"] or 0) else None


async def aggregate_result(
    res: Runtime,
    progress: JobProgress | None,
    event: events.ImportResult,
    interval_s: float,
    send_request: SendRequest,
) -> tuple[JobProgress, events.JobStatus | None]:
    now = now_ms()
    first = progress is None
    if progress is None:
        progress = await _first_sight(res, event)
    if event["kind"] == "cancelled" and (first or progress["status"] == "running"):
        return await _report_cancel(res, progress, now)
    if progress["status"] != "running":
        return progress, None  # a late or replayed result for a finished job: nothing to report
    p = fold(progress, event, now)
    job_id, company_id = p["job_id"], p["company_id"]
    if first:
        await _update_job(res, p, lambda conn: jobs.mark_running(conn, company_id, job_id, _at(p["started_ms"] or now)))
    policy = parse_policy(p["policy"])
    final: dict[str, int] | None = None
    if p["status"] == "failed":
        return await _fail(res, p, now)
    if ready_to_finish(p):
        final = await _exact_when_complete(res, p)
        if final is not None:
            if policy.mode == "all_or_nothing" and p["phase"]:
                ended = await _all_or_nothing_end(res, p, final, now, send_request)
                if ended is not None:
                    return ended
            stop = breach(policy, final["processed"], final["error"], at_end=True)
            p["status"] = "failed" if stop else "completed"
            p["message"] = stop or p["message"]
    elif (stop := breach(policy, p["processed"], p["failed"])) is not None:
        return await _stop(res, p, stop, now)
    if final is not None:
        return await _finish(res, p, final, p["message"], now)
    # The total becoming known is always written: the stalled-import check relies on it.
    if first or event["kind"] == "split_done" or is_due(p, now, int(interval_s * 1000)):
        return p, await report_progress(res, p, now)
    return p, None  # folded, not reported yet: see TrailingReports


async def report_progress(res: Runtime, p: JobProgress, now: int) -> events.JobStatus:
    """Write a running job's live counters to its row; the status event that tells them."""
    await _update_job(res, p, lambda conn: jobs.update_progress(conn, p["company_id"], p["job_id"], counters(p)))
    p["reported_ms"] = now
    return status_event(p, now)


async def _update_job(res: Runtime, p: JobProgress, op: Any) -> None:
    """``op(conn)`` on the job's row, in its company's transaction, retried while the database restarts."""

    async def run() -> None:
        async with tenant(res.pool, p["company_id"]) as conn:
            await op(conn)

    await with_retry(run, what=f"updating job {p['job_id']}")
