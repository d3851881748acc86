"""The import pipeline's steps as plain async functions the Faust agents call.

- ``run_import_request``: a job request -> validated file and mapping -> record-batch events.
- ``apply_events``: record-batch events -> one transaction per job -> import-result events.
Neither raises for bad data: refusals become a 'failed' result, bad rows become failed outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from schemas.models import get_model
from services import jobs, storage
from services.apply import BatchResult, JobContext, SourceRow, apply_rows, record_failures
from services.cleaning import CleanOptions, RecordCleaner, validate_rules
from services.db import is_transient, with_retry
from services.errors import CrmioError
from services.filetype import check_file
from services.readers import ReaderLimits
from services.settings import Settings
from services.progress import exact_counters
from services.splitter import open_import, split_rows

__all__ = [
    "Resources",
    "JobContexts",
    "run_import_request",
    "apply_events",
    "result_event",
    "job_from_request",
    "reader_limits",
    "now_ms",
    "exact_when_complete",
]

log = logging.getLogger(__name__)

SendBatch = Callable[[int, dict[str, Any]], Awaitable[None]]
SendResult = Callable[[dict[str, Any]], Awaitable[None]]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Resources:
    settings: Settings
    pool: asyncpg.Pool


def reader_limits(settings: Settings) -> ReaderLimits:
    return ReaderLimits(
        max_rows=settings.max_rows,
        max_columns=settings.max_columns,
        max_field_bytes=settings.max_field_bytes,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
    )


def result_event(job_id: str, company_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "company_id": company_id, "kind": kind, "at": now_ms(), **extra}


def job_from_request(req: dict[str, Any]) -> dict[str, Any]:
    """The job row a request event describes (for requests published by other systems)."""
    return {
        "id": req["job_id"],
        "company_id": req["company_id"],
        "job_type": req["job_type"],
        "target_model": req["target_model"],
        "file_format": req["file_format"],
        "file_path": req["file_path"],
        "field_mapping": req.get("field_mapping"),
        "validation_rules": orjson.loads(req["validation_rules"]) if req.get("validation_rules") else None,
        "duplicate_handling": req.get("duplicate_handling") or "skip",
        "created_by_user_id": req.get("created_by_user_id"),
        "original_filename": req.get("original_filename"),
        "options": orjson.loads(req["options"]) if req.get("options") else {},
    }


def _clean_options(options: dict[str, Any], settings: Settings) -> CleanOptions:
    return CleanOptions(
        date_order=options.get("date_order") or settings.default_date_order,
        phone_region=options.get("phone_region") or settings.default_phone_region,
    )


class JobContexts:
    """Per-job apply context (model, cleaner, duplicate mode), loaded once per worker from the job row."""

    def __init__(self, res: Resources, size: int = 256) -> None:
        self._res = res
        self._cache: OrderedDict[str, JobContext | None] = OrderedDict()
        self._size = size

    async def get(self, company_id: str, job_id: str) -> JobContext | None:
        if job_id in self._cache:
            self._cache.move_to_end(job_id)
            return self._cache[job_id]

        async def load() -> asyncpg.Record | None:
            async with self._res.pool.acquire() as conn:
                return await jobs.get_job(conn, company_id, job_id)

        row = await with_retry(load, what=f"loading job {job_id}")
        ctx = None
        if row is not None:
            model = get_model(row["target_model"])
            ctx = JobContext(
                job_id=job_id,
                company_id=company_id,
                model=model,
                duplicate_handling=row["duplicate_handling"],
                cleaner=RecordCleaner(model, row["validation_rules"], _clean_options(row["options"], self._res.settings)),
            )
        self._cache[job_id] = ctx
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return ctx


async def run_import_request(res: Resources, req: dict[str, Any], send_batch: SendBatch, send_result: SendResult) -> None:
    """Validate the job's file and mapping, then stream its rows out as record-batch events."""
    job_id, company_id = req["job_id"], req["company_id"]

    async def load() -> asyncpg.Record | None:
        async with res.pool.acquire() as conn:
            await jobs.insert_job(conn, job_from_request(req))
            return await jobs.get_job(conn, company_id, job_id)

    job = await with_retry(load, what=f"recording job {job_id}")
    if job is None or job["job_status"] in jobs.FINAL_STATUSES:
        return  # replayed request of a finished job
    await send_result(result_event(job_id, company_id, "started"))
    settings = res.settings
    try:
        model = get_model(job["target_model"])
        validate_rules(model, job["validation_rules"])
        display = job["original_filename"] or job["file_path"]
        path = storage.resolve(settings.storage_dir, company_id, job["file_path"])
        fmt = check_file(path, job["file_format"], display)
        plan = await asyncio.to_thread(
            open_import, path, fmt, model,
            display_name=display, mapping=job["field_mapping"], options=job["options"],
            limits=reader_limits(settings),
        )
    except (CrmioError, ValueError) as exc:
        await send_result(result_event(job_id, company_id, "failed", message=str(exc)))
        return

    total = 0
    rows = split_rows(
        plan, model, job_id=job_id, company_id=company_id,
        partitions=settings.record_partitions, rows_per_event=settings.rows_per_event,
    )

    def next_events() -> list[tuple[int, dict[str, Any]]]:
        # Several events per thread hop keeps the hop cost negligible.
        out: list[tuple[int, dict[str, Any]]] = []
        for item in rows:
            out.append(item)
            if len(out) >= 8:
                break
        return out

    try:
        while events := await asyncio.to_thread(next_events):
            for partition, event in events:
                total += len(event["numbers"])
                await send_batch(partition, event)
    except CrmioError as exc:
        log.warning("import %s stopped while reading: %s", job_id, exc)
        await send_result(result_event(job_id, company_id, "failed", message=str(exc)))
        return
    finally:
        plan.close()
    await send_result(result_event(job_id, company_id, "split_done", total=total))


def _rows_of(event: dict[str, Any]) -> list[SourceRow]:
    fields = event["fields"]
    problems = event.get("problems") or {}
    rows = []
    for number, *values in zip(event["numbers"], *event["columns"]):
        rows.append(SourceRow(number, dict(zip(fields, values)), problems.get(str(number))))
    if not fields:  # a file mapped to nothing still has rows
        rows = [SourceRow(n, {}, problems.get(str(n))) for n in event["numbers"]]
    return rows


async def _apply_job(res: Resources, ctx: JobContext, fields: tuple[str, ...], rows: list[SourceRow]) -> BatchResult:
    async def whole() -> BatchResult:
        async with res.pool.acquire() as conn:
            return await apply_rows(conn, ctx, fields, rows)

    try:
        return await with_retry(whole, what=f"applying {len(rows)} rows of job {ctx.job_id}")
    except Exception as exc:  # noqa: BLE001 - non-transient: isolate the rows the database refuses
        log.warning("job %s: batch refused (%s); applying row by row", ctx.job_id, exc)
    result = BatchResult()
    for row in rows:
        async def one(row: SourceRow = row) -> BatchResult:
            async with res.pool.acquire() as conn:
                try:
                    return await apply_rows(conn, ctx, fields, [row])
                except Exception as exc:  # noqa: BLE001
                    if is_transient(exc):
                        raise
                    return await record_failures(conn, ctx, [row], f"{type(exc).__name__}: {exc}")

        part = await with_retry(one, what=f"applying row {row.number} of job {ctx.job_id}")
        result.numbers += part.numbers
        result.outcomes += part.outcomes
        result.record_ids += part.record_ids
        result.errors.update(part.errors)
        result.replayed += part.replayed
    return result


async def apply_events(res: Resources, contexts: JobContexts, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply record-batch events (grouped per job, file order kept) and return one result event per job."""
    by_job: dict[str, tuple[str, tuple[str, ...], list[SourceRow]]] = {}
    for event in events:
        company_id, fields, rows = by_job.setdefault(
            event["job_id"], (event["company_id"], tuple(event["fields"]), [])
        )
        rows.extend(_rows_of(event))
    results = []
    for job_id, (company_id, fields, rows) in by_job.items():
        ctx = await contexts.get(company_id, job_id)
        if ctx is None:
            log.warning("dropping %d rows of unknown job %s (company %s)", len(rows), job_id, company_id)
            continue
        r = await _apply_job(res, ctx, fields, rows)
        results.append(result_event(
            job_id, company_id, "batch",
            numbers=r.numbers, outcomes=r.outcomes, record_ids=r.record_ids, errors=r.errors, replayed=r.replayed,
        ))
    return results


async def exact_when_complete(res: Resources, progress: dict[str, Any]) -> dict[str, int] | None:
    """Exact counters when the ledger holds every row of the job, else None (results still in flight)."""
    async def count() -> dict[str, int]:
        async with res.pool.acquire() as conn:
            return await jobs.ledger_counts(conn, progress["company_id"], progress["job_id"])

    ledger = await with_retry(count, what=f"counting job {progress['job_id']}")
    c = exact_counters(ledger, progress["total"])
    return c if c["processed"] >= (progress["total"] or 0) else None
