"""Folding import results into job progress: capped live counters, finishing, status events."""

from __future__ import annotations

from services.aggregate.progress import counters, exact_counters, fold, ready_to_finish, status_event


def batch(outcomes: list[str]) -> dict:
    return {"job_id": "j", "company_id": "c", "kind": "batch", "outcomes": outcomes}


def test_counts_outcomes_and_finishes_at_total() -> None:
    p = fold(None, {"job_id": "j", "company_id": "c", "kind": "started"}, 1000)
    p = fold(p, batch(["created", "created", "failed"]), 1100)
    assert not ready_to_finish(p)
    p = fold(p, {"job_id": "j", "company_id": "c", "kind": "split_done", "total": 5}, 1200)
    p = fold(p, batch(["updated", "skipped"]), 1300)
    assert ready_to_finish(p)
    assert counters(p) == {
        "total": 5,
        "processed": 5,
        "success": 4,
        "error": 1,
        "created": 2,
        "updated": 1,
        "skipped": 1,
    }


def test_replayed_results_never_push_live_counters_past_the_total() -> None:
    p = fold(None, {"job_id": "j", "company_id": "c", "kind": "split_done", "total": 3}, 0)
    for _ in range(3):
        p = fold(p, batch(["created", "created"]), 0)
    assert p["processed"] == 3 and p["created"] == 3


def test_failed_is_final_and_later_results_change_nothing() -> None:
    p = fold(None, {"job_id": "j", "company_id": "c", "kind": "failed", "message": "bad file"}, 0)
    assert p["status"] == "failed" and p["message"] == "bad file"
    assert fold(p, batch(["created"]), 5) == p


def test_exact_counters_come_from_the_ledger() -> None:
    c = exact_counters({"created": 5, "updated": 2, "skipped": 1, "failed": 2}, 10)
    assert c == {"total": 10, "processed": 10, "success": 8, "error": 2, "created": 5, "updated": 2, "skipped": 1}


def test_status_event_carries_rate() -> None:
    p = fold(None, {"job_id": "j", "company_id": "c", "kind": "started"}, 1000)
    p = fold(p, batch(["created"] * 10), 2000)
    ev = status_event(p, 3000)
    assert ev["job_status"] == "running" and ev["processed_records"] == 10
    assert ev["rows_per_second"] == 5.0
