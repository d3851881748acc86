"""The company's API keys (admin): list them (never a secret) and revoke one.

An admin may revoke any of its company's keys, the one it is calling with included (key rotation:
the answer is the last one that key gets); the company's last live admin key is refused with a 409,
so no company is left without an admin key by accident. Keys are made by the operator
(`crmio keys create`), never over the API.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import ApiKey, ApiKeyList
from services.api.http import OrjsonResponse
from services.core.db import tenant
from services.jobs import keys

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/keys", tags=["API keys"])


@router.get(
    "",
    response_model=ApiKeyList,
    responses=problems(403),
    summary="The company's API keys, live and revoked (admin): id, role, label, created, revoked",
)
async def list_keys(key: Caller, res: Res) -> OrjsonResponse:
    require_admin(key, "list API keys")
    async with tenant(res.pool, key.company_id) as conn:
        items = await keys.list_keys(conn, key.company_id)
    return OrjsonResponse({"items": [k.document() | {"current": k.id == key.id} for k in items]})


@router.delete(
    "/{key_id}",
    response_model=ApiKey,
    responses=problems(403, 404, 409),
    summary="Revoke one of the company's API keys (admin); 409 for its last live admin key, 404 for another's key",
)
async def revoke_key(key_id: str, key: Caller, res: Res) -> OrjsonResponse:
    require_admin(key, "revoke API keys")
    async with tenant(res.pool, key.company_id) as conn:
        info = await keys.revoke_company_key(conn, key.company_id, key_id)
    return OrjsonResponse(info.document())
