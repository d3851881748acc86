"""File storage: uploads and exports live under <storage_dir>/<company_id>/, named by crmio, never by users.

Which files a company keeps, their sizes and who names them are recorded in the database
(services.jobs.stored_files); this module only places, finds, measures and removes them.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path, PurePosixPath

from services.core.errors import InputFileError, NotFound

__all__ = ["store_file", "resolve", "company_dir", "relative_path", "size_of", "remove"]


def company_dir(storage_dir: Path, company_id: str) -> Path:
    return storage_dir / str(uuid.UUID(str(company_id)))


def store_file(storage_dir: Path, company_id: str, source: Path, *, kind: str = "uploads", suffix: str = "") -> str:
    """Copy ``source`` into the company's storage under a generated name; returns the relative path."""
    name = f"{uuid.uuid4().hex}{suffix.lower() if suffix.isascii() and len(suffix) <= 8 else ''}"
    rel = f"{kind}/{name}"
    target = company_dir(storage_dir, company_id) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
    except BaseException:
        target.unlink(missing_ok=True)  # never half a file
        raise
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


def relative_path(storage_dir: Path, company_id: str, path: Path) -> str | None:
    """``path`` as a path of the company's storage (what jobs and uploads record), or None when it lies outside."""
    base = company_dir(storage_dir, company_id).resolve()
    full = path.resolve()
    if base not in full.parents or not full.is_file():
        return None
    return full.relative_to(base).as_posix()


def _inside(storage_dir: Path, company_id: str, rel_path: str) -> Path | None:
    pure = PurePosixPath(rel_path)
    if not rel_path or pure.is_absolute() or ".." in pure.parts or "\x00" in rel_path:
        return None
    base = company_dir(storage_dir, company_id).resolve()
    path = (base / pure).resolve()
    return path if base in path.parents else None


def size_of(storage_dir: Path, company_id: str, rel_path: str) -> int | None:
    """The size of a stored file of the company; None when there is no such file."""
    path = _inside(storage_dir, company_id, rel_path)
    try:
        return path.stat().st_size if path is not None and path.is_file() else None
    except OSError:
        return None


def remove(storage_dir: Path, company_id: str, rel_paths: list[str]) -> tuple[int, int]:
    """Delete stored files of the company (paths outside its folder are ignored); returns (files, bytes) removed."""
    files = size = 0
    for rel in rel_paths:
        path = _inside(storage_dir, company_id, rel)
        if path is None or not path.is_file():
            continue
        try:
            got = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # removed meanwhile by whoever else removed it
            continue
        files, size = files + 1, size + got
    return files, size
