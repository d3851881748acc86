"""Custom fields: a company's own fields on its leads, contacts and accounts — list, create, retire.

Any key of the company reads them; only an admin key creates or retires one. A retired field's values
stay on the records.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from services.api.bodies import Model, _Strict
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import CustomField, CustomFieldList
from services.api.http import OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, json_fingerprint, once
from services.core.db import tenant
from services.fields import manage
from services.fields.definitions import FIELD_TYPES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/fields", tags=["fields"])


class CustomFieldCreate(_Strict):
    target_model: Model
    label: str = Field(min_length=1, max_length=255, description="what people read, e.g. Deal Stage")
    name: str | None = Field(
        None, description="the key records and files use (default: from the label, e.g. deal_stage)"
    )
    field_type: str = Field(description=" | ".join(FIELD_TYPES))
    required: bool = False
    max_length: int | None = Field(None, description="text types: the longest value (default: the type's)")
    choices: list[str] | None = Field(None, description="choice fields: the values' labels, in order")
    validation_rules: dict[str, Any] | None = Field(None, description="as a job's validation_rules for this field")


@router.get(
    "",
    response_model=CustomFieldList,
    summary="The company's custom fields (of one model; retired ones with retired=true)",
)
async def list_fields(
    key: Caller, res: Res, target_model: Model | None = None, retired: bool = False
) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        items = await manage.list_field_documents(conn, key.company_id, target_model, retired=retired)
    return OrjsonResponse({"items": items})


@router.post(
    "", status_code=201, response_model=CustomField, responses=problems(403), summary="Create a custom field (admin)"
)
async def create_field(
    request: Request, body: CustomFieldCreate, key: Caller, res: Res, idempotency_key: IdempotencyKey = None
) -> Response:
    require_admin(key, "create custom fields")

    async def answer() -> Response:
        async with tenant(res.pool, key.company_id) as conn:
            doc = await manage.create_field(conn, key.company_id, body.model_dump(exclude_none=True))
        return created(doc, f"/api/v1/fields/{doc['id']}")

    async def fingerprint() -> str:
        return json_fingerprint(body.model_dump(mode="json"))

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.get("/{field_id}", response_model=CustomField, responses=problems(404), summary="A custom field")
async def get_field(field_id: uuid.UUID, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        return OrjsonResponse(await manage.get_field_document(conn, key.company_id, field_id))


async def _set_retired(field_id: uuid.UUID, key: Caller, res: Res, retired: bool) -> OrjsonResponse:
    require_admin(key, f"{'retire' if retired else 'restore'} custom fields")
    async with tenant(res.pool, key.company_id) as conn:
        return OrjsonResponse(await manage.set_retired(conn, key.company_id, field_id, retired))


@router.post(
    "/{field_id}/retire",
    response_model=CustomField,
    responses=problems(403, 404),
    summary="Retire a custom field: no longer imported or exported; values stay (admin)",
)
async def retire_field(field_id: uuid.UUID, key: Caller, res: Res) -> OrjsonResponse:
    return await _set_retired(field_id, key, res, True)


@router.post(
    "/{field_id}/restore",
    response_model=CustomField,
    responses=problems(403, 404),
    summary="Restore a retired custom field, with the values records kept (admin)",
)
async def restore_field(field_id: uuid.UUID, key: Caller, res: Res) -> OrjsonResponse:
    return await _set_retired(field_id, key, res, False)
