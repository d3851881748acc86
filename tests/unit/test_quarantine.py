"""A job whose rows cannot be prepared (a fault of ours, not of its data) is failed alone with a message;
the other jobs' rows in the same take go on (issue 17: a poison batch froze every worker in turn)."""

from __future__ import annotations

from typing import Any

from schemas import events
from schemas.models import LEAD
from services.apply import pipeline
from services.apply.batch import BatchResult, JobContext
from services.cleansing.cleaning import RecordCleaner


class _Poisoned(RecordCleaner):
    def clean(self, raw: Any) -> Any:
        if raw.get("last_name") == "Poison":
            raise RuntimeError("a cleaner bug")
        return super().clean(raw)


class _Contexts:
    def __init__(self) -> None:
        self.ctx = {
            "bad": JobContext("bad", "c1", LEAD, "skip", _Poisoned(LEAD)),
            "good": JobContext("good", "c2", LEAD, "skip", RecordCleaner(LEAD)),
        }

    async def get(self, company_id: str, job_id: str, fields: tuple[str, ...] = ()) -> JobContext | None:
        return self.ctx[job_id]


def _batch(job: str, company: str, last: str, first_number: int) -> events.RecordBatch:
    return events.RecordBatch(
        job_id=job,
        company_id=company,
        target_model="lead",
        fields=["first_name", "last_name", "email"],
        numbers=[first_number, first_number + 1],
        columns=[["A", "B"], [last, last], ["a@x.co", "b@x.co"]],
        problems={},
    )


async def test_a_poisoned_job_is_failed_alone_and_the_other_jobs_rows_are_applied(monkeypatch: Any) -> None:
    prepared = await pipeline.prepare_events(  # type: ignore[arg-type]
        _Contexts(), [_batch("bad", "c1", "Poison", 7), _batch("good", "c2", "Fine", 1)]
    )
    assert [(p.ctx.job_id, p.quarantined is not None, len(p.cleaned)) for p in prepared] == [
        ("bad", True, 0),
        ("good", False, 2),
    ]

    async def fake_apply(res: Any, ctx: JobContext, fields: Any, cleaned: Any) -> BatchResult:
        result = BatchResult()
        for row, _ in cleaned:
            result.add(row.number, "created")
        return result

    monkeypatch.setattr(pipeline, "_apply_job", fake_apply)
    results = await pipeline.apply_prepared(None, prepared)  # type: ignore[arg-type]
    assert [(r["job_id"], r["kind"]) for r in results] == [("bad", "failed"), ("good", "batch")]
    assert "rows 7-8 could not be cleansed (RuntimeError: a cleaner bug)" in (results[0].get("message") or "")
    assert results[1].get("numbers") == [1, 2]
