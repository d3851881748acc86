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

    def state_at(self, t: dt.datetime) -> str | None:
        if t < self.created_at:
            return None
        if self.completed_at is not None and self.completed_at <= t:
            return self.status
        if self.started_at is not None and self.started_at <= t:
            return "running"
        return "pending"

    def _run(self) -> tuple[dt.datetime, dt.datetime] | None:
        if self.started_at is None or self.processed <= 0:
            return None
        return self.started_at, max(self.completed_at or self.updated_at, self.started_at)

    def processed_by(self, t: dt.datetime) -> float:
        run = self._run()
        if run is None or t <= run[0]:
            return 0.0
        begin, end = run
        if t >= end:
            return float(self.processed)
        return self.processed * (t - begin) / (end - begin)


def series(
    win: Window, jobs: Sequence[JobSpan], errors: Mapping[dt.datetime, int], now: dt.datetime
) -> list[dict[str, Any]]:
    """One point per step: the figures of the module's docstring. ``errors``: error lines per step start."""
    points = []
    step_s = win.step.total_seconds()
    for start in win.steps():
        end = start + win.step
        at = min(end, now)
        rows = sum(j.processed_by(end) - j.processed_by(start) for j in jobs)
        states: dict[str, int] = dict.fromkeys(("pending", "running", *FINAL), 0)
        backlog = 0.0
        for j in jobs:
            state = j.state_at(at)
            if state in ("pending", "running"):
                states[state] += 1
            if state == "running" and j.job_type == "import" and j.total > 0:
                backlog += max(j.total - j.processed_by(at), 0.0)
            if j.completed_at is not None and start <= j.completed_at < end:
                states[j.status] += 1
        points.append(
            {
                "at": start.isoformat(),
                "rows_per_s": round(rows / step_s, 2),
                "errors": errors.get(start, 0),
                **states,
                "backlog_rows": round(backlog),
            }
        )
    return points
