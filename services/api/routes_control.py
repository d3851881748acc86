"""Job control beyond cancel: roll an import back, retry its failed rows, and the company's limits;
who may control which job (``require_job_control``, also used by the cancel route).

The role matrix (docs/reliability.md, "Roles"): an admin key may cancel, retry and roll back any job
of its company; a member key may cancel and retry only the jobs its own key created (recorded as the
job's ``created_by_user_id``, a retry's too; a retry that records no key, the CLI's or one made before
retries recorded theirs, belongs to whoever created the import it retries), never a rollback, and may
not roll back at all. A job no key created (the CLI's, a schedule's, one made before
keys were recorded) is the admins'.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import asyncpg
from fastapi import APIRouter, Request
from starlette.responses import Response

from services.api.bodies import RetryRequest, RollbackRequest
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import Job, Limits
from services.api.http import Forbidden, OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, json_fingerprint, once
from services.core import storage
from services.core.db import tenant
from services.core.errors import NotFound
from services.core.runtime import Runtime
from services.ingest import uploads
from services.jobs import control, keys, stored_files
from services.jobs import repository as jobs
from services.jobs.limits import company_limits
from services.jobs.queries import progress_document

__all__ = ["router", "require_job_control"]

router = APIRouter(tags=["job control"])

# How far a retry's chain back to the import a key created is followed (a retry of a retry of ...).
_MAX_RETRY_CHAIN = 20


async def _creator(conn: asyncpg.Connection, company_id: str, row: asyncpg.Record) -> str | None:
    """The key that created the job; for a retry that records none, that of the import it retries (the first
    recorded up the chain)."""
    for _ in range(_MAX_RETRY_CHAIN):
        if row["created_by_user_id"] is not None:
            return str(row["created_by_user_id"])
        source = (row["options"] or {}).get("retry_of")
        if row["job_type"] != "import" or not source:
            return None
        found = await jobs.get_job(conn, company_id, str(source))
        if found is None:
            return None
        row = found
    return None


async def require_job_control(
    res: Runtime, key: keys.ApiKey, job_id: str, action: Literal["cancel", "retry"]
) -> asyncpg.Record:
    """The company's job (404 for another company's, for every role) if ``key`` may ``action`` it, else 403."""
    async with tenant(res.pool, key.company_id) as conn:
        row = await jobs.require_job(conn, key.company_id, job_id)
        if key.role == "admin":
            return row
        if row["job_type"] == "rollback":
            raise Forbidden(f"only an admin key may {action} a rollback")
        creator = await _creator(conn, key.company_id, row)
    if creator != key.id:
        raise Forbidden(
            f"a member key may {action} only the jobs it created itself; job {job_id} was created by "
            f"{'another key' if creator else 'an operator or a schedule'}: ask an admin"
        )
    return row


@router.post(
    "/api/v1/jobs/{job_id}/rollback",
    status_code=202,
    response_model=Job,
    responses=problems(403, 404, 409),
    summary="Roll back an import (admin): a rollback job removes what it created and restores what it updated",
)
async def rollback(
    request: Request,
    job_id: str,
    key: Caller,
    res: Res,
    body: RollbackRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async with tenant(res.pool, key.company_id) as conn:
        await jobs.require_job(conn, key.company_id, job_id)  # another company's job: 404 for every role
    require_admin(key, "roll back imports")

    async def answer() -> Response:
        job = await control.rollback(
            res.settings, res.pool, res.sender(), key.company_id, job_id, force=bool(body and body.force)
        )
        return created(job, f"/api/v1/jobs/{job['id']}", 202)

    async def fingerprint() -> str:
        return json_fingerprint(body.model_dump(mode="json") if body else None)

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.post(
    "/api/v1/jobs/{job_id}/retry",
    status_code=201,
    response_model=Job,
    responses=problems(400, 403, 404, 409, 413, 415),
    summary="Import only the failed rows of a finished import again: with a corrected mapping, or a fixed file",
)
async def retry(
    request: Request,
    job_id: str,
    key: Caller,
    res: Res,
    body: RetryRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    retry_body = body or RetryRequest()
    await require_job_control(res, key, job_id, "retry")

    async def answer() -> Response:
        file = name = fmt = None
        if retry_body.upload_id is not None:
            async with tenant(res.pool, key.company_id) as conn:
                upload = await uploads.get_upload(conn, key.company_id, str(retry_body.upload_id))
            if upload is None:
                raise NotFound(f"no upload {retry_body.upload_id}")
            file = await asyncio.to_thread(storage.of(res.settings).file, key.company_id, upload["stored_path"])
            name, fmt = upload["original_filename"], upload["file_format"]
        mapping = {c: f for c, f in (retry_body.mapping or {}).items() if f} or None
        job = await control.retry(
            res.settings,
            res.pool,
            res.sender(),
            key.company_id,
            job_id,
            mapping=mapping,
            file=file,
            display_name=name,
            file_format=fmt,
            user_id=key.id,  # the retry's creator: who may cancel or retry it in turn
        )
        async with tenant(res.pool, key.company_id) as conn:
            row = await jobs.get_job(conn, key.company_id, job["id"])
        return created(progress_document(row), f"/api/v1/jobs/{job['id']}")

    async def fingerprint() -> str:
        return json_fingerprint(retry_body.model_dump(mode="json"))

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.get(
    "/api/v1/limits",
    response_model=Limits,
    summary="The company's limits and retention (set by the operator: crmio limits set), and its storage in use",
)
async def limits(key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        lim = await company_limits(conn, res.settings, key.company_id)
        used = await stored_files.usage(conn, res.settings, key.company_id)
    return OrjsonResponse(
        {**lim.document(), "storage_used_bytes": used, "max_running_jobs_total": res.settings.max_running_jobs_total}
    )
