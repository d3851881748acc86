"""What readers read: a local path, or a stored file (``services.core.storage.StoredFile``) that is either a
local file (the local folder) or an object read through ranged GETs (S3). CSV and JSON stream from it, a
.xlsx's zip is read with seeks (its directory, then its parts); .xls, .ods and .xlsb, which their libraries
hold whole anyway, are spilled to a local scratch file first (``local_file``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, TypeAlias, runtime_checkable

__all__ = ["Blob", "Source", "local_path", "open_binary", "size_of", "name_of", "local_file"]


@runtime_checkable
class Blob(Protocol):
    """A stored file: ``path`` when it is a local file, else read through ``open()``."""

    @property
    def path(self) -> Path | None: ...

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    def open(self) -> BinaryIO: ...

    def local_path(self) -> contextlib.AbstractContextManager[Path]: ...


Source: TypeAlias = "str | os.PathLike[str] | Blob"


def local_path(source: Source) -> str | None:
    """The source's local file, when it has one."""
    if isinstance(source, Blob):
        return None if source.path is None else os.fspath(source.path)
    return os.fspath(source)


def open_binary(source: Source) -> BinaryIO:
    """A new seekable binary reader of the source."""
    path = local_path(source)
    if path is not None:
        return open(path, "rb")
    assert isinstance(source, Blob)
    return source.open()


def size_of(source: Source) -> int:
    path = local_path(source)
    if path is not None:
        return os.path.getsize(path)
    assert isinstance(source, Blob)
    return source.size


def name_of(source: Source) -> str:
    return source.name if isinstance(source, Blob) else os.path.basename(os.fspath(source))


@contextlib.contextmanager
def local_file(source: Source) -> Iterator[str]:
    """A local path of the source for the block: its own file, or a spill copy removed afterwards."""
    path = local_path(source)
    if path is not None:
        yield path
        return
    assert isinstance(source, Blob)
    with source.local_path() as spilled:
        yield os.fspath(spilled)
