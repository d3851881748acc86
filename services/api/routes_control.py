"""Job control beyond cancel: roll an import back, retry its failed rows, and the company's limits."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.bodies import RetryRequest, RollbackRequest
from services.api.deps import Caller, Res, require_admin
from services.api.http import OrjsonResponse
from services.core import storage
from services.core.db import tenant
from services.core.errors import NotFound
from services.ingest import uploads
from services.jobs import control
from services.jobs import repository as jobs
from services.jobs.limits import company_limits
from services.jobs.queries import progress_document

__all__ = ["router"]

router = APIRouter(tags=["job control"])


@router.post(
    "/api/v1/jobs/{job_id}/rollback",
    status_code=202,
    summary="Roll back an import (admin): a rollback job removes what it created and restores what it updated",
)
async def rollback(job_id: str, key: Caller, res: Res, body: RollbackRequest | None = None) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        await jobs.require_job(conn, key.company_id, job_id)  # another company's job: 404 for every role
    require_admin(key, "roll back imports")
    job = await control.rollback(
        res.settings, res.pool, res.producer, key.company_id, job_id, force=bool(body and body.force)
    )
    return OrjsonResponse(job, 202)


@router.post(
    "/api/v1/jobs/{job_id}/retry",
    status_code=201,
    summary="Import only the failed rows of a finished import again: with a corrected mapping, or a fixed file",
)
async def retry(job_id: str, key: Caller, res: Res, body: RetryRequest | None = None) -> OrjsonResponse:
    body = body or RetryRequest()
    file = name = fmt = None
    if body.upload_id is not None:
        async with tenant(res.pool, key.company_id) as conn:
            upload = await uploads.get_upload(conn, key.company_id, str(body.upload_id))
        if upload is None:
            raise NotFound(f"no upload {body.upload_id}")
        file = storage.resolve(res.settings.storage_dir, key.company_id, upload["stored_path"])
        name, fmt = upload["original_filename"], upload["file_format"]
    mapping = {c: f for c, f in (body.mapping or {}).items() if f} or None
    job = await control.retry(
        res.settings,
        res.pool,
        res.producer,
        key.company_id,
        job_id,
        mapping=mapping,
        file=file,
        display_name=name,
        file_format=fmt,
    )
    async with tenant(res.pool, key.company_id) as conn:
        row = await jobs.get_job(conn, key.company_id, job["id"])
    return OrjsonResponse(progress_document(row), 201)


@router.get("/api/v1/limits", summary="The company's limits and retention (set by the operator: crmio limits set)")
async def limits(key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        lim = await company_limits(conn, res.settings, key.company_id)
    return OrjsonResponse({**lim.document(), "max_running_jobs_total": res.settings.max_running_jobs_total})
