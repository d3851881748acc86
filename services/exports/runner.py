"""Run one export: count, stream rows through a server-side cursor into a writer, report progress.

Reads happen in one read-only REPEATABLE READ transaction, so the count and the rows come from the
same snapshot. Chunks of ``export_chunk_rows`` rows are written in a worker thread while the next
chunk is fetched; memory holds at most two chunks whatever the row count.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from schemas.models import Field, TargetModel, get_model
from services.core import storage
from services.core.db import set_tenant, tenant
from services.core.settings import Settings
from services.exports.csv_writer import copy_csv
from services.exports.formats import open_writer
from services.exports.json_writer import copy_json
from services.exports.query import (
    ExportError,
    ExportQuery,
    ExportTooLarge,
    build_query,
    check_filters,
    check_sort,
    export_fields,
)
from services.exports.writers import EXTENSIONS, ExportMeta
from services.exports.xlsx_writer import MAX_DATA_ROWS
from services.fields.company_model import company_model

__all__ = ["ExportSpec", "export_spec", "check_row_cap", "run_export", "OPTION_KEYS"]

Report = Callable[[dict[str, int | str]], Awaitable[None]]
# schedule_id and slot: set by a schedule, so the job shows where it came from.
OPTION_KEYS = frozenset({"fields", "filters", "sort", "json_style", "csv_bom", "title", "schedule_id", "slot"})


@dataclass(frozen=True)
class ExportSpec:
    """A validated export request: what to select, how to order it and how to write it."""

    model: TargetModel
    file_format: str
    fields: list[Field]
    query_filters: list[Any]
    sort: list[tuple[str, bool]]
    raw_filters: list[dict[str, Any]]
    json_style: str
    csv_bom: bool
    title: str

    def query(self, company_id: Any) -> ExportQuery:
        return build_query(self.model, company_id, self.fields, self.query_filters, self.sort)

    def meta(self, total: int | None = None) -> ExportMeta:
        lines = tuple(
            f"{f.get('field')} {f.get('op')}"
            + ("" if f.get("value") is None else f" {orjson.dumps(f['value']).decode()}")
            for f in self.raw_filters
        )
        return ExportMeta(
            title=self.title, filters=lines, csv_bom=self.csv_bom, json_style=self.json_style, total=total
        )


def export_spec(model_name: str | TargetModel, file_format: str, options: Mapping[str, Any] | str | None) -> ExportSpec:
    """Validate an export's model (a company's, with its custom fields, or a name), format and options
    (fields, filters, sort, json_style, csv_bom, title)."""
    try:
        model = model_name if isinstance(model_name, TargetModel) else get_model(model_name)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if file_format not in EXTENSIONS:
        raise ExportError(f"unknown export format {file_format!r}; use one of {', '.join(EXTENSIONS)}")
    opts: Mapping[str, Any] = orjson.loads(options) if isinstance(options, str) else (options or {})
    unknown = sorted(set(opts) - OPTION_KEYS)
    if unknown:
        raise ExportError(f"unknown export option(s) {', '.join(unknown)}; use {', '.join(sorted(OPTION_KEYS))}")
    json_style = opts.get("json_style") or "array"
    if json_style not in ("array", "ndjson"):
        raise ExportError(f"json_style must be array or ndjson, not {json_style!r}")
    csv_bom = opts.get("csv_bom", False)
    if not isinstance(csv_bom, bool):
        raise ExportError(f"csv_bom must be true or false, not {csv_bom!r}")
    title = opts.get("title") or f"{model.name.title()} export"
    if not isinstance(title, str) or len(title) > 200:
        raise ExportError("title must be text of at most 200 characters")
    filters = opts.get("filters") or []
    return ExportSpec(
        model=model,
        file_format=file_format,
        fields=export_fields(model, opts.get("fields")),
        query_filters=check_filters(model, filters),
        sort=check_sort(model, opts.get("sort")),
        raw_filters=list(filters),
        json_style=json_style,
        csv_bom=csv_bom,
        title=title,
    )


def check_row_cap(settings: Settings, file_format: str, count: int) -> None:
    """Refuse counts above the format's limit (PDF: pdf_max_rows; Excel: one sheet)."""
    if file_format == "pdf" and count > settings.pdf_max_rows:
        raise ExportTooLarge(
            f"{count:,} rows match; a PDF export holds at most {settings.pdf_max_rows:,} (pdf_max_rows): "
            "narrow the filters or export CSV, Excel or JSON"
        )
    if file_format == "excel" and count > MAX_DATA_ROWS:
        raise ExportTooLarge(
            f"{count:,} rows match; an Excel sheet holds at most {MAX_DATA_ROWS:,}: narrow the filters or export CSV"
        )


async def _copy(
    conn: asyncpg.Connection,
    query: ExportQuery,
    path: Path,
    spec: ExportSpec,
    total: int,
    report: Report,
    interval: float,
) -> int:
    """CSV and JSON skip the cursor: PostgreSQL formats the records and COPY streams them."""
    reported = time.monotonic()

    async def progress(processed: int) -> None:
        nonlocal reported
        if time.monotonic() - reported >= interval:
            reported = time.monotonic()
            await report({"total": total, "processed": processed})

    try:
        if spec.file_format == "csv":
            return await copy_csv(conn, query.copy_sql, query.args, path, bom=spec.csv_bom, progress=progress)
        return await copy_json(
            conn, query.json_copy_sql, query.args, path, ndjson=spec.json_style == "ndjson", progress=progress
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _write_rows(
    conn: asyncpg.Connection,
    query: ExportQuery,
    path: Path,
    spec: ExportSpec,
    total: int,
    report: Report,
    interval: float,
    chunk: int,
) -> int:
    writer = open_writer(spec.file_format)
    processed, reported = 0, time.monotonic()
    pending: asyncio.Future[None] | None = None
    try:
        # Inside the try: a writer that fails half-way through opening still closes and removes its file.
        await asyncio.to_thread(writer.open, path, spec.fields, spec.meta(total))
        cursor = await conn.cursor(query.sql, *query.args)
        while True:
            rows = await cursor.fetch(chunk)
            if pending is not None:
                await pending  # the previous chunk, written while this one was fetched
            if not rows:
                break
            pending = asyncio.ensure_future(asyncio.to_thread(writer.write_rows, rows))
            processed += len(rows)
            if time.monotonic() - reported >= interval:
                reported = time.monotonic()
                await report({"total": total, "processed": processed})
        return await asyncio.to_thread(writer.close)
    except BaseException:
        if pending is not None and not pending.done():
            await asyncio.gather(pending, return_exceptions=True)
        await asyncio.to_thread(writer.abort)
        raise


def run_file(job_id: str, file_format: str) -> str:
    """The file of one run of an export job: its own name, so two runs of a job never share a file."""
    return f"exports/{job_id}.{uuid.uuid4().hex[:12]}{EXTENSIONS[file_format]}"


def run_files(settings: Settings, company_id: str, job_id: str) -> list[str]:
    """Every stored run's file of an export job (a run stores its file once written whole)."""
    return [f.rel for f in storage.of(settings).list(company_id, "exports") if f.rel.startswith(f"exports/{job_id}.")]


async def run_export(
    pool: asyncpg.Pool,
    settings: Settings,
    job: asyncpg.Record | dict[str, Any],
    report: Report,
) -> tuple[str, int]:
    """Write the job's export file into the company's storage; returns (relative path, rows)."""
    company_id = str(job["company_id"])
    async with tenant(pool, company_id) as conn:
        model = await company_model(conn, company_id, job["target_model"])
    spec = export_spec(model, job["file_format"], job.get("options"))
    query = spec.query(uuid.UUID(company_id))
    rel = run_file(str(job["id"]), spec.file_format)
    store = storage.of(settings)
    # Written to a local scratch file, then stored whole (in parts, to object storage): nobody ever reads
    # half an export, and a run that dies leaves nothing under exports/.
    path = await asyncio.to_thread(store.new_scratch, EXTENSIONS[spec.file_format])
    chunk = settings.export_chunk_rows
    interval = settings.status_interval_s
    try:
        async with pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await set_tenant(conn, company_id)
                # JIT compiles for ~0.5 s before the first row; a streaming scan gains nothing from it.
                await conn.execute("SET LOCAL jit = off")
                total = await conn.fetchval(query.count_sql, *query.args)
                check_row_cap(settings, spec.file_format, total)
                await report({"total": total, "processed": 0})
                if spec.file_format in ("csv", "json"):
                    count = await _copy(conn, query, path, spec, total, report, interval)
                else:
                    count = await _write_rows(conn, query, path, spec, total, report, interval, chunk)
        await asyncio.to_thread(store.put, company_id, rel, path, move=True)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    await report({"total": total, "processed": count})
    return rel, count
