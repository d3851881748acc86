"""The storage interface: what every backend (the local folder, S3-compatible object storage) does with a
company's files, and the handle of one stored file that readers take.

Methods are blocking (readers are synchronous, the split runs in a child process): asyncio callers run them
in a thread. Every method takes the company and a relative path checked by ``keys``: nothing reaches
outside the company's own files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from services.core.errors import NotFound
from services.core.storage.keys import checked_rel

__all__ = ["ObjectInfo", "Storage", "StoredFile", "generated_name"]

_SUFFIX_MAX = 8


def generated_name(kind: str, display_name: str = "") -> str:
    """A new relative path in the company's ``kind`` folder; the user's name only lends its extension."""
    suffix = PurePosixPath(display_name).suffix.lower()
    if not suffix.isascii() or len(suffix) > _SUFFIX_MAX or not suffix[1:].isalnum():
        suffix = ""
    return f"{kind}/{uuid.uuid4().hex}{suffix}"


@dataclass(frozen=True)
class ObjectInfo:
    rel: str  # relative to the company's folder
    size: int
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class StoredFile:
    """One stored file of a company, as readers take it: ``path`` when it is a local file (the local folder),
    else ``open()`` gives a seekable reader (range reads) and ``local_path()`` a spill copy."""

    storage: Storage
    company_id: str
    rel: str
    size: int
    path: Path | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.rel).name

    def open(self) -> BinaryIO:
        if self.path is not None:
            return self.path.open("rb")
        return self.storage.open(self.company_id, self.rel, size=self.size)

    def local_path(self) -> contextlib.AbstractContextManager[Path]:
        return self.storage.local_copy(self.company_id, self.rel)


class Storage(ABC):
    """A company-scoped file store. ``rel`` paths are what jobs and uploads record (``uploads/<hex>.csv``)."""

    backend: str

    @abstractmethod
    def describe(self) -> str:
        """Where files go, for logs and messages (never a secret)."""

    @abstractmethod
    def check(self) -> None:
        """Fail at start (StorageMisconfigured, StorageUnavailable) when the store cannot be used."""

    @abstractmethod
    def size(self, company_id: str, rel: str) -> int | None:
        """The stored file's size; None when there is none (or ``rel`` leaves the company's files)."""

    @abstractmethod
    def open(self, company_id: str, rel: str, *, size: int | None = None) -> BinaryIO:
        """A seekable binary reader of the stored file (NotFound when there is none); ``size`` when known."""

    @abstractmethod
    def put(self, company_id: str, rel: str, source: Path, *, move: bool = False) -> int:
        """Store a local file under ``rel`` (large files in parts); returns its size. Never half a file.

        ``move``: ``source`` is a scratch file of ours, gone afterwards (the local folder renames it).
        """

    @abstractmethod
    def remove(self, company_id: str, rels: Iterable[str]) -> tuple[int, int]:
        """Delete stored files (paths outside the company's files are ignored); returns (files, bytes) removed."""

    @abstractmethod
    def list(self, company_id: str, folder: str) -> list[ObjectInfo]:
        """The files directly in a folder of the company's files (not in its subfolders)."""

    @abstractmethod
    def move(self, company_id: str, source_rel: str, target_rel: str) -> None:
        """Rename a stored file within the company's files."""

    @abstractmethod
    def download(self, company_id: str, rel: str, target: Path) -> None:
        """Copy a stored file to a local path."""

    @abstractmethod
    def local_copy(self, company_id: str, rel: str) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the stored file for the block (the file itself, or a spill file removed after)."""

    @property
    @abstractmethod
    def scratch_dir(self) -> Path:
        """Where local scratch files go (uploads arriving, exports being written, spilled workbooks)."""

    def new_scratch(self, suffix: str = "") -> Path:
        """A new, empty local scratch file (``put(..., move=True)`` takes it in cheaply); the caller removes it."""
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.scratch_dir, prefix="crmio-", suffix=suffix if len(suffix) <= 8 else "")
        os.close(fd)
        return Path(name)

    @contextlib.contextmanager
    def scratch(self, suffix: str = "") -> Iterator[Path]:
        """A new local scratch file for the block, removed after."""
        path = self.new_scratch(suffix)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def sweep_scratch(self, older_than_s: float) -> int:
        """Remove scratch files left by processes that died; returns how many."""
        cut, gone = time.time() - older_than_s, 0
        with contextlib.suppress(FileNotFoundError):
            for p in self.scratch_dir.glob("crmio-*"):
                with contextlib.suppress(OSError):
                    if p.is_file() and p.stat().st_mtime < cut:
                        p.unlink()
                        gone += 1
        return gone

    def file(self, company_id: str, rel: str) -> StoredFile:
        """The stored file's handle; NotFound when the company has no such file, InputFileError for a bad path."""
        rel = checked_rel(rel)
        size = self.size(company_id, rel)
        if size is None:
            raise NotFound(f"no stored file {rel!r} for this company")
        return StoredFile(self, company_id, rel, size, self._local_path(company_id, rel))

    def store_file(self, company_id: str, source: Path, *, kind: str = "uploads", suffix: str = "") -> str:
        """Copy ``source`` into the company's ``kind`` folder under a generated name; returns the relative path."""
        rel = generated_name(kind, "x" + suffix)
        self.put(company_id, rel, source)
        return rel

    def stored_rel(self, company_id: str, path: Path) -> str | None:
        """The relative path of a local ``path`` that is one of the company's stored files (the local folder), else None."""
        return None

    def _local_path(self, company_id: str, rel: str) -> Path | None:
        """The local file behind ``rel``, for backends that have one."""
        return None
