"""CSV export: RFC 4180 (CRLF, minimal quoting), UTF-8 with an optional BOM, formula cells neutralized.

Text cells that a spreadsheet would evaluate (starting with = + - @ tab or CR) get a leading
single quote, OWASP's recommendation; plain numbers (a phone "+14155550123", "-12.50") are left
alone. The quote is part of the cell, so such text comes back from an import with it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from schemas.models import Field
from services.exports.query import TEXT_TYPES
from services.exports.writers import ExportMeta, neutralize_column, text_columns

__all__ = ["CsvWriter"]


class CsvWriter:
    """Streams rows to a CSV file; the header row holds the field names (the import maps them back)."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self._path: Path | None = None
        self._text: list[bool] = []
        self._count = 0

    def open(self, path: Path, fields: Sequence[Field], meta: ExportMeta) -> None:
        self._path = path
        self._text = [f.type in TEXT_TYPES for f in fields]
        # newline="" hands line endings to the csv module, which writes CRLF as RFC 4180 asks.
        self._file = path.open("w", encoding="utf-8-sig" if meta.csv_bom else "utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self._csv.writerow([f.name for f in fields])

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        cols = text_columns(rows, len(self._text))
        for i, is_text in enumerate(self._text):
            if is_text:
                cols[i] = neutralize_column(cols[i])
        self._csv.writerows(zip(*cols))
        self._count += len(rows)

    def write_lines(self, rows: Sequence[Sequence[str]]) -> None:
        """Records already formatted by the database (query.csv_sql), one per row."""
        if not rows:
            return
        assert self._file is not None
        self._file.write("\r\n".join([r[0] for r in rows]))
        self._file.write("\r\n")
        self._count += len(rows)

    def close(self) -> int:
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._count

    def abort(self) -> None:
        self.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
