"""Picklists: the company's values of each choice field — list, add, relabel, synonyms, retire, restore.

Any key of the company reads picklists; only an admin key changes them. Stored records keep their
values whatever happens to the picklist.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from services.api.bodies import _Strict
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import Picklist, PicklistList, PicklistValue
from services.api.http import OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, json_fingerprint, once
from services.cleansing import picklist_store
from services.core.db import tenant
from services.core.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/picklists", tags=["picklists"])


class PicklistValueCreate(_Strict):
    value: str = Field(min_length=1, max_length=40, description="what records store, e.g. podcast")
    label: str | None = Field(None, max_length=255, description="what people read (default: the value)")
    synonyms: list[str] = Field([], description='words files use for this value, e.g. ["Podcasts"]')


class PicklistValueUpdate(_Strict):
    label: str | None = Field(None, max_length=255)
    synonyms: list[str] | None = None
    active: bool | None = Field(None, description="false retires the value: imports no longer take it")


@router.get(
    "",
    response_model=PicklistList,
    summary="Every picklist of the company with its values (built-in and the company's own)",
)
async def list_picklists(key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        picklists = await picklist_store.load_picklists(conn, key.company_id)
    return OrjsonResponse({"items": [p.document() for p in picklists.values()]})


@router.get("/{picklist}", response_model=Picklist, responses=problems(404), summary="One picklist with its values")
async def get_picklist(picklist: str, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        picklists = await picklist_store.load_picklists(conn, key.company_id)
    if picklist not in picklists:
        raise NotFound(f"no picklist {picklist!r}; picklists: {', '.join(picklists)}")
    return OrjsonResponse(picklists[picklist].document())


@router.post(
    "/{picklist}/values",
    status_code=201,
    response_model=PicklistValue,
    responses=problems(403, 404),
    summary="Add a value (admin); Location is the picklist's URL, which lists it",
)
async def add_value(
    request: Request,
    picklist: str,
    body: PicklistValueCreate,
    key: Caller,
    res: Res,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    require_admin(key, "change picklists")

    async def answer() -> Response:
        async with tenant(res.pool, key.company_id) as conn:
            doc = await picklist_store.add_value(conn, key.company_id, picklist, body.value, body.label, body.synonyms)
        return created(doc, f"/api/v1/picklists/{quote(picklist)}")

    async def fingerprint() -> str:
        return json_fingerprint(body.model_dump(mode="json"))

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.patch(
    "/{picklist}/values/{value}",
    response_model=PicklistValue,
    responses=problems(403, 404),
    summary="Relabel a value, set its synonyms, retire or restore it (admin)",
)
async def update_value(picklist: str, value: str, body: PicklistValueUpdate, key: Caller, res: Res) -> OrjsonResponse:
    require_admin(key, "change picklists")
    async with tenant(res.pool, key.company_id) as conn:
        doc = await picklist_store.update_value(
            conn, key.company_id, picklist, value, label=body.label, synonyms=body.synonyms, active=body.active
        )
    return OrjsonResponse(doc)
