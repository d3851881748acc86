"""Result files of an import (success / errors, CSV / .xlsx): GET /api/v1/jobs/{id}/results.

CSV is streamed page by page as it is produced. An .xlsx has to be complete before its zip
directory can be written, so it is written to a temporary file first (rows stream into it; memory
stays flat) and sent from there; the file is removed once sent.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from services.api.contract import problems
from services.api.deps import Caller, Res
from services.result_files import open_result

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


def _ascii(name: str) -> str:
    # Header-safe: the user's file name may hold quotes or non-ASCII letters.
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_. ") else "_" for c in name)[:100] or "file"


@router.get(
    "/{job_id}/results",
    response_model=None,
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            }
        },
        **problems(404),
    },
    summary="An import's result file: success (row, outcome, record id, match key) or errors (every "
    "original column of each failed or warned row, with row number, field, value, message and hint)",
)
async def results(
    job_id: str,
    key: Caller,
    res: Res,
    kind: Literal["success", "errors"] = "success",
    format: Literal["csv", "excel"] = "csv",  # noqa: A002 - the query parameter's public name
) -> StreamingResponse | FileResponse:
    result = await open_result(res.settings, res.pool, key.company_id, job_id, kind, format)
    disposition = {"Content-Disposition": f'attachment; filename="{_ascii(result.filename)}"'}
    if format == "csv":
        return StreamingResponse(result.csv_chunks(), media_type=result.media_type, headers=disposition)
    fd, name = tempfile.mkstemp(suffix=".xlsx", prefix="crmio-results-")
    os.close(fd)
    path = Path(name)
    try:
        await result.write_to(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path, media_type=result.media_type, headers=disposition, background=BackgroundTask(path.unlink, missing_ok=True)
    )
