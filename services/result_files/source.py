"""Re-read an import's own stored file to give the error file every original column of a row.

The reader is opened exactly as the import opened it (format, sheet, encoding, delimiter, the
user's file name), so row numbers and cells are the ones the import saw. Rows are picked by
number in one forward pass: the error file asks for ascending numbers, chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from services.core import storage
from services.core.errors import CrmioError, InputFileError, NotFound
from services.core.settings import Settings
from services.ingest.readers import RawRow, ReaderLimits, TableReader, open_table

__all__ = ["JobSource", "open_job_source"]


class JobSource:
    """The job's file, read forward once; ``take`` returns the cells of the asked rows."""

    def __init__(self, reader: TableReader) -> None:
        self.reader = reader
        self.headers: list[str] = list(reader.info.headers)
        self._rows: Iterator[RawRow] | None = reader.rows()
        self._next: RawRow | None = None

    def take(self, numbers: Iterable[int]) -> dict[int, list[str | None]]:
        """Cells of each asked row (ascending numbers, each above the previous call's); a row the
        file does not yield (blank, or beyond a point the reader refuses) is left out."""
        found: dict[int, list[str | None]] = {}
        for number in numbers:
            row = self._advance_to(number)
            if row is not None and row.number == number:
                found[number] = row.cells
        return found

    def _advance_to(self, number: int) -> RawRow | None:
        while self._rows is not None and (self._next is None or self._next.number < number):
            try:
                self._next = next(self._rows)
            except StopIteration:
                self._rows = None
            except CrmioError:
                # The import failed at this point of the file (its rows after it were never applied),
                # so no issue row lies beyond it; the rows already read are still given.
                self._rows = None
        return self._next

    def close(self) -> None:
        self.reader.close()


def open_job_source(settings: Settings, job: Any, limits: ReaderLimits) -> JobSource | None:
    """The job's stored file as a JobSource; None when retention purged it (the error file then
    falls back to the mapped values kept in the logs)."""
    if not job["file_path"]:
        return None
    try:
        path = storage.of(settings).file(str(job["company_id"]), job["file_path"])
    except (NotFound, InputFileError):  # purged (or a path that is none of the company's): no source
        return None
    options = job["options"] or {}
    reader = open_table(
        path,
        job["file_format"],
        display_name=job["original_filename"] or path.name,
        sheet=options.get("sheet"),
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        limits=limits,
    )
    return JobSource(reader)
