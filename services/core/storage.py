"""File storage: uploads and exports live under <storage_dir>/<company_id>/, named by crmio, never by users."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path, PurePosixPath

from services.core.errors import InputFileError, NotFound

__all__ = ["store_file", "resolve", "company_dir"]


def company_dir(storage_dir: Path, company_id: str) -> Path:
    return storage_dir / str(uuid.UUID(str(company_id)))


def store_file(storage_dir: Path, company_id: str, source: Path, *, kind: str = "uploads", suffix: str = "") -> str:
    """Copy ``source`` into the company's storage under a generated name; returns the relative path."""
    name = f"{uuid.uuid4().hex}{suffix.lower() if suffix.isascii() and len(suffix) <= 8 else ''}"
    rel = f"{kind}/{name}"
    target = company_dir(storage_dir, company_id) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    return rel


def resolve(storage_dir: Path, company_id: str, rel_path: str) -> Path:
    """Absolute path of a stored file of this company; anything outside its folder is NotFound."""
    pure = PurePosixPath(rel_path)
    if pure.is_absolute() or ".." in pure.parts or not rel_path or "\x00" in rel_path:
        raise InputFileError(f"invalid storage path {rel_path!r}: name a file crmio stored for your company")
    base = company_dir(storage_dir, company_id).resolve()
    path = (base / pure).resolve()
    if base not in path.parents or not path.is_file():
        raise NotFound(f"no stored file {rel_path!r} for this company")
    return path
