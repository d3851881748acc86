"""services/aggregate/trailing.py: which unreported progress the aggregator's timer writes, and when."""

from __future__ import annotations

from schemas.progress import JobProgress, job_progress
from services.aggregate.trailing import TrailingReports


def _progress(job_id: str, reported_ms: int, status: str = "running") -> JobProgress:
    p = job_progress(job_id, "c1")
    p["reported_ms"], p["status"] = reported_ms, status  # type: ignore[typeddict-item]
    p["processed"] = 500
    return p


def test_unreported_running_progress_is_due_once_its_interval_has_passed() -> None:
    trailing = TrailingReports()
    trailing.after_result(_progress("a", reported_ms=1_000), reported=False)
    assert trailing.take_due(1_400, 500) == []
    due = trailing.take_due(1_500, 500)
    assert [p["job_id"] for p in due] == ["a"]
    assert trailing.take_due(9_000, 500) == []  # taken: written once


def test_the_latest_progress_of_a_job_is_the_one_held() -> None:
    trailing = TrailingReports()
    trailing.after_result(_progress("a", reported_ms=0), reported=False)
    newer = _progress("a", reported_ms=0)
    newer["processed"] = 1_000
    trailing.after_result(newer, reported=False)
    assert [p["processed"] for p in trailing.take_due(1_000, 500)] == [1_000]


def test_reported_or_ended_progress_is_let_go() -> None:
    trailing = TrailingReports()
    trailing.after_result(_progress("a", reported_ms=0), reported=False)
    trailing.after_result(_progress("a", reported_ms=900), reported=True)
    trailing.after_result(_progress("b", reported_ms=0), reported=False)
    trailing.after_result(_progress("b", reported_ms=0, status="completed"), reported=False)
    trailing.after_result(_progress("c", reported_ms=0), reported=False)
    assert [p["job_id"] for p in trailing.take_due(10_000, 500)] == ["c"]


def test_a_rebalance_forgets_what_is_held() -> None:
    trailing = TrailingReports()
    trailing.after_result(_progress("a", reported_ms=0), reported=False)
    trailing.clear()  # another worker may own this job now
    assert trailing.take_due(10_000, 500) == []
