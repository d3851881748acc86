"""A job's progress as the aggregator keeps it (one value per job in the Faust table ``job-progress``).

One TypedDict, one builder, one encode/decode pair. The table's changelog outlives a deployment, so
``decode_job_progress`` reads values written before a key was added (each missing key gets its default).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

import orjson

from schemas.events import JobStatusKind

__all__ = ["JobProgress", "Outcome", "job_progress", "encode_job_progress", "decode_job_progress"]

Outcome = Literal["created", "updated", "skipped", "failed"]


class JobProgress(TypedDict):
    job_id: str
    company_id: str
    job_type: str
    target_model: str
    status: JobStatusKind  # running, then the job's final status
    total: int | None  # rows in the file: known once the split is done
    processed: int  # live counters, capped at total (delivery is at least once)
    created: int
    updated: int
    skipped: int
    failed: int
    started_ms: int | None
    completed_ms: int | None
    reported_ms: int  # when a status event last went out (status events are throttled)
    message: str | None
    policy: dict[str, Any] | None  # the job's error policy (options.error_policy)
    phase: str | None  # all-or-nothing imports: "validate", then "apply"


def job_progress(
    job_id: str,
    company_id: str,
    job_type: str = "import",
    target_model: str = "",
    *,
    policy: dict[str, Any] | None = None,
    phase: str | None = None,
) -> JobProgress:
    return JobProgress(
        job_id=job_id,
        company_id=company_id,
        job_type=job_type,
        target_model=target_model,
        status="running",
        total=None,
        processed=0,
        created=0,
        updated=0,
        skipped=0,
        failed=0,
        started_ms=None,
        completed_ms=None,
        reported_ms=0,
        message=None,
        policy=policy,
        phase=phase,
    )


def encode_job_progress(progress: JobProgress) -> bytes:
    return orjson.dumps(progress)


def decode_job_progress(data: bytes) -> JobProgress:
    stored = orjson.loads(data)
    if not isinstance(stored, dict) or not isinstance(stored.get("job_id"), str):
        raise ValueError("not a job progress value: a JSON object with job_id")
    defaults = job_progress(stored["job_id"], str(stored.get("company_id", "")))
    return cast(JobProgress, {**defaults, **{k: v for k, v in stored.items() if k in defaults}})
