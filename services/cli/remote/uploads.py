"""A local file sent to POST /api/v1/uploads, checked against the format the command line declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.cli.remote.errors import ApiError
from services.cli.remote.session import Remote
from services.core.errors import InputFileError, UnsupportedFileType

__all__ = ["upload"]


def upload(
    remote: Remote, file: str, *, declared: str | None, model: str | None = None, sheet: str | None = None
) -> Any:
    """Upload ``file``; the API decides its format by name and content, which must be ``declared`` when given."""
    path = Path(file)
    if not path.is_file():
        raise InputFileError("no such file", file=file)
    fields = {k: v for k, v in (("target_model", model), ("sheet", sheet)) if v}
    with path.open("rb") as f:
        doc = remote.api.call("POST", "/uploads", files={"file": (path.name, f)}, data=fields)
    if declared and doc["file_format"] != declared:
        _forget(remote, str(doc["id"]))
        raise UnsupportedFileType(
            f"the content is {doc['file_format']}, not {declared} (--format): leave out --format or name the right one",
            file=path.name,
        )
    return doc


def _forget(remote: Remote, upload_id: str) -> None:
    """Delete an upload no job will use (only an admin key may; a member's stays until retention removes it)."""
    try:
        remote.api.call("DELETE", f"/uploads/{upload_id}")
    except ApiError:
        pass
