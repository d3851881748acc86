"""Operations endpoints without an API key: liveness, readiness (Kafka and PostgreSQL) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.api.deps import Res
from services.api.documents import Health, Readiness
from services.api.http import OrjsonResponse

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> OrjsonResponse:
    return OrjsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"description": "Not ready: `checks` says which service failed", "model": Readiness}},
    summary="Kafka and PostgreSQL are reachable",
)
async def readyz(res: Res) -> OrjsonResponse:
    timeout = res.settings.api_probe_timeout_s
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout):
            async with res.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the body says which
        checks["postgres"] = f"{type(exc).__name__}: {exc}"
    try:
        await asyncio.wait_for(res.kafka_admin()[0].describe_cluster(), timeout)
        checks["kafka"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["kafka"] = f"{type(exc).__name__}: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return OrjsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics (no company data: aggregates only)",
)
async def metrics(request: Request, res: Res) -> Response:
    m = request.app.state.metrics
    await m.refresh(res.settings, res.system, *res.kafka_admin())
    return Response(m.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
