"""Templates (DataTemplate): list with search, create, read, update, deactivate (PATCH is_active) or delete.

Any key of the company reads templates; only an admin key writes them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.api.bodies import TemplateCreate, TemplateUpdate
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import Template, TemplatePage
from services.api.http import OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, json_fingerprint, once
from services.core.db import tenant
from services.core.errors import NotFound
from services.jobs import templates

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


@router.get("", response_model=TemplatePage, summary="The company's templates by name")
async def list_templates(
    key: Caller,
    res: Res,
    search: Annotated[str | None, Query(max_length=200, description="part of the name, any case")] = None,
    is_active: bool | None = None,
    template_type: Literal["import", "export"] | None = None,
    target_model: Literal["lead", "contact", "account"] | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrjsonResponse:
    limit = min(limit, res.settings.api_page_size_max)
    async with tenant(res.pool, key.company_id) as conn:
        rows, total = await templates.list_templates(
            conn,
            key.company_id,
            search=search,
            is_active=is_active,
            template_type=template_type,
            target_model=target_model,
            limit=limit,
            offset=offset,
        )
    return OrjsonResponse(
        {"items": [templates.template_document(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    )


@router.post(
    "", status_code=201, response_model=Template, responses=problems(403, 409), summary="Create a template (admin)"
)
async def create_template(
    request: Request, body: TemplateCreate, key: Caller, res: Res, idempotency_key: IdempotencyKey = None
) -> Response:
    _admin(key)

    async def answer() -> Response:
        async with tenant(res.pool, key.company_id) as conn:
            row = await templates.create_template(conn, key.company_id, body.model_dump())
        return created(templates.template_document(row), f"/api/v1/templates/{row['id']}")

    async def fingerprint() -> str:
        return json_fingerprint(body.model_dump(mode="json"))

    return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)


@router.get("/{template_id}", response_model=Template, responses=problems(404), summary="A template")
async def get_template(template_id: str, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        row = await templates.get_template(conn, key.company_id, template_id)
    if row is None:
        raise NotFound(f"no template {template_id}")
    return OrjsonResponse(templates.template_document(row))


@router.patch(
    "/{template_id}",
    response_model=Template,
    responses=problems(403, 404, 409),
    summary="Change a template's fields; is_active false deactivates it (admin)",
)
async def update_template(template_id: str, body: TemplateUpdate, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        # Existence first: another company's template is a 404 for every role.
        if await templates.get_template(conn, key.company_id, template_id) is None:
            raise NotFound(f"no template {template_id}")
        _admin(key)
        row = await templates.update_template(conn, key.company_id, template_id, body.model_dump(exclude_unset=True))
    if row is None:
        raise NotFound(f"no template {template_id}")
    return OrjsonResponse(templates.template_document(row))


@router.delete(
    "/{template_id}",
    status_code=204,
    responses=problems(403, 404),
    summary="Delete a template (admin); jobs keep their own copy",
)
async def delete_template(template_id: str, key: Caller, res: Res) -> Response:
    async with tenant(res.pool, key.company_id) as conn:
        if await templates.get_template(conn, key.company_id, template_id) is None:
            raise NotFound(f"no template {template_id}")
        _admin(key)
        await templates.delete_template(conn, key.company_id, template_id)
    return Response(status_code=204)


def _admin(key: Caller) -> None:
    require_admin(key, "change templates")
