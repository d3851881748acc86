"""Company-scoped names: every stored file is ``<company uuid>/<relative path>``; a relative path from a request
or a row never leaves its company's prefix (no absolute path, no ``..`` or ``.`` part, no empty part, no NUL),
whichever backend holds the file."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from services.core.errors import InputFileError

__all__ = ["company_part", "checked_rel", "safe_rel", "object_key", "folder_prefix"]


def company_part(company_id: str) -> str:
    """The company's folder (or key prefix): its uuid in canonical form; ValueError for anything else."""
    return str(uuid.UUID(str(company_id)))


def safe_rel(rel: str) -> str | None:
    """``rel`` when it names a file inside a company's folder, else None."""
    if not rel or "\x00" in rel or rel.startswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or PurePosixPath(rel).is_absolute():
        return None
    return rel


def checked_rel(rel: str) -> str:
    """``rel``, or InputFileError (400) when it would name something outside the company's files."""
    found = safe_rel(rel)
    if found is None:
        raise InputFileError(f"invalid storage path {rel!r}: name a file crmio stored for your company")
    return found


def object_key(prefix: str, company_id: str, rel: str) -> str:
    """The object key of a company's file: the deployment's prefix, the company's uuid, the checked path."""
    return f"{prefix}{company_part(company_id)}/{checked_rel(rel)}"


def folder_prefix(folder: str) -> str:
    """A folder of the company's files as a key prefix ending in '/' ('' for the company's whole folder)."""
    folder = folder.strip("/")
    if not folder:
        return ""
    return checked_rel(folder) + "/"
