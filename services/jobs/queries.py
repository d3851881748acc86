"""Job figures beyond services.jobs.repository (which holds the SQL): progress figures and what a live view shows (API and CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from services.jobs.repository import FINAL_STATUSES, job_document

__all__ = ["progress_document", "signature"]


def progress_document(row: asyncpg.Record | dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """The job's blueprint fields plus percent, records per second and the ETA in seconds (None when unknown)."""
    doc = job_document(row) if not isinstance(row, dict) else dict(row)
    raw = dict(row)
    now = now or dt.datetime.now(dt.UTC)
    total, processed = raw["total_records"] or 0, raw["processed_records"] or 0
    started: dt.datetime | None = raw.get("started_at")
    completed: dt.datetime | None = raw.get("completed_at")
    end = completed if raw["job_status"] in FINAL_STATUSES and completed else now
    elapsed = (end - started).total_seconds() if started else 0.0
    rate = processed / elapsed if elapsed > 0 and processed else 0.0
    eta: float | None = None
    if raw["job_status"] in FINAL_STATUSES:
        eta = 0.0
    elif rate > 0 and total:
        eta = max(total - processed, 0) / rate
    doc.update(
        percent=round(min(100.0, 100.0 * processed / total), 1)
        if total
        else (100.0 if raw["job_status"] == "completed" else 0.0),
        records_per_second=round(rate, 1),
        eta_seconds=round(eta, 1) if eta is not None else None,
        elapsed_seconds=round(elapsed, 3),
    )
    return doc


def signature(row: asyncpg.Record) -> tuple[Any, ...]:
    """What a live view shows of a job: a change here is worth an event."""
    return (
        row["job_status"],
        row["total_records"],
        row["processed_records"],
        row["success_records"],
        row["error_records"],
        row["message"],
    )
