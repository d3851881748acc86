"""The aggregator's step: one import result in, the job's new progress (and maybe a status event) out.

Keeps the job row current: running on the first result, throttled counters while running, and
the final status with counters recounted from the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services import jobs
from services.db import with_retry
from services.pipeline import Resources, exact_when_complete, now_ms
from services.progress import counters, fold, is_due, new_progress, ready_to_finish, status_event

__all__ = ["aggregate_result"]


def _at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


async def _first_sight(res: Resources, event: dict[str, Any]) -> dict[str, Any]:
    job_id, company_id = event["job_id"], event["company_id"]

    async def load() -> Any:
        async with res.pool.acquire() as conn:
            return await jobs.get_job(conn, company_id, job_id)

    job = await with_retry(load, what=f"loading job {job_id}")
    p = new_progress(job_id, company_id)
    if job is None:
        p["status"], p["message"] = "failed", "unknown job"
    else:
        p["job_type"], p["target_model"] = job["job_type"], job["target_model"]
        if job["job_status"] in jobs.FINAL_STATUSES:
            p["status"] = job["job_status"]
    return p


async def _report_cancel(
    res: Resources, progress: dict[str, Any], now: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The cancel already set the job row and its exact counters: report them, after every earlier result."""
    job_id, company_id = progress["job_id"], progress["company_id"]

    async def load() -> Any:
        async with res.pool.acquire() as conn:
            return await jobs.get_job(conn, company_id, job_id)

    row = await with_retry(load, what=f"loading job {job_id}")
    if row is None:
        return progress, None
    c = {"total": row["total_records"], "processed": row["processed_records"], "success": row["success_records"],
         "error": row["error_records"], "created": row["created_records"], "updated": row["updated_records"],
         "skipped": row["skipped_records"]}
    p = {**progress, "status": "cancelled", "message": row["message"], "completed_ms": now, "reported_ms": now,
         "job_type": row["job_type"], "target_model": row["target_model"]}
    p.update({k: c[k] for k in ("processed", "created", "updated", "skipped")}, failed=c["error"])
    p["total"] = p["total"] if p["total"] is not None else c["total"]
    return p, status_event(p, now, c)


async def aggregate_result(
    res: Resources, progress: dict[str, Any] | None, event: dict[str, Any], interval_s: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    now = now_ms()
    first = progress is None
    if first:
        progress = await _first_sight(res, event)
    if event["kind"] == "cancelled" and (first or progress["status"] == "running"):
        return await _report_cancel(res, progress, now)
    if progress["status"] != "running":
        return progress, None  # a late or replayed result for a finished job: nothing to report
    p = fold(progress, event, now)
    job_id, company_id = p["job_id"], p["company_id"]

    async def write(op: Any) -> None:
        async def run() -> None:
            async with res.pool.acquire() as conn:
                await op(conn)

        await with_retry(run, what=f"updating job {job_id}")

    if first:
        await write(lambda conn: jobs.mark_running(conn, company_id, job_id, _at(p["started_ms"])))
    final: dict[str, int] | None = None
    if p["status"] == "failed":
        final = await exact_when_complete(res, {**p, "total": None})
    elif ready_to_finish(p):
        final = await exact_when_complete(res, p)
        if final is not None:
            p["status"] = "completed"
    if final is not None:
        p["completed_ms"] = now
        p.update({k: final[k] for k in ("processed", "created", "updated", "skipped")}, failed=final["error"])
        await write(lambda conn: jobs.finish_job(conn, company_id, job_id, p["status"], final, p["message"], _at(now)))
        p["reported_ms"] = now
        return p, status_event(p, now, final)
    if first or is_due(p, now, int(interval_s * 1000)):
        await write(lambda conn: jobs.update_progress(conn, company_id, job_id, counters(p)))
        p["reported_ms"] = now
        return p, status_event(p, now)
    return p, None
