"""Submitting exports: validate the request up front, record the job, request it on Kafka."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.core.db import tenant
from services.core.settings import Settings
from services.exports.query import ExportError
from services.exports.runner import check_row_cap, export_spec
from services.fields.company_model import company_model
from services.jobs import repository as jobs
from services.jobs import stored_files
from services.jobs.announce import announce_job
from services.jobs.limits import company_limits

__all__ = ["submit_export"]


async def submit_export(
    settings: Settings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    *,
    company_id: str,
    model: str,
    fields: list[str] | None,
    filters: list[dict[str, Any]] | None,
    sort: list[str] | None,
    file_format: str,
    options: dict[str, Any] | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Refuse a bad request before a job exists; else create the export job and request it. Returns the job."""
    company_id = str(uuid.UUID(company_id))
    extra = dict(options or {})
    clash = sorted(set(extra) & {"fields", "filters", "sort"})
    if clash:
        raise ExportError(f"give {', '.join(clash)} as their own arguments, not inside options")
    stored = {**extra, "fields": fields, "filters": filters or [], "sort": sort or []}
    # All of it: the worker validates the stored options again, so an unknown key must be refused here.
    async with tenant(pool, company_id) as conn:
        try:
            target = await company_model(conn, company_id, model)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    spec = export_spec(target, file_format, stored)
    stored["fields"] = [f.name for f in spec.fields]  # None means every field: store them, in order
    query = spec.query(uuid.UUID(company_id))
    job_id = str(uuid.uuid4())
    job = {
        "id": job_id,
        "company_id": company_id,
        "job_type": "export",
        "target_model": spec.model.name,
        "file_format": spec.file_format,
        "file_path": "",  # NOT NULL; set to the output file when the job completes
        "created_by_user_id": user_id,
        "options": stored,
        "queue": settings.topic_prefix,
    }
    async with tenant(pool, company_id) as conn:
        # An export writes a file: refused while the company's storage is full (its size counts once written).
        used = await stored_files.usage(conn, settings, company_id)
        limits = await company_limits(conn, settings, company_id)
        stored_files.check_room(limits, company_id, used, 1, f"the file of an export of {spec.model.name} records")
        if spec.file_format in ("pdf", "excel"):
            # Refuse an over-limit export now; the runner checks again on its own snapshot.
            check_row_cap(settings, spec.file_format, await conn.fetchval(query.count_sql, *query.args))
        await jobs.insert_job(conn, job)
        row = await jobs.require_job(conn, company_id, job_id)
    await announce_job(producer, settings, row)
    return jobs.job_document(row)
