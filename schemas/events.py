"""The events on crmio's topics as types: one TypedDict per Avro schema, one builder each, one encode/decode pair.

A TypedDict is the dict fastavro writes and reads, so typing an event costs nothing at run time;
the builders are the only places an event's keys are spelled, so a schema change is one edit here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

import orjson

from schemas import avro

__all__ = [
    "JobRequest",
    "RecordBatch",
    "ImportResult",
    "JobStatus",
    "SendJobRequest",
    "SendImportResult",
    "SendJobStatus",
    "job_request",
    "record_batch",
    "import_result",
    "job_status",
    "encode_job_request",
    "decode_job_request",
    "encode_record_batch",
    "decode_record_batch",
    "encode_import_result",
    "decode_import_result",
    "encode_job_status",
    "decode_job_status",
]

JobStatusKind = Literal["pending", "running", "completed", "failed", "cancelled"]
ResultKind = Literal["started", "batch", "split_done", "failed", "cancelled"]


class JobRequest(TypedDict):
    """crm.jobs.requests (job_request.v2), key job id: a job to record, admit or start."""

    job_id: str
    company_id: str
    job_type: str
    target_model: str
    file_format: str
    file_path: str
    original_filename: str | None
    field_mapping: dict[str, str] | None
    validation_rules: str | None  # JSON
    duplicate_handling: str
    options: str | None  # JSON; carries the job's value_mapping for other systems (no schema change)
    created_by_user_id: str | None
    requested_at: int
    admitted: NotRequired[bool]  # v2: a start request from admission (v1 readers see a plain request)


class RecordBatch(TypedDict):
    """crm.import.records (record_batch.v1), key the rows' match key: a run of rows of one partition, by column."""

    job_id: str
    company_id: str
    target_model: str
    fields: list[str]
    numbers: list[int]
    columns: list[list[str]]
    problems: dict[str, str]


class ImportResult(TypedDict):
    """crm.import.results (import_result.v1), key job id: what happened to a job's rows."""

    job_id: str
    company_id: str
    kind: ResultKind
    total: NotRequired[int | None]
    message: NotRequired[str | None]
    numbers: NotRequired[list[int]]
    outcomes: NotRequired[list[str]]
    errors: NotRequired[dict[str, str]]
    replayed: NotRequired[list[int]]
    at: int


class JobStatus(TypedDict):
    """crm.jobs.status (job_status.v1, compacted), key job id: the latest state of a job."""

    job_id: str
    company_id: str
    job_type: str
    target_model: str
    job_status: JobStatusKind
    total_records: int | None
    processed_records: int
    success_records: int
    error_records: int
    created_records: int
    updated_records: int
    skipped_records: int
    started_at: int | None
    completed_at: int | None
    rows_per_second: float
    message: str | None
    at: int


# What sends an event of a kind (a Faust topic's send, or aiokafka's through services.core.kafka_io).
SendJobRequest = Callable[[JobRequest], Awaitable[None]]
SendImportResult = Callable[[ImportResult], Awaitable[None]]
SendJobStatus = Callable[[JobStatus], Awaitable[None]]


def _json(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value else None


def job_request(job: Mapping[str, Any], *, requested_at: int, admitted: bool | None = None) -> JobRequest:
    """The request for a job (a job row, or the dict a submission inserts): every key the worker needs.

    ``admitted``: True for admission's start request, False for a request to record a job, None
    (left out) for the plain request of a new job.
    """
    options = dict(job.get("options") or {})
    if job.get("value_mapping"):
        options["value_mapping"] = job["value_mapping"]
    event = JobRequest(
        job_id=str(job["id"]),
        company_id=str(job["company_id"]),
        job_type=job["job_type"],
        target_model=job["target_model"],
        file_format=job["file_format"],
        file_path=job["file_path"] or "",
        original_filename=job.get("original_filename"),
        field_mapping=dict(job["field_mapping"]) if job.get("field_mapping") else None,
        validation_rules=_json(job.get("validation_rules")),
        duplicate_handling=job.get("duplicate_handling") or "skip",
        options=orjson.dumps(options).decode() if options else None,
        created_by_user_id=str(job["created_by_user_id"]) if job.get("created_by_user_id") else None,
        requested_at=requested_at,
    )
    if admitted is not None:
        event["admitted"] = admitted
    return event


def record_batch(
    job_id: str,
    company_id: str,
    target_model: str,
    fields: Iterable[str],
    numbers: list[int],
    columns: list[list[str]],
    problems: Mapping[str, str] | None = None,
) -> RecordBatch:
    """A run of rows by column: ``columns[i][j]`` is field ``fields[i]`` of row ``numbers[j]``; ``problems``
    names, by row number, rows the reader could not read whole (they fail with that message)."""
    return RecordBatch(
        job_id=job_id,
        company_id=company_id,
        target_model=target_model,
        fields=list(fields),
        numbers=numbers,
        columns=columns,
        problems=dict(problems or {}),
    )


def import_result(
    job_id: str,
    company_id: str,
    kind: ResultKind,
    *,
    at: int,
    total: int | None = None,
    message: str | None = None,
    numbers: Iterable[int] = (),
    outcomes: Iterable[str] = (),
    errors: Mapping[str, str] | None = None,
    replayed: Iterable[int] = (),
) -> ImportResult:
    """An import result: started, a batch's outcomes, the split's total, failed or cancelled."""
    return ImportResult(
        job_id=job_id,
        company_id=company_id,
        kind=kind,
        total=total,
        message=message,
        numbers=list(numbers),
        outcomes=list(outcomes),
        errors=dict(errors or {}),
        replayed=list(replayed),
        at=at,
    )


_NO_COUNTS: Mapping[str, int] = {"processed": 0, "success": 0, "error": 0, "created": 0, "updated": 0, "skipped": 0}


def job_status(
    job: Mapping[str, Any],
    status: JobStatusKind,
    *,
    at: int,
    total: int | None = None,
    counters: Mapping[str, int] | None = None,
    started_ms: int | None = None,
    completed_ms: int | None = None,
    message: str | None = None,
) -> JobStatus:
    """The status event of ``job`` (anything with id or job_id, company_id, job_type, target_model).

    rows_per_second is the rows processed over the time from start to completion (or ``at``).
    """
    c = _NO_COUNTS if counters is None else counters
    elapsed_s = ((completed_ms or at) - (started_ms or at)) / 1000
    return JobStatus(
        job_id=str(job["job_id"] if "job_id" in job else job["id"]),
        company_id=str(job["company_id"]),
        job_type=job["job_type"],
        target_model=job["target_model"],
        job_status=status,
        total_records=total,
        processed_records=c["processed"],
        success_records=c["success"],
        error_records=c["error"],
        created_records=c["created"],
        updated_records=c["updated"],
        skipped_records=c["skipped"],
        started_at=started_ms,
        completed_at=completed_ms,
        rows_per_second=c["processed"] / elapsed_s if elapsed_s > 0 else 0.0,
        message=message,
        at=at,
    )


def _millis(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    # fastavro reads a timestamp-millis as a datetime; the events carry epoch milliseconds both ways.
    for key in keys:
        value = record.get(key)
        if isinstance(value, dt.datetime):
            record[key] = round(value.timestamp() * 1000)
    return record


def encode_job_request(event: JobRequest) -> bytes:
    return avro.encode("job_request", event)


def decode_job_request(data: bytes) -> JobRequest:
    return cast(JobRequest, _millis(avro.decode("job_request", data), "requested_at"))


def encode_record_batch(event: RecordBatch) -> bytes:
    return avro.encode("record_batch", event)


def decode_record_batch(data: bytes) -> RecordBatch:
    return cast(RecordBatch, avro.decode("record_batch", data))


def encode_import_result(event: ImportResult) -> bytes:
    return avro.encode("import_result", event)


def decode_import_result(data: bytes) -> ImportResult:
    return cast(ImportResult, _millis(avro.decode("import_result", data), "at"))


def encode_job_status(event: JobStatus) -> bytes:
    return avro.encode("job_status", event)


def decode_job_status(data: bytes) -> JobStatus:
    return cast(JobStatus, _millis(avro.decode("job_status", data), "started_at", "completed_at", "at"))
