"""Small read-only routes the web UI needs: who am I, the models' fields, re-inspecting an upload, export counts,
the error summary of an import, what the caller's key may do with a job. Every one is scoped to the caller's
company like the rest of the API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from schemas.models import MODELS, TargetModel
from services.api.bodies import Model
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import ErrorSummary, ExportCount, Inspection, JobActions, Me, ModelsDocument
from services.api.http import Forbidden, OrjsonResponse
from services.api.routes_control import require_job_control
from services.cleansing.validation import RULES
from services.core import storage
from services.core.db import tenant
from services.core.errors import NotFound
from services.exports.query import OPS, PSEUDO_FIELDS, build_query, check_filters
from services.fields.company_model import company_model
from services.fields.definitions import CREATED_AS
from services.ingest import uploads
from services.ingest.reader_limits import reader_limits
from services.ingest.readers import FileFormat, ReaderLimits, open_table
from services.ingest.readers.source import Source
from services.jobs import log_repository, templates
from services.jobs import repository as jobs

__all__ = ["router", "InspectRequest", "CountRequest", "models_document"]

router = APIRouter(prefix="/api/v1", tags=["web UI"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InspectRequest(_Strict):
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None


class CountRequest(_Strict):
    target_model: Model
    filters: list[dict[str, Any]] | None = None


def models_document(models: Sequence[TargetModel] = tuple(MODELS.values())) -> dict[str, Any]:
    """Every target model's fields (type, required, choices; a company's custom fields marked, with the type
    they were created as), the filter ops and the validation rules."""
    return {
        "models": {
            model.name: {
                "fields": [
                    {
                        "name": f.name,
                        "title": f.title,
                        "type": f.type,
                        "required": f.required,
                        "choices": list(f.choices),
                        "max_length": f.max_length,
                        "custom": f.custom,
                        # A custom field's type as the company created it ("number"; its "type" is "integer").
                        **({"field_type": CREATED_AS[f.type]} if f.custom else {}),
                    }
                    for f in model.fields
                ],
                "match_fields": list(model.match_fields),
            }
            for model in models
        },
        "pseudo_fields": list(PSEUDO_FIELDS),
        "filter_ops": list(OPS),
        "rules": list(RULES),
    }


@router.get("/me", response_model=Me, summary="The calling API key: its company, role and label")
async def me(key: Caller) -> OrjsonResponse:
    return OrjsonResponse({"company_id": key.company_id, "role": key.role, "label": key.label, "key_id": key.id})


@router.get(
    "/models",
    response_model=ModelsDocument,
    summary="The target models' fields, the export filter ops and the validation rules",
)
async def models(key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        company = [await company_model(conn, key.company_id, m) for m in MODELS]
    return OrjsonResponse(models_document(company))


def _inspect(
    path: Source, fmt: FileFormat, name: str, body: InspectRequest, limits: ReaderLimits, rows: int, count_max: int
) -> dict[str, Any]:
    """Headers, the first ``rows`` rows and the row count (exact up to ``count_max``). Blocking: run in a thread."""
    with open_table(
        path, fmt, display_name=name, sheet=body.sheet, encoding=body.encoding, delimiter=body.delimiter, limits=limits
    ) as reader:
        info = reader.info
        out: list[list[str | None]] = []
        count = 0
        for row in reader.rows():
            count += 1
            if count <= rows:
                out.append(list(row.cells))
            if count >= count_max:
                break
    return {
        "format": info.format,
        "encoding": info.encoding,
        "delimiter": info.delimiter,
        "sheet": info.sheet,
        "sheet_names": list(info.sheet_names),
        "headers": list(info.headers),
        "rows": out,
        "row_estimate": count,
        "row_estimate_exact": count < count_max,
    }


@router.post(
    "/uploads/{upload_id}/inspect",
    response_model=Inspection,
    responses=problems(400, 404, 413, 415),
    summary="Read an upload again with another sheet, encoding or delimiter: headers, first rows, suggestions",
)
async def inspect(upload_id: str, body: InspectRequest, key: Caller, res: Res) -> OrjsonResponse:
    settings = res.settings
    async with tenant(res.pool, key.company_id) as conn:
        row = await uploads.get_upload(conn, key.company_id, upload_id)
        if row is None:
            raise NotFound(f"no upload {upload_id}")
        memories = {m: await templates.mapping_memory(conn, key.company_id, m) for m in MODELS}
        targets = [await company_model(conn, key.company_id, m) for m in MODELS]
    path = await asyncio.to_thread(storage.of(settings).file, key.company_id, row["stored_path"])
    doc = await asyncio.to_thread(
        _inspect,
        path,
        row["file_format"],
        row["original_filename"],
        body,
        reader_limits(settings),
        settings.preview_rows,
        settings.upload_count_rows_max,
    )
    if not doc["row_estimate_exact"]:
        doc["row_estimate"] = max(doc["row_estimate"], row["row_estimate"] or 0)  # the upload's estimate of the rest
    doc["upload_id"] = str(row["id"])
    doc["suggested_mapping"] = uploads.suggestions(doc["headers"], memories, targets)
    return OrjsonResponse(doc)


@router.post(
    "/exports/count", response_model=ExportCount, summary="How many of the company's records an export's filters match"
)
async def export_count(body: CountRequest, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        model = await company_model(conn, key.company_id, body.target_model)
        filters = check_filters(model, body.filters)
        query = build_query(model, uuid.UUID(key.company_id), list(model.fields[:1]), filters, [])
        count = await conn.fetchval(query.count_sql, *query.args)
    return OrjsonResponse({"target_model": model.name, "count": count})


@router.get(
    "/jobs/{job_id}/error-summary",
    response_model=ErrorSummary,
    responses=problems(404),
    summary="An import's failed rows counted per field, with a hint per field",
)
async def error_summary(job_id: str, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        row = await jobs.require_job(conn, key.company_id, job_id)
        fields = await log_repository.error_summary(conn, key.company_id, row["id"])
    return OrjsonResponse(
        {
            "job_id": str(row["id"]),
            "error_records": row["error_records"],
            "fields": [
                {"field": f["field"], "rows": f["rows"], "hint": f["hint"], "example": f["example"]} for f in fields
            ],
        }
    )


@router.get(
    "/jobs/{job_id}/actions",
    response_model=JobActions,
    responses=problems(404),
    summary="What the calling key's role lets it do with the job (cancel, retry, roll back), with the rule when "
    "it may not; the job's state may still refuse an action (409: a finished job cannot be cancelled)",
)
async def job_actions(job_id: str, key: Caller, res: Res) -> OrjsonResponse:
    """The same rules the control routes apply (routes_control.require_job_control, require_admin), asked in
    advance: the UI offers only what the key may do."""
    async with tenant(res.pool, key.company_id) as conn:
        row = await jobs.require_job(conn, key.company_id, job_id)  # another company's job: 404
    actions: dict[str, dict[str, Any]] = {}
    control: tuple[Literal["cancel", "retry"], ...] = ("cancel", "retry")
    for action in control:
        try:
            await require_job_control(res, key, job_id, action)
            actions[action] = {"allowed": True, "reason": None}
        except Forbidden as refused:
            actions[action] = {"allowed": False, "reason": refused.message}
    try:
        require_admin(key, "roll back imports")
        actions["rollback"] = {"allowed": True, "reason": None}
    except Forbidden as refused:
        actions["rollback"] = {"allowed": False, "reason": refused.message}
    return OrjsonResponse({"job_id": str(row["id"]), "role": key.role, "actions": actions})
