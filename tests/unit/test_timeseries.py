"""services.jobs.timeseries: the dashboard's figures, checked against a plain reading of their definitions (every
job at every step) over random job histories, and on a few hand-made cases."""

from __future__ import annotations

import datetime as dt
import random

from services.jobs.timeseries import FINAL, JobSpan, series, window

NOW = dt.datetime(2026, 12, 5, 11, 37, 23, 500_000, tzinfo=dt.UTC)


def _processed_by(j: JobSpan, t: dt.datetime) -> float:
    if j.started_at is None or j.processed <= 0 or t < j.started_at:
        return 0.0
    end = max(j.completed_at or j.updated_at, j.started_at)
    return float(j.processed) if t >= end else j.processed * (t - j.started_at) / (end - j.started_at)


def _state(j: JobSpan, t: dt.datetime) -> str | None:
    if t < j.created_at:
        return None
    if j.completed_at is not None and j.completed_at <= t:
        return j.status
    return "running" if j.started_at is not None and j.started_at <= t else "pending"


def reference(minutes: int, jobs: list[JobSpan]) -> list[dict[str, object]]:
    win = window(NOW, minutes)
    out = []
    for start in win.steps():
        end = start + win.step
        at = min(end, NOW)
        ended = {
            s: sum(1 for j in jobs if j.status == s and j.completed_at and start <= j.completed_at < end) for s in FINAL
        }
        running = [j for j in jobs if _state(j, at) == "running"]
        rows = sum(_processed_by(j, end) - _processed_by(j, start) for j in jobs)
        backlog = sum(max(j.total - _processed_by(j, at), 0) for j in running if j.job_type == "import" and j.total)
        out.append(
            {
                "at": start.isoformat(),
                "rows_per_s": round(rows / win.step.total_seconds(), 2),
                "errors": 0,
                "pending": sum(1 for j in jobs if _state(j, at) == "pending"),
                "running": len(running),
                **ended,
                "backlog_rows": round(backlog),
            }
        )
    return out


def random_job(rng: random.Random) -> JobSpan:
    created = NOW - dt.timedelta(seconds=rng.uniform(0, 7200))
    started = min(created + dt.timedelta(seconds=rng.uniform(0, 300)), NOW) if rng.random() < 0.8 else None
    status = rng.choice(["pending", "running", *FINAL]) if started is None else rng.choice(["running", *FINAL])
    if started is None and status == "running":
        status = "pending"
    completed = None
    if status in FINAL:
        completed = (started or created) + dt.timedelta(seconds=rng.choice([0, rng.uniform(0, 900)]))
        completed = min(completed, NOW)
    updated = completed or min((started or created) + dt.timedelta(seconds=rng.uniform(0, 600)), NOW)
    processed = rng.choice([0, rng.randint(1, 100_000)]) if started else 0
    total = rng.choice([0, processed + rng.randint(0, 50_000)])
    return JobSpan(rng.choice(["import", "export"]), status, created, started, completed, updated, total, processed)


def test_the_figures_match_their_definitions_over_random_histories() -> None:
    rng = random.Random(19)
    for minutes in (5, 10, 60, 1440):
        for _ in range(60):
            jobs = [random_job(rng) for _ in range(rng.randint(0, 40))]
            assert series(window(NOW, minutes), jobs, {}, NOW) == reference(minutes, jobs)


def test_a_window_ends_after_now_on_a_whole_step_and_errors_land_on_their_step() -> None:
    win = window(NOW, 60)
    assert win.step == dt.timedelta(minutes=1) and len(win.steps()) == 60
    assert win.steps()[-1] <= NOW < win.end == win.steps()[-1] + win.step
    assert window(NOW, 5).step == dt.timedelta(seconds=5)
    points = series(win, [], {win.steps()[3]: 7}, NOW)
    assert [p["errors"] for p in points].count(7) == 1 and points[3]["errors"] == 7


def test_a_job_ended_in_an_instant_counts_its_rows_in_that_step() -> None:
    win = window(NOW, 60)
    at = win.steps()[10] + dt.timedelta(seconds=30)
    job = JobSpan("import", "completed", at, at, at, at, 600, 600)
    points = series(win, [job], {}, NOW)
    assert points[10]["rows_per_s"] == 10 and points[10]["completed"] == 1
    assert sum(p["rows_per_s"] for p in points) == 10 and all(p["running"] == 0 for p in points)
