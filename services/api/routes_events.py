"""Server-sent events: live progress of one job, or of all the company's jobs (see services.api.sse)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from services.api.contract import problems
from services.api.deps import Caller, Res
from services.api.sse import company_stream, job_stream
from services.core.db import tenant
from services.jobs import repository as jobs

__all__ = ["router"]

router = APIRouter(tags=["events"])

# No buffering by proxies (nginx honours X-Accel-Buffering), no caching of a live stream.
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A stream of server-sent events (`event:` progress | final | revoked, `data:` a job as JSON)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/api/v1/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={**_SSE, **problems(404)},
    summary="SSE: `progress` events while the job runs, then one `final` event; the stream then ends "
    "(or with a `revoked` event once the calling key is revoked)",
)
async def job_events(job_id: str, key: Caller, res: Res) -> StreamingResponse:
    async with tenant(res.pool, key.company_id) as conn:
        await jobs.require_job(conn, key.company_id, job_id)
    s = res.settings
    return StreamingResponse(
        job_stream(res.pool, key.id, key.company_id, job_id, s.sse_poll_interval_s, s.sse_keepalive_s),
        media_type="text/event-stream",
        headers=_HEADERS,
    )


@router.get(
    "/api/v1/events",
    response_class=StreamingResponse,
    responses=_SSE,
    summary="SSE: `progress` / `final` events of every job of the company that changes while connected; "
    "a `revoked` event ends it once the calling key is revoked",
)
async def company_events(key: Caller, res: Res) -> StreamingResponse:
    s = res.settings
    return StreamingResponse(
        company_stream(res.pool, key.id, key.company_id, s.sse_poll_interval_s, s.sse_keepalive_s),
        media_type="text/event-stream",
        headers=_HEADERS,
    )
