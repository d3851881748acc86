"""The aggregator's step: one import result in, the job's new progress (and maybe a status event) out.

Keeps the job row current: running on the first result, throttled counters while running, and
the final status with counters recounted from the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas import events
from services.aggregate.progress import counters, fold, is_due, new_progress, ready_to_finish, status_event
from services.apply.pipeline import WorkerResources, exact_when_complete, now_ms
from services.core.db import tenant, with_retry
from services.core.errors import JobStateError
from services.jobs import repository as jobs
from services.jobs.admission import start_request
from services.jobs.error_policy import breach, parse_policy
from services.jobs.rollback import create_rollback_job

__all__ = ["aggregate_result"]

SendRequest = events.SendJobRequest


def _at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


async def _first_sight(res: WorkerResources, event: dict[str, Any]) -> dict[str, Any]:
    job_id, company_id = event["job_id"], event["company_id"]

    async def load() -> Any:
        async with tenant(res.pool, company_id) as conn:
            return await jobs.get_job(conn, company_id, job_id)

    job = await with_retry(load, what=f"loading job {job_id}")
    p = new_progress(job_id, company_id)
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


async def _report_cancel(
    res: WorkerResources, progress: dict[str, Any], now: int
) -> tuple[dict[str, Any], events.JobStatus | None]:
    """The cancel already set the job row and its exact counters: report them, after every earlier result."""
    job_id, company_id = progress["job_id"], progress["company_id"]

    async def load() -> Any:
        async with tenant(res.pool, company_id) as conn:
            return await jobs.get_job(conn, company_id, job_id)

    return _report_ended(progress, await with_retry(load, what=f"loading job {job_id}"), now)


async def _stop(
    res: WorkerResources, progress: dict[str, Any], message: str, now: int
) -> tuple[dict[str, Any], events.JobStatus | None]:
    """The error policy stops the job: ended like a cancel (nothing applied after it), status failed."""
    job_id, company_id = progress["job_id"], progress["company_id"]

    async def stop() -> Any:
        async with tenant(res.pool, company_id) as conn:
            row, _ = await jobs.end_job_now(conn, company_id, job_id, "failed", message)
            return row

    return _report_ended(progress, await with_retry(stop, what=f"stopping job {job_id}"), now)


def _report_ended(progress: dict[str, Any], row: Any, now: int) -> tuple[dict[str, Any], events.JobStatus | None]:
    if row is None:
        return progress, None
    c = {
        "total": row["total_records"],
        "processed": row["processed_records"],
        "success": row["success_records"],
        "error": row["error_records"],
        "created": row["created_records"],
        "updated": row["updated_records"],
        "skipped": row["skipped_records"],
    }
    p = {
        **progress,
        "status": row["job_status"],
        "message": row["message"],
        "completed_ms": now,
        "reported_ms": now,
        "job_type": row["job_type"],
        "target_model": row["target_model"],
    }
    p.update({k: c[k] for k in ("processed", "created", "updated", "skipped")}, failed=c["error"])
    p["total"] = p["total"] if p["total"] is not None else c["total"]
    return p, status_event(p, now, c)


async def _all_or_nothing_end(
    res: WorkerResources, p: dict[str, Any], final: dict[str, int], now: int, send_request: SendRequest
) -> tuple[dict[str, Any], events.JobStatus] | None:
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
        fresh = {
            **new_progress(job_id, company_id, p["job_type"], p["target_model"]),
            "policy": p["policy"],
            "phase": "apply",
            "started_ms": p["started_ms"],
            "reported_ms": now,
            "message": row["message"],
        }
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


async def _fail(res: WorkerResources, p: dict[str, Any], now: int) -> tuple[dict[str, Any], events.JobStatus | None]:
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


async def _undo_partial(res: WorkerResources, p: dict[str, Any], final: dict[str, int]) -> str:
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
    res: WorkerResources, p: dict[str, Any], final: dict[str, int], message: str | None, now: int
) -> tuple[dict[str, Any], events.JobStatus]:
    job_id, company_id = p["job_id"], p["company_id"]
    p["completed_ms"] = now
    p["message"] = message
    p.update({k: final[k] for k in ("processed", "created", "updated", "skipped")}, failed=final["error"])

    async def write() -> None:
        async with tenant(res.pool, company_id) as conn:
            await jobs.finish_job(conn, company_id, job_id, p["status"], final, message, _at(now))

    await with_retry(write, what=f"finishing job {job_id}")
    p["reported_ms"] = now
    return p, status_event(p, now, final)


async def aggregate_result(
    res: WorkerResources,
    progress: dict[str, Any] | None,
    event: dict[str, Any],
    interval_s: float,
    send_request: SendRequest,
) -> tuple[dict[str, Any], events.JobStatus | None]:
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

    async def write(op: Any) -> None:
        async def run() -> None:
            async with tenant(res.pool, company_id) as conn:
                await op(conn)

        await with_retry(run, what=f"updating job {job_id}")

    if first:
        await write(lambda conn: jobs.mark_running(conn, company_id, job_id, _at(p["started_ms"])))
    policy = parse_policy(p.get("policy"))
    final: dict[str, int] | None = None
    if p["status"] == "failed":
        return await _fail(res, p, now)
    if ready_to_finish(p):
        final = await exact_when_complete(res, p)
        if final is not None:
            if policy.mode == "all_or_nothing" and p.get("phase"):
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
        await write(lambda conn: jobs.update_progress(conn, company_id, job_id, counters(p)))
        p["reported_ms"] = now
        return p, status_event(p, now)
    return p, None
