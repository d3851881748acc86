"""Retry: a new import over only the failed rows of a finished import.

Two ways, both keeping the first job's model, duplicate handling, rules and options:
- the same file, with a corrected mapping: the new job reads the first job's stored file and
  sends only the rows listed in a row file (the failed rows, which keep their row numbers);
- a fixed file, usually the first job's errors.csv after correction: imported as it is (its
  columns are field names, so the suggested mapping maps them; the error column maps to nothing).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.db import tenant
from services import jobs, storage
from services.errors import JobStateError, NotFound
from services.settings import Settings

__all__ = ["read_row_numbers", "write_row_numbers", "submit_retry"]

# Options of the first job that describe that run only, not how to read and apply the file.
_RUN_ONLY = ("dry_run", "phase", "only_rows", "retry_of", "rolled_back_by")


def write_row_numbers(path: Path, numbers: list[int]) -> None:
    path.write_text("".join(f"{n}\n" for n in numbers), encoding="ascii")


def read_row_numbers(path: Path) -> frozenset[int]:
    with path.open(encoding="ascii") as f:
        return frozenset(int(line) for line in f if line.strip())


async def submit_retry(
    settings: Settings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    company_id: str,
    job_id: str,
    *,
    mapping: dict[str, str] | None = None,
    file: Path | None = None,
    display_name: str | None = None,
    file_format: str | None = None,
) -> dict[str, Any]:
    """Start the retry of job ``job_id``'s failed rows; returns the new import job."""
    from services.submit import submit_import

    async with tenant(pool, company_id) as conn:
        source = await jobs.get_job(conn, company_id, job_id)
        if source is None:
            raise NotFound(f"no job {job_id}")
        if source["job_type"] != "import":
            raise JobStateError(f"job {job_id} is an {source['job_type']}; only imports have failed rows to retry")
        if source["job_status"] not in jobs.FINAL_STATUSES:
            raise JobStateError(f"job {job_id} is {source['job_status']}; retry its failed rows once it has finished")
        failed = [r["record_number"] for r in await conn.fetch(
            "SELECT record_number FROM crm_import_ledger WHERE job_id = $1 AND company_id = $2 AND outcome = 'failed' "
            "ORDER BY record_number", source["id"], source["company_id"])]
    if not failed:
        raise JobStateError(f"job {job_id} has no failed rows to retry")
    options = {k: v for k, v in (source["options"] or {}).items() if k not in _RUN_ONLY}
    options["retry_of"] = str(source["id"])
    common: dict[str, Any] = {
        "company_id": company_id, "model": source["target_model"], "duplicates": source["duplicate_handling"],
        "rules": source["validation_rules"], "user_id": None,
    }
    if file is not None:
        return await submit_import(settings, pool, producer, path=file, file_format=file_format,
                                   display_name=display_name or file.name, mapping=mapping, options=options, **common)
    if not source["file_path"]:
        raise JobStateError(f"the file of job {job_id} was purged by retention; retry with the fixed errors.csv instead")
    path = storage.resolve(settings.storage_dir, company_id, source["file_path"])
    rows_rel = f"retries/{uuid.uuid4()}.rows"
    rows_path = storage.company_dir(settings.storage_dir, company_id) / rows_rel
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    write_row_numbers(rows_path, failed)
    options["only_rows"] = rows_rel
    return await submit_import(
        settings, pool, producer, path=path, file_format=source["file_format"],
        display_name=source["original_filename"] or path.name,
        mapping=mapping or {k: v for k, v in (source["field_mapping"] or {}).items() if v} or None,
        options=options, **common)
