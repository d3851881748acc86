"""Progress the aggregator folded in but has not written yet, written once the status interval has passed.

A job's counters are written at most once per status interval, when a result arrives. The results that
arrive within the interval after a write are only folded into the table, and nothing writes them if no
result follows: the job's row stays behind for good. The split waits on that row (it runs at most
split_ahead_rows ahead of the processed rows), so a burst of results followed by silence stalled the
import forever (seen: 61,000 rows applied, the row at 10,500, the split waiting for 11,000).
"""

from __future__ import annotations

from schemas.progress import JobProgress
from services.aggregate.progress import is_due

__all__ = ["TrailingReports"]


class TrailingReports:
    """The latest unreported progress of each job this worker aggregates."""

    def __init__(self) -> None:
        self._held: dict[str, JobProgress] = {}

    def after_result(self, progress: JobProgress, reported: bool) -> None:
        """Track ``progress`` after a result: held while it is running and unreported, else let go."""
        if progress["status"] == "running" and not reported:
            self._held[progress["job_id"]] = progress
        else:
            self._held.pop(progress["job_id"], None)

    def take_due(self, now_ms: int, interval_ms: int) -> list[JobProgress]:
        """The held progress whose last report is at least ``interval_ms`` old; no longer held."""
        due = [p for p in self._held.values() if is_due(p, now_ms, interval_ms)]
        for p in due:
            del self._held[p["job_id"]]
        return due

    def clear(self) -> None:
        """Forget everything: after a rebalance another worker may aggregate these jobs, from the changelog."""
        self._held.clear()
