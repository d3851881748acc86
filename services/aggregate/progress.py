"""Job progress as a value: fold import results into counters, decide when to report and finish.

The aggregator agent keeps one of these per job in a Faust table; everything here is pure.
Delivery is at-least-once, so live counters are capped at the total; the final counters come
from the apply ledger (see ``exact_counters``).
"""

from __future__ import annotations

from typing import cast

from schemas import events
from schemas.progress import JobProgress, Outcome, job_progress

__all__ = ["fold", "counters", "exact_counters", "status_event", "is_due", "ready_to_finish"]


def fold(progress: JobProgress | None, event: events.ImportResult, now_ms: int) -> JobProgress:
    """A new progress value with ``event`` counted in."""
    p = progress.copy() if progress else job_progress(event["job_id"], event["company_id"])
    if p["status"] != "running":
        return p  # a late or replayed result for a finished job changes nothing
    if p["started_ms"] is None:
        p["started_ms"] = now_ms
    kind = event["kind"]
    if kind == "split_done":
        p["total"] = event.get("total")
    elif kind == "failed":
        p["status"] = "failed"
        p["message"] = event.get("message")
    elif kind == "batch":
        cap = p["total"]
        for outcome in cast(list[Outcome], event.get("outcomes", [])):
            if cap is not None and p["processed"] >= cap:
                break
            p["processed"] += 1
            p[outcome] += 1
    return p


def counters(p: JobProgress) -> dict[str, int]:
    """The job row's counters from a progress value."""
    success = p["created"] + p["updated"] + p["skipped"]
    return {
        "total": p["total"] if p["total"] is not None else 0,  # 0: not known until the whole file is read
        "processed": p["processed"],
        "success": success,
        "error": p["failed"],
        "created": p["created"],
        "updated": p["updated"],
        "skipped": p["skipped"],
    }


def exact_counters(ledger: dict[str, int], total: int | None) -> dict[str, int]:
    """Counters recounted from the ledger: one row per processed record, never twice."""
    processed = sum(ledger.values())
    return {
        "total": total if total is not None else processed,
        "processed": processed,
        "success": ledger["created"] + ledger["updated"] + ledger["skipped"],
        "error": ledger["failed"],
        "created": ledger["created"],
        "updated": ledger["updated"],
        "skipped": ledger["skipped"],
    }


def ready_to_finish(p: JobProgress) -> bool:
    """Every row has reported (as far as live counters know): time to recount from the ledger."""
    return p["status"] == "running" and p["total"] is not None and p["processed"] >= p["total"]


def is_due(p: JobProgress, now_ms: int, interval_ms: int) -> bool:
    return bool(now_ms - p["reported_ms"] >= interval_ms)


def status_event(p: JobProgress, now_ms: int, c: dict[str, int] | None = None) -> events.JobStatus:
    """The status event of this progress (``c``: exact counters when known)."""
    return events.job_status(
        p,
        p["status"],
        at=now_ms,
        total=p["total"],
        counters=c or counters(p),
        started_ms=p["started_ms"],
        completed_ms=p["completed_ms"],
        message=p["message"],
    )
