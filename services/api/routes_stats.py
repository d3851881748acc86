"""The dashboard's charts: the caller's company's activity over the last minutes (services.jobs.timeseries).

Scoped to the key's company like every read: its own jobs and logs, read in a tenant transaction. The consumer
lag of the workers' partitions is shared by every company and is not shown here; a company sees its own rows
still to apply (``backlog_rows``). Operators read the lag from the API's and workers' /metrics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.api.deps import Caller, Res
from services.core.db import tenant
from services.jobs import log_repository
from services.jobs import repository as jobs
from services.jobs.timeseries import MAX_MINUTES, JobSpan, series, window

__all__ = ["router", "Timeseries", "StatsPoint"]

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

# Jobs one chart reads at most (the most recently changed): a company firing a schedule every minute has
# about 1,440 in a day.
MAX_JOBS = 5_000


class StatsPoint(BaseModel):
    at: dt.datetime
    rows_per_s: float
    errors: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    backlog_rows: int


class Timeseries(BaseModel):
    minutes: int
    step_s: int
    start: dt.datetime
    end: dt.datetime
    jobs_read: int
    truncated: bool
    points: list[StatsPoint]


@router.get(
    "/timeseries",
    response_model=Timeseries,
    summary="The company's rows per second, errors, jobs by state and rows still to apply, over the last minutes",
)
async def timeseries(
    key: Caller,
    res: Res,
    minutes: Annotated[int, Query(ge=5, le=MAX_MINUTES, description="how far back, in 60 equal steps")] = 60,
) -> Timeseries:
    async with tenant(res.pool, key.company_id) as conn:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        win = window(now, minutes)
        rows = await jobs.jobs_in_window(conn, key.company_id, win.start, MAX_JOBS)
        errors = await log_repository.errors_per_step(
            conn, key.company_id, [r["id"] for r in rows], win.start, win.step
        )
    spans = [JobSpan.of(r) for r in rows]
    # Up to MAX_JOBS x 60 steps of arithmetic: off the event loop.
    points = await asyncio.to_thread(series, win, spans, {r["at"]: r["n"] for r in errors}, now)
    return Timeseries(
        minutes=minutes,
        step_s=int(win.step.total_seconds()),
        start=win.start,
        end=win.end,
        jobs_read=len(rows),
        truncated=len(rows) == MAX_JOBS,
        points=[StatsPoint(**p) for p in points],
    )
