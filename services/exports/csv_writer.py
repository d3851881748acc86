"""CSV export: RFC 4180 (CRLF, minimal quoting), UTF-8 with an optional BOM, formula cells neutralized.

Text cells that a spreadsheet would evaluate (starting with = + - @ tab or CR) get a leading
single quote, OWASP's recommendation; plain numbers (a phone "+14155550123", "-12.50") are left
alone. The quote is part of the cell, so such text comes back from an import with it.
"""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

from schemas.models import Field
from services.exports.query import TEXT_TYPES
from services.exports.writers import ExportMeta, copy_blocks, neutralize_column, text_columns

__all__ = ["CsvWriter", "copy_csv", "crlf_records"]


class CsvWriter:
    """Streams rows to a CSV file; the header row holds the field names (the import maps them back).

    Exports use copy_csv; this writer is the reference its output is tested against byte for byte."""

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

    def close(self) -> int:
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._count

    def abort(self) -> None:
        self.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)


def crlf_records(data: bytes, quoted: bool) -> tuple[bytes, bool, int]:
    """PostgreSQL's CSV ends records with LF; RFC 4180 wants CRLF. Rewrite only the LFs outside
    quoted fields (a quoted value keeps its own line breaks). ``quoted``: the data starts inside a
    quoted field. Returns (rewritten, ends inside a quoted field, records ended in ``data``)."""
    if not quoted and b'"' not in data:
        return data.replace(b"\n", b"\r\n"), False, data.count(b"\n")
    parts = data.split(b'"')
    records = 0
    # A doubled quote inside a value toggles twice: the parity of quotes seen says where we are.
    for i in range(1 if quoted else 0, len(parts), 2):
        records += parts[i].count(b"\n")
        parts[i] = parts[i].replace(b"\n", b"\r\n")
    return b'"'.join(parts), quoted ^ (len(parts) % 2 == 0), records


async def copy_csv(
    conn: Any,
    sql: str,
    args: Sequence[Any],
    path: Path,
    *,
    bom: bool,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Write ``COPY (sql) TO STDOUT (FORMAT csv, HEADER)`` into ``path`` with CRLF record ends;
    returns the data rows written. PostgreSQL formats and quotes in C, several times faster than
    rows through Python; ``sql`` must select text cells already neutralized (query.copy_sql)."""
    quoted = False
    records = 0

    with path.open("wb") as out:
        if bom:
            out.write(b"\xef\xbb\xbf")

        async def on_block(block: bytes) -> None:
            nonlocal quoted, records
            data, quoted, ended = crlf_records(block, quoted)
            out.write(data)
            records += ended
            if progress is not None:
                await progress(max(records - 1, 0))

        await copy_blocks(conn, sql, args, on_block, format="csv", header=True)
    return records - 1  # the header line
