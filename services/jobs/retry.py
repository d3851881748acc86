"""Retry: a new import over only the failed rows of a finished import.

Two ways, both keeping the first job's model, duplicate handling, rules and options:
- the same file, with a corrected mapping: the new job reads the first job's stored file and
  sends only the rows listed in a row file (the failed rows, which keep their row numbers);
- a fixed file: the first job's corrected error file (result files, CSV or .xlsx: the issue columns
  crmio_row, crmio_level, ... and every original column) is rewritten so that each error row keeps
  its original row number, and imported with the first job's mapping; any other file (e.g. the
  corrected errors.csv, whose columns are field names) is imported as it is.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.core import storage
from services.core.db import tenant
from services.core.errors import JobStateError
from services.core.settings import Settings
from services.core.storage import StoredFile
from services.ingest.readers import Source, open_table
from services.ingest.row_numbers import write_row_numbers
from services.jobs import ledger_repository
from services.jobs import repository as jobs
from services.result_files import corrected

__all__ = ["submit_retry"]

# Options of the first job that describe that run only, not how to read and apply the file.
_RUN_ONLY = ("dry_run", "phase", "only_rows", "retry_of", "rolled_back_by")


async def submit_retry(
    settings: Settings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    company_id: str,
    job_id: str,
    *,
    mapping: dict[str, str] | None = None,
    file: Path | StoredFile | None = None,
    display_name: str | None = None,
    file_format: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Start the retry of job ``job_id``'s failed rows; returns the new import job.

    ``user_id``: the API key that asks for the retry, recorded as the new job's creator like a new
    import's (None from the CLI, whose operators are no key)."""
    from services.ingest.submit import format_from_name, submit_import

    async with tenant(pool, company_id) as conn:
        source = await jobs.require_job(conn, company_id, job_id)
        if source["job_type"] != "import":
            raise JobStateError(f"job {job_id} is an {source['job_type']}; only imports have failed rows to retry")
        if source["job_status"] not in jobs.FINAL_STATUSES:
            raise JobStateError(f"job {job_id} is {source['job_status']}; retry its failed rows once it has finished")
        failed = await ledger_repository.failed_numbers(conn, str(source["company_id"]), source["id"])
    if not failed:
        raise JobStateError(f"job {job_id} has no failed rows to retry")
    options = {k: v for k, v in (source["options"] or {}).items() if k not in _RUN_ONLY}
    options["retry_of"] = str(source["id"])
    common: dict[str, Any] = {
        "company_id": company_id,
        "model": source["target_model"],
        "duplicates": source["duplicate_handling"],
        "rules": source["validation_rules"],
        "user_id": user_id,
        "value_mapping": source["value_mapping"],
    }
    if file is not None:
        name = display_name or file.name
        fmt = file_format or format_from_name(name)
        if await asyncio.to_thread(_is_error_file, settings, file, fmt, name):
            return await _retry_error_file(
                settings, pool, producer, source, file, fmt, name, failed, mapping, options, common
            )
        return await submit_import(
            settings,
            pool,
            producer,
            path=file,
            file_format=file_format,
            display_name=display_name or file.name,
            mapping=mapping,
            options=options,
            **common,
        )
    if not source["file_path"]:
        raise JobStateError(
            f"the file of job {job_id} was purged by retention; retry with the fixed errors.csv instead"
        )
    store = storage.of(settings)
    path = await asyncio.to_thread(store.file, company_id, source["file_path"])
    rows_rel = f"retries/{uuid.uuid4()}.rows"
    with store.scratch(".rows") as rows_path:
        write_row_numbers(rows_path, failed)
        await asyncio.to_thread(store.put, company_id, rows_rel, rows_path, move=True)
    options["only_rows"] = rows_rel
    # The first job's stored file is named by the retry, not copied; the row list counts in the quota.
    return await submit_import(
        settings,
        pool,
        producer,
        path=path,
        file_format=source["file_format"],
        display_name=source["original_filename"] or path.name,
        mapping=mapping or {k: v for k, v in (source["field_mapping"] or {}).items() if v} or None,
        options=options,
        row_file=rows_rel,
        **common,
    )


def _is_error_file(settings: Settings, file: Source, fmt: str, name: str) -> bool:
    from services.ingest.reader_limits import reader_limits

    with open_table(file, fmt, display_name=name, limits=reader_limits(settings)) as reader:  # type: ignore[arg-type]
        return corrected.is_error_file(reader.info.headers)


async def _retry_error_file(
    settings: Settings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    source: Any,
    file: Source,
    fmt: str,
    name: str,
    failed: list[int],
    mapping: dict[str, str] | None,
    options: dict[str, Any],
    common: dict[str, Any],
) -> dict[str, Any]:
    """Retry the corrected error file of ``source``: its error rows, under their original row numbers."""
    from services.ingest.reader_limits import reader_limits
    from services.ingest.submit import submit_import

    positioned = await asyncio.to_thread(storage.of(settings).new_scratch, ".csv")
    try:
        rows = await asyncio.to_thread(
            corrected.write_positioned,
            file,
            fmt,
            name,
            positioned,
            failed=frozenset(failed),
            limits=reader_limits(settings),
        )
        if not rows.numbers:
            raise JobStateError(
                f"{name} holds no error row to retry"
                + (f" ({rows.warnings_left} warning rows are not imported again)" if rows.warnings_left else "")
            )
        if mapping is None:  # the first job's mapping, for the columns the file still has
            mapping = {h: f for h, f in (source["field_mapping"] or {}).items() if f and h in rows.headers} or None
        # The rewritten file is UTF-8 CSV: the first job's sheet, encoding and delimiter no longer apply.
        options = {k: v for k, v in options.items() if k not in ("sheet", "encoding", "delimiter")}
        options.update(encoding="utf-8", delimiter=",")
        # Named .csv: the job's file is the rewritten CSV (and the format check compares name and content).
        return await submit_import(
            settings,
            pool,
            producer,
            path=positioned,
            file_format="csv",
            display_name=str(Path(name).with_suffix(".csv")),
            mapping=mapping,
            options=options,
            **common,
        )
    finally:
        positioned.unlink(missing_ok=True)
