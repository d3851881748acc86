"""The local folder backend: files live under <storage_dir>/<company_id>/, named by crmio, never by users.

The module's functions are the folder's plain operations (tests use them to reach a company's folder);
``LocalStorage`` is the backend behind the storage interface.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from services.core.errors import NotFound
from services.core.storage.base import ObjectInfo, Storage
from services.core.storage.keys import checked_rel, company_part, folder_prefix, safe_rel

__all__ = ["LocalStorage", "store_file", "resolve", "company_dir", "relative_path", "size_of", "remove"]


def company_dir(storage_dir: Path, company_id: str) -> Path:
    return storage_dir / company_part(company_id)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
    except BaseException:
        target.unlink(missing_ok=True)  # never half a file
        raise


def store_file(storage_dir: Path, company_id: str, source: Path, *, kind: str = "uploads", suffix: str = "") -> str:
    """Copy ``source`` into the company's storage under a generated name; returns the relative path."""
    return LocalStorage(storage_dir).store_file(company_id, source, kind=kind, suffix=suffix)


def resolve(storage_dir: Path, company_id: str, rel_path: str) -> Path:
    """Absolute path of a stored file of this company; anything outside its folder is NotFound."""
    path = _inside(storage_dir, company_id, checked_rel(rel_path))
    if path is None or not path.is_file():
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
    if safe_rel(rel_path) is None:
        return None
    base = company_dir(storage_dir, company_id).resolve()
    path = (base / rel_path).resolve()  # a symlink out of the folder resolves outside: refused
    return path if base in path.parents else None


def size_of(storage_dir: Path, company_id: str, rel_path: str) -> int | None:
    """The size of a stored file of the company; None when there is no such file."""
    path = _inside(storage_dir, company_id, rel_path)
    try:
        return path.stat().st_size if path is not None and path.is_file() else None
    except OSError:
        return None


def remove(storage_dir: Path, company_id: str, rel_paths: Iterable[str]) -> tuple[int, int]:
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


class LocalStorage(Storage):
    """Files in a local folder that every API process and worker shares."""

    backend = "local"

    def __init__(self, storage_dir: Path) -> None:
        self.root = storage_dir

    def describe(self) -> str:
        return f"the local folder {self.root}"

    def check(self) -> None:
        return None  # folders are made as files arrive

    def size(self, company_id: str, rel: str) -> int | None:
        return size_of(self.root, company_id, rel)

    def open(self, company_id: str, rel: str, *, size: int | None = None) -> BinaryIO:
        return resolve(self.root, company_id, rel).open("rb")

    def _target(self, company_id: str, rel: str) -> Path:
        path = _inside(self.root, company_id, checked_rel(rel))
        if path is None:
            raise NotFound(f"no stored file {rel!r} for this company")
        return path

    @property
    def scratch_dir(self) -> Path:
        return self.root / ".scratch"  # the same file system as the files: taken in by a rename

    def put(self, company_id: str, rel: str, source: Path, *, move: bool = False) -> int:
        target = self._target(company_id, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(source, target)
                return target.stat().st_size
            except OSError:  # another file system: copied below
                pass
        _copy(source, target)
        if move:
            source.unlink(missing_ok=True)
        return target.stat().st_size

    def remove(self, company_id: str, rels: Iterable[str]) -> tuple[int, int]:
        return remove(self.root, company_id, rels)

    def list(self, company_id: str, folder: str) -> list[ObjectInfo]:
        prefix = folder_prefix(folder)
        where = company_dir(self.root, company_id) / prefix
        if not where.is_dir() or _inside(self.root, company_id, prefix + "x") is None:
            return []
        found = []
        for p in where.iterdir():
            with contextlib.suppress(OSError):
                if p.is_file():
                    st = p.stat()
                    found.append(ObjectInfo(prefix + p.name, st.st_size, st.st_mtime))
        return found

    def move(self, company_id: str, source_rel: str, target_rel: str) -> None:
        source = resolve(self.root, company_id, source_rel)
        target = self._target(company_id, target_rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def download(self, company_id: str, rel: str, target: Path) -> None:
        shutil.copyfile(resolve(self.root, company_id, rel), target)

    @contextlib.contextmanager
    def local_copy(self, company_id: str, rel: str) -> Iterator[Path]:
        yield resolve(self.root, company_id, rel)

    def stored_rel(self, company_id: str, path: Path) -> str | None:
        return relative_path(self.root, company_id, path)

    def _local_path(self, company_id: str, rel: str) -> Path | None:
        return _inside(self.root, company_id, rel)
