"""A stored file as an HTTP download: the local folder's file as it is (FileResponse: ranges, sendfile), an
object streamed through in 1 MiB chunks as it is read from storage."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.responses import FileResponse, StreamingResponse
from starlette.responses import Response

from services.core.storage import StoredFile

__all__ = ["stored_response"]

_CHUNK = 1024 * 1024


def _chunks(stored: StoredFile) -> Iterator[bytes]:
    with stored.open() as f:  # Starlette iterates a plain iterator in a worker thread
        while chunk := f.read(_CHUNK):
            yield chunk


def stored_response(stored: StoredFile, *, media_type: str, filename: str) -> Response:
    if stored.path is not None:
        return FileResponse(stored.path, media_type=media_type, filename=filename)
    return StreamingResponse(
        _chunks(stored),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(stored.size),
        },
    )
