"""A company's activity over the last minutes, for the dashboard's charts: rows per second, errors, jobs by state
and the rows still to apply, in equal steps, computed from what the job rows and job logs already hold (no
table of samples: nothing more to write while importing, nothing more to purge).

What each figure is:

- ``rows_per_s``: the rows the company's jobs processed (imports, exports, rollbacks), each job's
  ``processed_records`` spread evenly over its run (``started_at`` to ``completed_at``, or to ``updated_at``, when
  its counters were last written, while it runs). An estimate: a job that slowed down mid-run is drawn flat.
- ``errors``: error log lines written in the step (one per failed row, plus a job's own failure), exact: each is
  stamped when its apply transaction ran.
- ``pending`` / ``running``: the company's jobs in that state at the end of the step, exact from the rows'
  timestamps; ``completed`` / ``failed`` / ``cancelled``: jobs that ended in the step.
- ``backlog_rows``: rows of the company's running imports not applied yet at the end of the step, from the same
  spread; an import counts once its file was read whole (its total is known). The company's share of the
  consumer lag: the lag of a partition is shared by every company's rows and is never shown to one company.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Window", "window", "JobSpan", "series", "MAX_MINUTES", "POINTS"]

MAX_MINUTES = 24 * 60
POINTS = 60  # steps per chart: enough to see a shape, few enough to draw and send
FINAL = ("completed", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    step: dt.timedelta

    def steps(self) -> list[dt.datetime]:
        """The start of every step, oldest first."""
        n = round((self.end - self.start) / self.step)
        return [self.start + i * self.step for i in range(n)]


def window(now: dt.datetime, minutes: int) -> Window:
    """The last ``minutes`` up to ``now`` in POINTS equal steps of at least 5 s, ending on a whole step."""
    step_s = max(5, minutes * 60 // POINTS)
    step = dt.timedelta(seconds=step_s)
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    end = epoch + ((now - epoch) // step + 1) * step  # the current step is drawn too, as it fills
    return Window(end - POINTS * step, end, step)


@dataclass(frozen=True, slots=True)
class JobSpan:
    """What the series need of one job row."""

    job_type: str
    status: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    updated_at: dt.datetime
    total: int
    processed: int

    @staticmethod
    def of(row: Mapping[str, Any]) -> JobSpan:
        return JobSpan(
            row["job_type"],
            row["job_status"],
            row["created_at"],
            row["started_at"],
            row["completed_at"] if row["job_status"] in FINAL else None,
            row["updated_at"],
            row["total_records"],
            row["processed_records"],
        )


def series(
    win: Window, jobs: Sequence[JobSpan], errors: Mapping[dt.datetime, int], now: dt.datetime
) -> list[dict[str, Any]]:
    """One point per step: the figures of the module's docstring. ``errors``: error lines per step start.

    Each job touches only the steps its life overlaps (seconds as floats, counts as difference arrays): 5,000
    jobs over 60 steps cost a few milliseconds, not a second."""
    starts = win.steps()
    n = len(starts)
    t0, step_s, now_s = win.start.timestamp(), win.step.total_seconds(), now.timestamp()
    # The time each step's states are read at: its end, or now for the step still filling.
    at = [min(t0 + (k + 1) * step_s, now_s) for k in range(n)]
    rows = [0.0] * n
    backlog = [0.0] * n
    alive: dict[str, list[int]] = {state: [0] * (n + 1) for state in ("pending", "running")}
    ended: dict[str, list[int]] = {state: [0] * n for state in FINAL}

    def first_at_or_after(t: float) -> int:
        """The first step whose reading time is at or after ``t`` (n: none)."""
        k = max(0, math.ceil((t - t0) / step_s) - 1)
        while k < n and at[k] < t:
            k += 1
        return min(k, n)

    for j in jobs:
        created = j.created_at.timestamp()
        started = j.started_at.timestamp() if j.started_at is not None else None
        done = j.completed_at.timestamp() if j.completed_at is not None else None
        # pending from creation to start (or to the end of a job that never started), then running to the end
        spans = [("pending", created, started if started is not None else done)]
        if started is not None:
            spans.append(("running", started, done))
        for state, begin, finish in spans:
            lo = first_at_or_after(begin)
            hi = first_at_or_after(finish) if finish is not None else n
            if lo < hi:
                alive[state][lo] += 1
                alive[state][hi] -= 1
        if done is not None and t0 <= done < t0 + n * step_s:
            ended[j.status][int((done - t0) // step_s)] += 1
        if started is None:
            continue
        run_end = max(done if done is not None else j.updated_at.timestamp(), started)
        duration = run_end - started
        first = max(0, int((started - t0) // step_s))
        last = min(n - 1, int((run_end - t0) // step_s)) if j.processed > 0 else -1
        for k in range(first, last + 1):
            if duration <= 0:
                rows[k] += j.processed
            else:
                lo_t, hi_t = max(started, t0 + k * step_s), min(run_end, t0 + (k + 1) * step_s)
                rows[k] += j.processed * max(hi_t - lo_t, 0.0) / duration
        if j.job_type == "import" and j.total > 0:
            stop = first_at_or_after(done) if done is not None else n
            for k in range(first_at_or_after(started), stop):
                by = j.processed if duration <= 0 or at[k] >= run_end else j.processed * (at[k] - started) / duration
                backlog[k] += max(j.total - by, 0.0)

    points = []
    counts = {state: 0 for state in alive}
    for k, start in enumerate(starts):
        for state in alive:
            counts[state] += alive[state][k]
        points.append(
            {
                "at": start.isoformat(),
                "rows_per_s": round(rows[k] / step_s, 2),
                "errors": errors.get(start, 0),
                **counts,
                **{state: ended[state][k] for state in FINAL},
                "backlog_rows": round(backlog[k]),
            }
        )
    return points
