"""Reads a workbook with python-calamine and states each cell in crmio's cell-value convention.

Written apart from services/ingest/readers/cellvalue.py on purpose: the corpus test compares two
independent statements of the convention (docs/formats.md), not one function with itself.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass

import python_calamine as pc

from services.ingest.readers import ReaderLimits, open_table
from services.ingest.readers.headers import normalize_headers

__all__ = ["Table", "calamine_table", "crmio_table", "oracle_text"]


def _hms(ms: int) -> str:
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" + (f".{ms:03d}" if ms else "")


def oracle_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, dt.timedelta):
        total = round(abs(value.total_seconds()) * 1000)
        s, ms = divmod(total, 1000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return ("-" if value < dt.timedelta(0) else "") + f"{h}:{m:02d}:{s:02d}" + (f".{ms:03d}" if ms else "")
    if isinstance(value, dt.datetime):
        ms = round((value - value.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() * 1000)
        day = value.date()
        if ms >= 86_400_000:
            day, ms = day + dt.timedelta(days=1), 0
        return day.isoformat() + (f"T{_hms(ms)}" if ms else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _hms(
            min(
                round((value.hour * 3600 + value.minute * 60 + value.second) * 1000 + value.microsecond / 1000),
                86_399_999,
            )
        )
    raise TypeError(f"python-calamine returned an unexpected {type(value).__name__}: {value!r}")


@dataclass
class Table:
    sheet: str
    headers: list[str]
    rows: list[tuple[int, list[str | None]]]  # (data row number, cells as wide as the header)


def calamine_table(path: str | os.PathLike[str], sheet: str, limits: ReaderLimits) -> Table | None:
    """The sheet as calamine reads it, header found and rows fitted as crmio's readers do; None if empty."""
    book = pc.CalamineWorkbook.from_path(os.fspath(path))
    grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    texts = [[oracle_text(v) for v in row] for row in grid]
    header_at = next((i for i, row in enumerate(texts) if any(row)), None)
    if header_at is None:
        return None
    headers = normalize_headers(texts[header_at], file=os.path.basename(path), limits=limits)
    width = len(headers)
    rows = []
    for i in range(header_at + 1, len(texts)):
        cells = texts[i]
        if not any(cells):
            continue
        cells = (cells + [None] * width)[:width]
        rows.append((i - header_at, cells))
    return Table(sheet, headers, rows)


def crmio_table(path: str | os.PathLike[str], sheet: str | None, limits: ReaderLimits) -> tuple[Table, list[str]]:
    """The sheet through crmio's readers, with the sheet names and any row problems."""
    with open_table(path, "excel", sheet=sheet, limits=limits) as reader:
        rows = [(r.number, list(r.cells)) for r in reader.rows()]
        info = reader.info
    return Table(info.sheet or "", info.headers, rows), info.sheet_names
