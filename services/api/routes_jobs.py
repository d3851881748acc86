"""Jobs: create an import (of an upload) or an export, list and read jobs, their logs, errors.csv and the export file."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from services.api.bodies import ExportJobRequest, ImportJobRequest, JobRequest
from services.api.contract import problems
from services.api.deps import Caller, Res
from services.api.documents import Job, JobPage, LogPage
from services.api.errors_csv import csv_lines, error_columns, error_row
from services.api.http import OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, json_fingerprint, once
from services.api.import_spec import resolve_spec
from services.api.routes_control import require_job_control
from services.api.stored_response import stored_response
from services.core import storage
from services.core.db import tenant
from services.core.errors import NotFound, TransientError
from services.core.runtime import Runtime
from services.fields.company_model import company_model
from services.ingest import uploads
from services.ingest.column_sniffing import sample_file
from services.ingest.reader_limits import reader_limits
from services.ingest.submit import submit_import
from services.jobs import control, log_repository, templates
from services.jobs import repository as jobs
from services.jobs.limits import check_row_estimate, company_limits
from services.jobs.queries import progress_document

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

_MEDIA = {
    "csv": "text/csv",
    "json": "application/json",
    "pdf": "application/pdf",
    "excel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_EXT = {"csv": ".csv", "json": ".json", "pdf": ".pdf", "excel": ".xlsx"}
# Text first: generators take the first media type they know for the parsed result (a text CSV, not bytes).
_DOWNLOAD_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    _MEDIA["excel"]: {"schema": {"type": "string", "format": "binary"}},
}
_ERRORS_PAGE = 1000


async def _job(res: Runtime, company_id: str, job_id: str) -> Any:
    async with tenant(res.pool, company_id) as conn:
        return await jobs.require_job(conn, company_id, job_id)


async def _create_import(
    body: ImportJobRequest, company_id: str, res: Runtime, admin: bool, user_id: str | None = None
) -> dict[str, Any]:
    """``admin``: the caller's choices (mapping, value map) may become the company's remembered defaults."""
    settings = res.settings
    async with tenant(res.pool, company_id) as conn:
        upload = await uploads.get_upload(conn, company_id, str(body.upload_id))
        if upload is None:
            raise NotFound(f"no upload {body.upload_id}")
        same_sheet = body.options.sheet in (None, upload["sheet"])
    path = await asyncio.to_thread(storage.of(settings).file, company_id, upload["stored_path"])
    samples = None
    if body.mapping is None and body.template_id is None and same_sheet:
        # Suggested from the values too, as the preview suggests them.
        samples = await asyncio.to_thread(
            sample_file,
            path,
            upload["file_format"],
            upload["original_filename"],
            limits=reader_limits(settings),
            sheet=upload["sheet"],
            encoding=body.options.encoding,
            delimiter=body.options.delimiter,
        )
    async with tenant(res.pool, company_id) as conn:
        spec = await resolve_spec(
            conn,
            company_id,
            target_model=body.target_model,
            mapping=body.mapping,
            template_id=body.template_id,
            rules=body.validation_rules,
            headers=list(upload["headers"]) if same_sheet else None,
            value_mapping=body.value_mapping,
            samples=samples,
            accept_suggestions=bool(body.options.accept_suggestions),
        )
    options = body.options.as_dict()
    if body.error_policy is not None:
        options["error_policy"] = body.error_policy.model_dump()
    async with tenant(res.pool, company_id) as conn:
        check_row_estimate(
            await company_limits(conn, settings, company_id),
            upload["row_estimate"],
            upload["row_estimate_exact"],
            upload["original_filename"],
        )
    if upload["sheet"] and "sheet" not in options:
        options["sheet"] = upload["sheet"]  # the sheet chosen at upload, which the preview shows too
    # submit_import checks file and mapping again; the job names the upload's stored file (no copy, so
    # N jobs of one upload store it once), which retention keeps while a kept job or upload names it.
    job = await submit_import(
        settings,
        res.pool,
        res.sender(),
        company_id=company_id,
        path=path,
        model=spec.model.name,
        file_format=upload["file_format"],
        display_name=upload["original_filename"],
        mapping={c: f for c, f in spec.mapping.items() if f} or None,
        duplicates=body.duplicate_handling,
        rules=spec.rules,
        options=options,
        value_mapping=spec.value_mapping,
        remember=admin,
        user_id=user_id,  # the creating key: who may cancel or retry the job (routes_control)
    )
    # A member's one-off mapping never becomes the default later imports apply at full confidence.
    if spec.chosen and admin:
        async with tenant(res.pool, company_id) as conn:
            await templates.remember_mapping(conn, company_id, spec.model.name, job["field_mapping"] or {})
    return job


async def _create_export(
    body: ExportJobRequest, company_id: str, res: Runtime, user_id: str | None = None
) -> dict[str, Any]:
    try:
        # Imported here: the exports package is optional for the rest of the API.
        from services.exports.submit import submit_export
    except ImportError as exc:
        raise TransientError(f"exports are not available in this deployment ({exc})") from None
    job: dict[str, Any] = await submit_export(
        res.settings,
        res.pool,
        res.sender(),
        company_id=company_id,
        model=body.target_model,
        fields=body.fields,
        filters=body.filters,
        sort=body.sort,
        file_format=body.file_format,
        options=body.options or {},
        user_id=user_id,
    )
    return job


@router.post(
    "",
    status_code=201,
    response_model=Job,
    responses=problems(404, 413, 415, 400),
    summary="Start an import of an upload, or an export",
)
async def create_job(
    request: Request,
    body: Annotated[JobRequest, Body()],
    key: Caller,
    res: Res,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def answer() -> Response:
        if isinstance(body, ImportJobRequest):
            job = await _create_import(body, key.company_id, res, admin=key.role == "admin", user_id=key.id)
        else:
            job = await _create_export(body, key.company_id, res, user_id=key.id)
        row = await _job(res, key.company_id, str(job["id"]))
        return created(progress_document(row), f"/api/v1/jobs/{row['id']}")

    async def fingerprint() -> str:
        return json_fingerprint(body.model_dump(mode="json"))

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.get("", response_model=JobPage, summary="The company's jobs, newest first")
async def get_jobs(
    key: Caller,
    res: Res,
    job_type: Literal["import", "export"] | None = None,
    job_status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None,
    target_model: Literal["lead", "contact", "account"] | None = None,
    created_from: Annotated[dt.datetime | None, Query(description="created at or after (ISO 8601)")] = None,
    created_to: Annotated[dt.datetime | None, Query(description="created before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrjsonResponse:
    limit = min(limit, res.settings.api_page_size_max)
    async with tenant(res.pool, key.company_id) as conn:
        rows, total = await jobs.list_jobs(
            conn,
            key.company_id,
            job_type=job_type,
            job_status=job_status,
            target_model=target_model,
            created_from=created_from,
            created_to=created_to,
            limit=limit,
            offset=offset,
        )
    return OrjsonResponse(
        {"items": [progress_document(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    )


@router.get(
    "/{job_id}", response_model=Job, responses=problems(404), summary="A job: blueprint fields, counters, rate and ETA"
)
async def get_job(job_id: str, key: Caller, res: Res) -> OrjsonResponse:
    return OrjsonResponse(progress_document(await _job(res, key.company_id, job_id)))


@router.post(
    "/{job_id}/cancel",
    response_model=Job,
    responses=problems(403, 404, 409),
    summary="Cancel a pending or running job; nothing is applied after the answer",
)
async def cancel_job(job_id: str, key: Caller, res: Res) -> OrjsonResponse:
    await require_job_control(res, key, job_id, "cancel")  # members: only their own key's jobs
    await control.cancel(res.settings, res.pool, res.sender(), key.company_id, job_id)
    return OrjsonResponse(progress_document(await _job(res, key.company_id, job_id)))


@router.get("/{job_id}/logs", response_model=LogPage, responses=problems(404), summary="A job's logs, in record order")
async def get_logs(
    job_id: str,
    key: Caller,
    res: Res,
    level: Literal["info", "warning", "error"] | None = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrjsonResponse:
    row = await _job(res, key.company_id, job_id)
    limit = min(limit, res.settings.api_page_size_max)
    async with tenant(res.pool, key.company_id) as conn:
        logs = await log_repository.list_logs(
            conn, key.company_id, str(row["id"]), level=level, limit=limit, offset=offset
        )
    return OrjsonResponse({"items": [jobs.log_document(r) for r in logs], "limit": limit, "offset": offset})


@router.get(
    "/{job_id}/errors.csv",
    summary="The failed rows with an error column, ready to fix and import again",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **problems(404)},
)
async def errors_csv(job_id: str, key: Caller, res: Res) -> StreamingResponse:
    row = await _job(res, key.company_id, job_id)
    if row["job_type"] != "import":
        raise NotFound(f"job {job_id} is an export; only imports have an errors file")
    async with tenant(res.pool, key.company_id) as conn:
        model = await company_model(conn, key.company_id, row["target_model"])
    columns = error_columns(row["field_mapping"], model.field_names)
    company, jid = key.company_id, str(row["id"])

    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + csv_lines([columns])  # the BOM makes Excel read the file as UTF-8
        offset = 0
        while True:
            async with tenant(res.pool, company) as conn:
                page = await log_repository.list_logs(
                    conn, company, jid, level="error", limit=_ERRORS_PAGE, offset=offset
                )
            if not page:
                return
            yield csv_lines([error_row(columns, log["record_data"], log["message"]) for log in page])
            offset += len(page)

    name = PurePosixPath(row["original_filename"] or "import").stem or "import"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_ascii(name)}-errors.csv"'},
    )


def _ascii(name: str) -> str:
    # Header-safe: the user's file name may hold quotes or non-ASCII letters.
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_. ") else "_" for c in name)[:100] or "file"


@router.get(
    "/{job_id}/download",
    summary="The file of a completed export (CSV, Excel, JSON or PDF as the export's file_format)",
    response_class=FileResponse,
    responses={
        200: {"content": _DOWNLOAD_CONTENT},
        **problems(404),
    },
)
async def download(job_id: str, key: Caller, res: Res) -> Response:
    row = await _job(res, key.company_id, job_id)
    if row["job_type"] != "export" or row["job_status"] != "completed":
        raise NotFound(f"job {job_id} has no file to download: only a completed export has one")
    stored = await asyncio.to_thread(storage.of(res.settings).file, key.company_id, row["file_path"])
    ext = _EXT.get(row["file_format"], "")
    name = row["original_filename"] or f"{row['target_model']}s-{str(row['id'])[:8]}{ext}"
    return stored_response(
        stored, media_type=_MEDIA.get(row["file_format"], "application/octet-stream"), filename=_ascii(name)
    )
