"""Submitting imports: check the file and mapping up front, store the file or name the stored one, record the job, request it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas.models import get_model
from services.cleansing.cleaning import validate_rules
from services.cleansing.job_values import job_cleaner
from services.cleansing.picklist_store import remember_values
from services.core import storage
from services.core.db import tenant
from services.core.errors import InputFileError, MappingError, NotFound
from services.core.settings import Settings
from services.core.storage import StoredFile
from services.fields.company_model import company_model
from services.ingest.filetype import check_file
from services.ingest.reader_limits import reader_limits
from services.ingest.readers.source import size_of
from services.ingest.splitter import open_import
from services.jobs import repository as jobs
from services.jobs import stored_files
from services.jobs.announce import announce_job
from services.jobs.error_policy import policy_options
from services.jobs.limits import check_file_size, company_limits

__all__ = ["submit_import", "format_from_name", "IMPORT_EXTENSIONS"]

IMPORT_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "excel",
    ".xls": "excel",
    ".xlsb": "excel",
    ".ods": "excel",
    ".json": "json",
    ".ndjson": "json",
    ".jsonl": "json",
}


def format_from_name(name: str) -> str:
    suffix = Path(name).suffix.lower()
    try:
        return IMPORT_EXTENSIONS[suffix]
    except KeyError:
        raise InputFileError(
            f"cannot tell the format of {name!r} from its extension; use .csv, .xlsx, .xls, .xlsb, .ods, .json or .ndjson, "
            "or name the format"
        ) from None


async def submit_import(
    settings: Settings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    *,
    company_id: str,
    path: Path | StoredFile,
    model: str,
    file_format: str | None = None,
    display_name: str | None = None,
    mapping: dict[str, str] | None = None,
    duplicates: str = "skip",
    rules: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    user_id: str | None = None,
    value_mapping: dict[str, dict[str, str | None]] | None = None,
    remember: bool = True,
    row_file: str | None = None,
) -> dict[str, Any]:
    """Refuse a bad file, mapping or value map before a job exists; else create the job and request it. Returns the job.

    A ``path`` crmio already keeps for the company (an upload's file, a job's file) is named by the job,
    never copied; any other file is copied into storage if it fits the company's storage quota
    (StorageQuotaExceeded, 413, otherwise). ``row_file`` is a file the caller stored for this job (a
    retry's row list, named by ``options.only_rows``): counted with the job. Whatever refuses the job
    leaves neither the copy nor the row file behind.

    ``value_mapping`` ({choice field: {file value: picklist value or None}}) is remembered as the
    company's first suggestion for those words next time, when ``remember`` (an admin's or operator's
    job: a member's one-off choices never become the company's defaults).
    """
    company_id = str(uuid.UUID(company_id))
    display = display_name or path.name
    owned = [row_file] if row_file else []  # files stored for this job: removed unless the job is recorded
    store = storage.of(settings)
    try:
        get_model(model)  # ValueError names the models, before anything is read
        options = policy_options(options or {})
        value_mapping = value_mapping or None
        # A file crmio already keeps for the company (an upload, the first job's file of a retry) is named
        # by the new job, not copied: N jobs of one upload store it once.
        if isinstance(path, StoredFile) and path.company_id != company_id:
            raise NotFound(f"no stored file {path.rel!r} for this company")
        in_storage = (
            path.rel if isinstance(path, StoredFile) else await asyncio.to_thread(store.stored_rel, company_id, path)
        )
        async with tenant(pool, company_id) as conn:
            target = await company_model(conn, company_id, model)  # with the company's custom fields
            rules = validate_rules(target, rules) if rules else None
            limits = await company_limits(conn, settings, company_id)
            # Bad date_order, phone_region or value map are refused now, not per batch.
            await job_cleaner(
                conn,
                company_id,
                {
                    "target_model": target.name,
                    "validation_rules": rules,
                    "options": options,
                    "value_mapping": value_mapping,
                },
                settings,
            )
            registered = in_storage and await stored_files.is_registered(conn, company_id, in_storage)
            # A stored file is named whatever its record says: hold() below refuses one retention deleted.
            shared = in_storage if registered or isinstance(path, StoredFile) else None
            used = 0 if shared else await stored_files.usage(conn, settings, company_id)

        def check_and_store() -> tuple[str, dict[str, str], str, int]:
            """File checks, mapping and (unless the file is stored already) the copy: blocking I/O, off the loop."""
            declared = file_format or format_from_name(display)
            size = size_of(path)
            check_file_size(limits, size, display)
            if shared is None:  # before the copy; checked again under the storage lock when it is recorded
                stored_files.check_room(limits, company_id, used, size, f"storing {display!r} ({size:,} bytes)")
            fmt = check_file(path, declared, display)
            plan = open_import(
                path,
                fmt,
                target,
                display_name=display,
                mapping=mapping,
                options=options,
                limits=reader_limits(settings, limits.max_rows),
                required=duplicates != "update",
            )
            plan.close()
            if options.get("match_on") and options["match_on"] not in plan.mapping.values():
                raise MappingError(
                    f"the import matches duplicates on {options['match_on']}: map the file's column of ids to it",
                    missing=[options["match_on"]],
                )
            if shared is not None:
                return fmt, plan.mapping, shared, size
            assert isinstance(path, Path)  # a stored file is shared, never copied
            rel = store.store_file(company_id, path, suffix=Path(display).suffix)
            owned.append(rel)
            return fmt, plan.mapping, rel, store.size(company_id, rel) or 0

        fmt, chosen, rel, size = await asyncio.to_thread(check_and_store)
        job_id = str(uuid.uuid4())
        job = {
            "id": job_id,
            "company_id": company_id,
            "job_type": "import",
            "target_model": target.name,
            "file_format": fmt,
            "file_path": rel,
            "field_mapping": chosen,
            "validation_rules": rules,
            "duplicate_handling": duplicates,
            "created_by_user_id": user_id,
            "original_filename": display,
            "options": options,
            "queue": settings.topic_prefix,
            "value_mapping": value_mapping,
        }
        rows_size = await asyncio.to_thread(store.size, company_id, row_file) if row_file else None
        async with tenant(pool, company_id) as conn:
            if shared is None:
                what = f"storing {display!r} ({size:,} bytes)"
                await stored_files.register(conn, settings, limits, company_id, rel, size, what)
            else:
                await stored_files.hold(conn, company_id, rel, display)
            if row_file:
                what = f"storing the row list of a retry of {display!r} ({rows_size or 0:,} bytes)"
                await stored_files.register(conn, settings, limits, company_id, row_file, rows_size or 0, what)
            await jobs.insert_job(conn, job)
            if value_mapping and remember:
                await remember_values(conn, company_id, target, value_mapping)
            row = await jobs.require_job(conn, company_id, job_id)
    except BaseException:
        await asyncio.to_thread(store.remove, company_id, owned)
        raise
    await announce_job(producer, settings, row)
    return jobs.job_document(row)
