"""Schedules: cron + time zone + a job definition (an export, or an import of dropped files)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.api.bodies import ScheduleCreate
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import Schedule, ScheduleList
from services.api.http import OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, json_fingerprint, once
from services.core.db import tenant
from services.jobs import schedules

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList, summary="The company's schedules with their next run time")
async def list_schedules(key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        rows = await schedules.list_schedules(conn, key.company_id)
    return OrjsonResponse({"items": [schedules.schedule_document(r) for r in rows]})


@router.post("", status_code=201, response_model=Schedule, responses=problems(403), summary="Create a schedule (admin)")
async def create_schedule(
    request: Request, body: ScheduleCreate, key: Caller, res: Res, idempotency_key: IdempotencyKey = None
) -> Response:
    require_admin(key, "create schedules")

    async def answer() -> Response:
        async with tenant(res.pool, key.company_id) as conn:
            row = await schedules.create_schedule(
                conn,
                key.company_id,
                name=body.name,
                cron=body.cron,
                timezone=body.timezone,
                job=body.job,
                queue=res.settings.topic_prefix,
                min_interval_s=res.settings.schedule_min_interval_s,
            )
        return created(schedules.schedule_document(row), f"/api/v1/schedules/{row['id']}")

    async def fingerprint() -> str:
        return json_fingerprint(body.model_dump(mode="json"))

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.get("/{schedule_id}", response_model=Schedule, responses=problems(404), summary="A schedule")
async def get_schedule(schedule_id: str, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        row = await schedules.get_schedule(conn, key.company_id, schedule_id)
    return OrjsonResponse(schedules.schedule_document(row))


async def _set_active(schedule_id: str, key: Caller, res: Res, active: bool) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        await schedules.get_schedule(conn, key.company_id, schedule_id)  # 404 first, for every role
        require_admin(key, "pause or resume schedules")
        row = await schedules.set_active(conn, key.company_id, schedule_id, active)
    return OrjsonResponse(schedules.schedule_document(row))


@router.post(
    "/{schedule_id}/pause", response_model=Schedule, responses=problems(403, 404), summary="Pause a schedule (admin)"
)
async def pause_schedule(schedule_id: str, key: Caller, res: Res) -> OrjsonResponse:
    return await _set_active(schedule_id, key, res, False)


@router.post(
    "/{schedule_id}/resume",
    response_model=Schedule,
    responses=problems(403, 404),
    summary="Resume a schedule from its next slot after now (admin)",
)
async def resume_schedule(schedule_id: str, key: Caller, res: Res) -> OrjsonResponse:
    return await _set_active(schedule_id, key, res, True)


@router.delete(
    "/{schedule_id}",
    status_code=204,
    responses=problems(403, 404),
    summary="Delete a schedule (admin); jobs it started stay",
)
async def delete_schedule(schedule_id: str, key: Caller, res: Res) -> Response:
    async with tenant(res.pool, key.company_id) as conn:
        await schedules.get_schedule(conn, key.company_id, schedule_id)
        require_admin(key, "delete schedules")
        await schedules.delete_schedule(conn, key.company_id, schedule_id)
    return Response(status_code=204)
