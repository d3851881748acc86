"""The reader contract: formats, limits, source description, raw rows and the TableReader protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self

__all__ = ["FileFormat", "ReaderLimits", "SourceInfo", "RawRow", "TableReader", "ReaderBase"]

FileFormat = Literal["csv", "excel", "json"]


@dataclass(frozen=True)
class ReaderLimits:
    max_rows: int = 5_000_000
    max_columns: int = 500
    max_field_bytes: int = 128 * 1024
    max_uncompressed_bytes: int = 4 * 1024**3
    # .ods and .xlsb (and .xls xlrd cannot parse) are held whole by python-calamine, as a dense
    # grid: both the unpacked sheet data and the grid's cells are bounded. Measured: a 100k-row,
    # 12-column .ods (1.2M cells, 111 MiB of content.xml) peaks 168 MB over the interpreter, about
    # 140 bytes a cell, so 2M cells stay near 300 MB; the byte bound caps long strings on top.
    max_held_sheet_bytes: int = 192 * 1024**2
    max_held_cells: int = 2_000_000


@dataclass(frozen=True)
class SourceInfo:
    format: FileFormat
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheet_names: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RawRow:
    number: int
    cells: list[str | None]
    problem: str | None = None


class TableReader(Protocol):
    info: SourceInfo

    def rows(self) -> Iterator[RawRow]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ReaderBase:
    """Context-manager plumbing shared by the readers; subclasses set ``info`` and implement ``rows``."""

    info: SourceInfo

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
