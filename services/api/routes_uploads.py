"""Uploads: stream a file to storage (within the company's storage quota), check its type by content, inspect it,
suggest a mapping; preview an import; delete an upload."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from schemas.models import MODELS
from services.api.bodies import PreviewRequest
from services.api.contract import problems
from services.api.deps import Caller, Res, require_admin
from services.api.documents import Preview, Upload, UploadCreated
from services.api.http import OrjsonResponse, created
from services.api.idempotency import IdempotencyKey, once, upload_fingerprint
from services.api.import_spec import resolve_spec
from services.api.multipart import receive_file
from services.cleansing import picklist_store
from services.cleansing.job_values import job_cleaner
from services.core import storage
from services.core.db import tenant
from services.core.errors import FileTooLarge, NotFound
from services.fields.company_model import company_model
from services.ingest import uploads
from services.ingest.reader_limits import reader_limits
from services.ingest.value_scan import scan_values
from services.jobs import stored_files, templates
from services.jobs.limits import company_limits

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


@router.post(
    "",
    status_code=201,
    response_model=UploadCreated,
    responses=problems(400, 413, 415),
    summary="Upload a file (multipart field `file`; optional fields `target_model`, `sheet`)",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "target_model": {"type": "string", "enum": list(MODELS)},
                            "sheet": {"type": "string"},
                        },
                    }
                }
            }
        }
    },
)
async def create_upload(request: Request, key: Caller, res: Res, idempotency_key: IdempotencyKey = None) -> Response:
    settings = res.settings
    async with tenant(res.pool, key.company_id) as conn:
        limits = await company_limits(conn, settings, key.company_id)
        used = await stored_files.usage(conn, settings, key.company_id)
    room = limits.max_storage_bytes - used
    if room <= 0:  # before a byte is read
        raise stored_files.quota_error(limits, key.company_id, used, "another upload")
    store = storage.of(settings)
    # The upload arrives in a scratch file (the local folder's sits beside the files and is renamed in), is
    # checked and inspected there, then stored (in parts, to object storage) before its row is recorded.
    path, rel = await asyncio.to_thread(store.new_scratch), ""
    try:
        # The company's own limits, while the bytes arrive: never stored past its file size limit or
        # the room left in its storage quota.
        size_cap = min(settings.max_file_bytes, limits.max_file_bytes)
        try:
            form = await receive_file(request, path, min(size_cap, room))
        except FileTooLarge as exc:
            if room >= size_cap:
                raise
            raise stored_files.quota_error(
                limits,
                key.company_id,
                used,
                f"storing {exc.file or 'the upload'!r} (more than the {room:,} bytes left)",
            ) from None
        filename = form.filename
        assert filename is not None

        async def fingerprint() -> str:
            return await asyncio.to_thread(upload_fingerprint, path, filename, form.fields)

        async def answer() -> Response:
            nonlocal rel
            fmt = await asyncio.to_thread(uploads.accept_file, path, filename)
            model = form.fields.get("target_model")
            models = [model] if model in MODELS else list(MODELS)
            insp = await asyncio.to_thread(
                uploads.inspect_file,
                path,
                fmt,
                filename,
                limits=reader_limits(settings),
                preview_rows=settings.preview_rows,
                count_rows_max=settings.upload_count_rows_max,
                sheet=form.fields.get("sheet") or None,
            )
            rel = storage.generated_name("uploads", filename)
            await asyncio.to_thread(store.put, key.company_id, rel, path, move=True)

            async with tenant(res.pool, key.company_id) as conn:
                memories = {m: await templates.mapping_memory(conn, key.company_id, m) for m in models}
                targets = [await company_model(conn, key.company_id, m) for m in models]
                # Counted again under the company's storage lock: concurrent uploads cannot all take the same room.
                what = f"storing {filename!r} ({form.size_bytes:,} bytes)"
                await stored_files.register(conn, settings, limits, key.company_id, rel, form.size_bytes, what)
                row = await uploads.insert_upload(
                    conn,
                    {
                        "id": uuid.uuid4(),
                        "company_id": key.company_id,
                        "original_filename": filename,
                        "stored_path": rel,
                        "file_format": fmt,
                        "size_bytes": form.size_bytes,
                        "encoding": insp.encoding,
                        "delimiter": insp.delimiter,
                        "sheet": insp.sheet,
                        "sheet_names": insp.sheet_names,
                        "headers": insp.headers,
                        "row_estimate": insp.row_estimate,
                        "row_estimate_exact": insp.row_estimate_exact,
                    },
                )
            rel = ""  # recorded: from here on the upload's row owns the file, whatever fails next
            doc = uploads.upload_document(row)
            doc["rows"] = insp.rows
            doc["suggested_mapping"] = uploads.suggestions(insp.headers, memories, targets)
            return created(doc, f"/api/v1/uploads/{row['id']}")

        return await once(request, res, key.company_id, idempotency_key, fingerprint, answer)
    except BaseException:
        if rel:  # a refused upload leaves nothing behind
            await asyncio.to_thread(store.remove, key.company_id, [rel])
        raise
    finally:
        await asyncio.to_thread(_unlink, path)


async def _upload(res: Any, company_id: str, upload_id: str) -> Any:
    async with tenant(res.pool, company_id) as conn:
        row = await uploads.get_upload(conn, company_id, upload_id)
    if row is None:
        raise NotFound(f"no upload {upload_id}")
    return row


@router.get(
    "/{upload_id}",
    response_model=Upload,
    responses=problems(404),
    summary="An upload's description (format, headers, row estimate)",
)
async def get_upload(upload_id: str, key: Caller, res: Res) -> OrjsonResponse:
    return OrjsonResponse(uploads.upload_document(await _upload(res, key.company_id, upload_id)))


@router.delete(
    "/{upload_id}",
    status_code=204,
    responses=problems(403, 404),
    summary="Delete an upload (admin); its file leaves the storage quota once no job made from it still names it",
)
async def delete_upload(upload_id: str, key: Caller, res: Res) -> Response:
    async with tenant(res.pool, key.company_id) as conn:
        if await uploads.get_upload(conn, key.company_id, upload_id) is None:
            raise NotFound(f"no upload {upload_id}")
        require_admin(key, "delete uploads")
        gone = await uploads.delete_upload(conn, key.company_id, upload_id)
    await asyncio.to_thread(storage.of(res.settings).remove, key.company_id, gone)
    return Response(status_code=204)


@router.post(
    "/{upload_id}/preview",
    response_model=Preview,
    responses=problems(400, 404, 413, 415),
    summary="The first rows mapped, cleansed and validated, with issues per cell, "
    "and every distinct value of each choice column with a suggested picklist value",
)
async def preview(upload_id: str, body: PreviewRequest, key: Caller, res: Res) -> OrjsonResponse:
    settings = res.settings
    row = await _upload(res, key.company_id, upload_id)
    opts = body.options
    async with tenant(res.pool, key.company_id) as conn:
        spec = await resolve_spec(
            conn,
            key.company_id,
            target_model=body.target_model,
            mapping=body.mapping,
            template_id=body.template_id,
            rules=body.validation_rules,
            headers=None,
            value_mapping=body.value_mapping,
        )
        memory = await templates.mapping_memory(conn, key.company_id, spec.model.name)
        # The cleaner the import would use: the company's picklists, the value map, strict or not.
        cleaner = await job_cleaner(
            conn,
            key.company_id,
            {
                "target_model": spec.model.name,
                "validation_rules": spec.rules,
                "options": opts.as_dict(),
                "value_mapping": spec.value_mapping,
                "duplicate_handling": body.duplicate_handling,
            },
            settings,
        )
        values_memory = await picklist_store.value_memory(conn, key.company_id)
    clean = cleaner.options
    path = await asyncio.to_thread(storage.of(settings).file, key.company_id, row["stored_path"])
    n = min(body.rows or settings.preview_rows, settings.preview_rows_max)
    sheet = opts.sheet or row["sheet"]
    doc = await asyncio.to_thread(
        uploads.preview_records,
        path,
        row["file_format"],
        row["original_filename"],
        model=spec.model,
        mapping=spec.mapping if spec.chosen else None,
        memory=memory,
        rules=spec.rules,
        options=clean,
        sheet=sheet,
        rows=n,
        limits=reader_limits(settings),
        encoding=opts.encoding,
        delimiter=opts.delimiter,
        cleaner=cleaner,
        required=body.duplicate_handling != "update",
    )
    doc["values"] = await asyncio.to_thread(
        scan_values,
        path,
        row["file_format"],
        row["original_filename"],
        model=spec.model,
        mapping=doc["mapping"],
        fields=cleaner.picklists(),
        value_mapping=spec.value_mapping,
        memory=values_memory,
        sheet=sheet,
        limits=reader_limits(settings),
        max_rows=settings.value_scan_rows,
        max_distinct=settings.value_scan_distinct,
        encoding=opts.encoding,
        delimiter=opts.delimiter,
    )
    doc["value_mapping"] = spec.value_mapping or {}
    doc["match_fields"] = list(cleaner.model.match_fields)  # what duplicates are matched on (match_on)
    doc["upload_id"] = str(row["id"])
    return OrjsonResponse(doc)
