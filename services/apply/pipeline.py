"""The import pipeline's steps as plain async functions the Faust agents call.

- ``run_import_request``: a job request -> validated file and mapping -> record-batch events.
- ``prepare_events`` + ``apply_prepared``: record-batch events -> cleansed rows -> one transaction
  per job -> import-result events; ``SequentialApplier`` overlaps the two across batches.
Neither raises for bad data: refusals become a 'failed' result, bad rows become failed outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
import orjson
from aiokafka.errors import MessageSizeTooLargeError

from schemas import events
from schemas.models import get_model
from services.apply import statistics
from services.apply.account_links import AccountLinks, job_links
from services.apply.batch import BatchResult, Cleaned, JobContext, SourceRow, apply_rows, clean_rows, record_failures
from services.cleansing.cleaning import RecordCleaner
from services.cleansing.job_values import job_cleaner
from services.core import storage, worker_metrics
from services.core.db import is_transient, tenant, with_retry
from services.core.errors import CrmioError
from services.core.logs import log_context
from services.core.runtime import Runtime
from services.ingest import uploads
from services.ingest.filetype import check_file
from services.ingest.split_process import split_in_child
from services.jobs import repository as jobs
from services.jobs.error_policy import parse_policy, policy_options
from services.jobs.limits import CompanyLimits, company_limits

__all__ = [
    "JobContexts",
    "record_request",
    "run_import_request",
    "PreparedJobRows",
    "prepare_events",
    "apply_prepared",
    "SequentialApplier",
    "LaneApplier",
    "result_event",
    "job_from_request",
    "now_ms",
]

log = logging.getLogger(__name__)

SendResult = events.SendImportResult


SPLIT_ATTEMPTS = 5
# A JobRequest's file_path may name an upload of the HTTP API as "upload:<upload id>".
UPLOAD_REF = "upload:"


def now_ms() -> int:
    return int(time.time() * 1000)


def result_event(job_id: str, company_id: str, kind: events.ResultKind, **extra: Any) -> events.ImportResult:
    return events.import_result(job_id, company_id, kind, at=now_ms(), **extra)


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
        **_options_and_values(req.get("options")),
    }


def _options_and_values(options_json: str | None) -> dict[str, Any]:
    # The request event carries a job's value_mapping inside its options (no schema change for
    # other systems); the job row keeps it in its own column, beside field_mapping.
    options = orjson.loads(options_json) if options_json else {}
    value_mapping = options.pop("value_mapping", None) if isinstance(options, dict) else None
    return {"options": options, "value_mapping": value_mapping}


class JobContexts:
    """Per-job apply context (model, cleaner, duplicate mode), loaded once per worker from the job row."""

    def __init__(self, res: Runtime, size: int = 256) -> None:
        self._res = res
        self._cache: OrderedDict[str, JobContext | None] = OrderedDict()
        self._size = size

    async def get(self, company_id: str, job_id: str, fields: tuple[str, ...] = ()) -> JobContext | None:
        """``fields``: what the job's rows carry (every batch of a job carries the same), which says whether
        it links contacts to accounts."""
        if job_id in self._cache:
            self._cache.move_to_end(job_id)
            return self._cache[job_id]

        async def load() -> tuple[asyncpg.Record | None, RecordCleaner | None, AccountLinks | None]:
            async with tenant(self._res.pool, company_id) as conn:
                row = await jobs.get_job(conn, company_id, job_id)
                if row is None:
                    return None, None, None
                cleaner = await job_cleaner(conn, company_id, row, self._res.settings, started=True)
                # Checked when the job started (services.ingest.splitter): a link the mapping cannot make was refused.
                links = await job_links(conn, company_id, cleaner.model, row["options"], fields)
                return row, cleaner, links

        row, cleaner, links = await with_retry(load, what=f"loading job {job_id}")
        ctx = None
        if row is not None and cleaner is not None:
            ctx = JobContext(
                job_id=job_id,
                company_id=company_id,
                model=cleaner.model,
                duplicate_handling=row["duplicate_handling"],
                cleaner=cleaner,
                partitions=self._res.settings.record_partitions,
                dry_run=bool(row["options"].get("dry_run")),
                links=links,
            )
        self._cache[job_id] = ctx
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return ctx


async def record_request(res: Runtime, req: dict[str, Any]) -> None:
    """Create the pending job row a request describes, unless it exists (the API and CLI create it first)."""
    company_id = req["company_id"]

    async def insert() -> None:
        async with tenant(res.pool, company_id) as conn:
            job = {**job_from_request(req), "queue": res.settings.topic_prefix}
            if job["job_type"] == "import":
                try:
                    job["options"] = policy_options(job["options"])
                except CrmioError:
                    pass  # kept as sent: the job fails with the policy's error when it starts
            if job["file_path"].startswith(UPLOAD_REF):  # another system names an API upload
                upload = await uploads.get_upload(conn, company_id, job["file_path"][len(UPLOAD_REF) :])
                if upload is not None:
                    job["file_path"] = upload["stored_path"]
                    job["original_filename"] = job["original_filename"] or upload["original_filename"]
            await jobs.insert_job(conn, job)

    await with_retry(insert, what=f"recording job {req['job_id']}")


async def run_import_request(res: Runtime, req: dict[str, Any], send_result: SendResult) -> None:
    """Validate the job's file and mapping, then stream its rows out as record-batch events (from the split process)."""
    job_id, company_id = req["job_id"], req["company_id"]

    async def load() -> tuple[asyncpg.Record | None, CompanyLimits]:
        async with tenant(res.pool, company_id) as conn:
            return await jobs.get_job(conn, company_id, job_id), await company_limits(conn, res.settings, company_id)

    job, limits = await with_retry(load, what=f"loading job {job_id}")
    if job is None or job["job_status"] in jobs.FINAL_STATUSES:
        return  # replayed request of a finished job

    async def ended() -> bool:
        async with tenant(res.pool, company_id) as conn:
            return await jobs.job_status(conn, company_id, job_id) in jobs.FINAL_STATUSES

    await send_result(result_event(job_id, company_id, "started"))
    settings = res.settings

    async def build_cleaner() -> RecordCleaner:
        async with tenant(res.pool, company_id) as conn:
            return await job_cleaner(conn, company_id, job, settings)

    try:
        # The apply agent builds this cleaner for every batch: refuse bad rules, options or value maps now.
        model = (await with_retry(build_cleaner, what=f"checking job {job_id}")).model
        parse_policy(job["options"].get("error_policy"))
        display = job["original_filename"] or job["file_path"]
        path = await with_retry(  # object storage away: waited for a minute, then the job fails saying so
            lambda: asyncio.to_thread(storage.of(settings).file, company_id, job["file_path"]),
            what=f"finding the file of job {job_id}",
            give_up_after_s=60,
        )
        fmt = await asyncio.to_thread(check_file, path, job["file_format"], display)
    except (CrmioError, ValueError) as exc:
        await send_result(result_event(job_id, company_id, "failed", message=str(exc)))
        return

    # The split process opens the file and settles the mapping (refusing an unusable one before
    # it sends a row): opening it here too would parse a workbook's strings twice.
    job_spec = {
        "id": job_id,
        "company_id": company_id,
        "target_model": model.name,
        "model": model,  # the company's, with its custom fields
        "file_format": fmt,
        "display_name": display,
        "field_mapping": job["field_mapping"],
        "options": job["options"],
        "duplicate_handling": job["duplicate_handling"],
        "max_rows": limits.max_rows,
    }
    for attempt in range(1, SPLIT_ATTEMPTS + 1):
        try:
            total = await split_in_child(settings, job_spec, path)
            break
        except CrmioError as exc:
            if exc.retriable and attempt < SPLIT_ATTEMPTS:  # object storage away: reading again is harmless
                log.warning("import %s: split attempt %d failed: %s", job_id, attempt, exc)
                await asyncio.sleep(min(2**attempt, 30))
                if await with_retry(ended, what=f"loading job {job_id}"):
                    return
                continue
            log.warning("import %s stopped while reading: %s", job_id, exc)  # the file itself: final
            await send_result(result_event(job_id, company_id, "failed", message=str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - broker or process trouble: splitting again is harmless
            log.warning("import %s: split attempt %d failed: %r", job_id, attempt, exc)
            if isinstance(exc, MessageSizeTooLargeError):  # the same events again would be refused again
                message = (
                    f"the broker refused a record event as too large ({exc}): set max_event_bytes below the "
                    "broker's message.max.bytes, then retry the job"
                )
            elif attempt == SPLIT_ATTEMPTS:
                message = f"could not read the file into the pipeline after {attempt} attempts: {exc}"
            else:
                await asyncio.sleep(min(2**attempt, 30))
                if await with_retry(ended, what=f"loading job {job_id}"):
                    return  # cancelled meanwhile: its slot goes to the next job now
                continue
            await send_result(result_event(job_id, company_id, "failed", message=message))
            return
    await send_result(result_event(job_id, company_id, "split_done", total=total))


def _rows_of(event: events.RecordBatch) -> list[SourceRow]:
    fields = event["fields"]
    problems = event.get("problems") or {}
    if not fields:  # a file mapped to nothing still has rows
        return [SourceRow(n, {}, problems.get(str(n))) for n in event["numbers"]]
    # map, not a comprehension: the iteration stays in C (0.83 against 1.0 µs a row of 12 fields).
    rows = list(map(SourceRow, event["numbers"], map(dict, map(partial(zip, fields), zip(*event["columns"])))))
    for row in rows if problems else ():
        row.problem = problems.get(str(row.number))
    return rows


async def _apply_job(res: Runtime, ctx: JobContext, fields: tuple[str, ...], cleaned: Cleaned) -> BatchResult | None:
    async def whole() -> BatchResult | None:
        async with tenant(res.pool, ctx.company_id) as conn:
            return await apply_rows(conn, ctx, fields, cleaned)

    try:
        return await with_retry(whole, what=f"applying {len(cleaned)} rows of job {ctx.job_id}")
    except Exception as exc:  # noqa: BLE001 - non-transient: isolate the rows the database refuses
        log.warning("job %s: batch refused (%s); applying row by row", ctx.job_id, exc)
    result = BatchResult()
    for pair in cleaned:

        async def one(pair: tuple[SourceRow, Any] = pair) -> BatchResult | None:
            async with tenant(res.pool, ctx.company_id) as conn:
                try:
                    return await apply_rows(conn, ctx, fields, [pair])
                except Exception as exc:  # noqa: BLE001
                    if is_transient(exc):
                        raise
                    return await record_failures(conn, ctx, [pair[0]], f"{type(exc).__name__}: {exc}")

        part = await with_retry(one, what=f"applying row {pair[0].number} of job {ctx.job_id}")
        if part is None:
            return None  # cancelled meanwhile
        result.numbers += part.numbers
        result.outcomes += part.outcomes
        result.errors.update(part.errors)
        result.replayed += part.replayed
        if part.stop:
            result.stop = part.stop
            return result
    return result


async def _stop_job(res: Runtime, ctx: JobContext, message: str) -> None:
    async def stop() -> None:
        async with tenant(res.pool, ctx.company_id) as conn:
            await jobs.end_job_now(conn, ctx.company_id, ctx.job_id, "failed", message)

    await with_retry(stop, what=f"stopping job {ctx.job_id}")


@dataclass
class PreparedJobRows:
    ctx: JobContext
    fields: tuple[str, ...]
    cleaned: Cleaned
    # Set when the job's rows could not be prepared at all (a fault of ours, not of the data): the
    # job is failed with this message instead of its batch being delivered again and again.
    quarantined: str | None = None


# Longest the event loop is given to turning events into rows or cleansing them before it serves its other work.
_SLICE_S = 0.002


class _Slices:
    """Gives the event loop back once a slice of _SLICE_S has been used since the last time."""

    def __init__(self) -> None:
        self._until = time.perf_counter() + _SLICE_S

    async def pause(self) -> None:
        if time.perf_counter() > self._until:
            await asyncio.sleep(0)
            self._until = time.perf_counter() + _SLICE_S


async def _rows_by_job(batches: list[events.RecordBatch]) -> dict[str, tuple[str, tuple[str, ...], list[SourceRow]]]:
    """job id -> (company id, fields, rows in file order, each once)."""
    by_job: dict[str, tuple[str, tuple[str, ...], list[SourceRow]]] = {}
    slices = _Slices()
    for event in batches:
        _, _, rows = by_job.setdefault(event["job_id"], (event["company_id"], tuple(event["fields"]), []))
        rows.extend(_rows_of(event))
        await slices.pause()
    return {job_id: (company_id, fields, _once_each(rows)) for job_id, (company_id, fields, rows) in by_job.items()}


def _once_each(rows: list[SourceRow]) -> list[SourceRow]:
    if len({r.number for r in rows}) == len(rows):
        return rows
    # The same event delivered twice in one take (after a rebalance): one copy of each row is
    # enough, and two in one transaction would make the database refuse the whole batch.
    seen: set[int] = set()
    unique = []
    for r in rows:
        if r.number not in seen:
            seen.add(r.number)
            unique.append(r)
    return unique


async def _clean(ctx: JobContext, rows: list[SourceRow]) -> Cleaned:
    """clean_rows, 8 rows at a time between pauses (a row of long cells may take a few milliseconds)."""
    cleaned: Cleaned = []
    slices = _Slices()
    for start in range(0, len(rows), 8):
        cleaned.extend(clean_rows(ctx, rows[start : start + 8]))
        await slices.pause()
    return cleaned


async def prepare_events(contexts: JobContexts, batches: list[events.RecordBatch]) -> list[PreparedJobRows]:
    """Group record-batch events per job (file order kept) and cleanse their rows: the CPU part,
    which needs no database state and so can run while the previous batch is being written.
    On the event loop, in slices of a few milliseconds: a large or slow batch takes turns with the loop's other
    work (heartbeats, the database writes of the previous batch, the other lanes) instead of holding it. Not in a
    thread: a thread would take turns for the GIL, and the loop lost up to the 5 ms switch interval each time it
    gave the GIL up for a socket write (a fifth of its time in a 1M-row import, docs/benchmarks.md)."""
    prepared = []
    for job_id, (company_id, fields, rows) in (await _rows_by_job(batches)).items():
        ctx = await contexts.get(company_id, job_id, fields)
        if ctx is None:
            log.warning("dropping %d rows of unknown job %s (company %s)", len(rows), job_id, company_id)
            continue
        try:
            cleaned = await _clean(ctx, rows)
        except Exception as exc:  # noqa: BLE001 - one job's poison must not stop the others' rows
            first, last = min(r.number for r in rows), max(r.number for r in rows)
            message = (
                f"rows {first}-{last} could not be cleansed ({type(exc).__name__}: {exc}); the import was stopped "
                "so that it is not retried forever. Report it to your administrator with this message"
            )
            log.exception("job %s quarantined: %s", job_id, message)
            prepared.append(PreparedJobRows(ctx, fields, [], quarantined=message))
            continue
        prepared.append(PreparedJobRows(ctx, fields, cleaned))
    return prepared


async def apply_prepared(res: Runtime, prepared: list[PreparedJobRows]) -> list[events.ImportResult]:
    """One transaction per job; returns one result event per job. Never raises for bad data."""
    results = []
    for p in prepared:
        if p.quarantined is not None:
            results.append(result_event(p.ctx.job_id, p.ctx.company_id, "failed", message=p.quarantined))
            continue
        started = time.perf_counter()
        with log_context(job_id=p.ctx.job_id, company_id=p.ctx.company_id):
            r = await _apply_job(res, p.ctx, p.fields, p.cleaned)
        if r is None:
            continue  # the job was cancelled: its remaining rows are dropped, unapplied
        if not p.ctx.dry_run:
            statistics.fresh.applied(res, _written_tables(p.ctx), p.ctx.company_id, len(r.numbers))
        worker_metrics.batch_applied(time.perf_counter() - started, r.numbers, r.outcomes, r.replayed)
        results.append(
            result_event(
                p.ctx.job_id,
                p.ctx.company_id,
                "batch",
                numbers=r.numbers,
                outcomes=r.outcomes,
                errors=r.errors,
                replayed=r.replayed,
            )
        )
        if r.stop:
            await _stop_job(res, p.ctx, r.stop)
            # Reported like a cancel: the aggregator reads the job's final state after every earlier result.
            results.append(result_event(p.ctx.job_id, p.ctx.company_id, "cancelled", message=r.stop))
    return results


def _written_tables(ctx: JobContext) -> tuple[str, ...]:
    """The tables a job's batches write records to: its model's, and the accounts its links create."""
    return (ctx.model.table, get_model("account").table) if ctx.links is not None else (ctx.model.table,)


class SequentialApplier:
    """Applies prepared batches one transaction at a time, in arrival order, while the caller
    prepares the next batch; ``on_done`` (send results, then acknowledge) runs after each commit."""

    def __init__(self, res: Runtime) -> None:
        self._res = res
        self._inflight: asyncio.Task[None] | None = None

    async def submit(
        self, prepared: list[PreparedJobRows], on_done: Callable[[list[events.ImportResult]], Awaitable[None]]
    ) -> None:
        await self.drain()  # rows of the next batch may duplicate rows of this one: keep the order

        async def run() -> None:
            await on_done(await apply_prepared(self._res, prepared))

        self._inflight = asyncio.create_task(run())

    async def drain(self) -> None:
        if self._inflight is not None:
            task, self._inflight = self._inflight, None
            await task

    def cancel(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()


class LaneApplier:
    """Independent sequential lanes, one per group of record partitions.

    A duplicate-match key always travels on one partition, so batches of different partitions
    never touch the same records: their transactions may run at the same time, and while the
    database works on one lane the event loop prepares another.
    """

    def __init__(self, res: Runtime, lanes: int) -> None:
        self._lanes = [SequentialApplier(res) for _ in range(max(1, lanes))]

    def lane(self, partition: int) -> SequentialApplier:
        return self._lanes[partition % len(self._lanes)]

    async def drain(self) -> None:
        for lane in self._lanes:
            await lane.drain()

    def cancel(self) -> None:
        for lane in self._lanes:
            lane.cancel()
