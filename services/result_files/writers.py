"""Writing result lines: CSV text chunks (streamed) and .xlsx through openpyxl's write-only mode
(rows go to a temporary sheet file as they come; nothing holds the whole sheet in memory).

Every cell is already formula-neutralized by the caller (services/result_files/cells.neutralize, as errors.csv), so
no user text becomes a formula in either format. In .xlsx an offending cell gets a fill (red for
an error, amber for a warning) and a comment with what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from services.result_files.cells import csv_lines

__all__ = ["Line", "csv_header", "csv_chunk", "XlsxResultWriter", "ERROR_FILL", "WARNING_FILL", "MAX_XLSX_ROWS"]

# (cells, marks): marks maps a cell index to (level, comment).
Line = tuple[Sequence[str], Mapping[int, tuple[str, str]]]

ERROR_FILL = "FFFFC7CE"  # Excel's "bad" red
WARNING_FILL = "FFFFEB9C"  # Excel's "neutral" amber
MAX_XLSX_ROWS = 1_048_575  # a sheet's rows minus the header: more lines continue on another sheet
_MAX_CELL = 32_767  # Excel refuses longer cell text
# XML 1.0 cannot hold these; openpyxl raises on them, so they become U+FFFD (as in exports).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def csv_header(columns: Sequence[str]) -> str:
    return "\ufeff" + csv_lines([columns])  # the BOM makes Excel read the file as UTF-8


def csv_chunk(lines: Iterable[Line]) -> str:
    return csv_lines([cells for cells, _ in lines])


def _xml_text(text: str) -> str:
    text = _ILLEGAL.sub("\ufffd", text)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


class XlsxResultWriter:
    """One workbook of result lines with a bold, frozen header row; ``close`` saves it to ``path``."""

    def __init__(self, path: Path, title: str, columns: Sequence[str]) -> None:
        self.path, self.title, self.columns = path, title, list(columns)
        self.wb = Workbook(write_only=True)
        self.fills = {
            "error": PatternFill("solid", fgColor=ERROR_FILL),
            "warning": PatternFill("solid", fgColor=WARNING_FILL),
        }
        self.bold = Font(bold=True)
        self.rows_in_sheet = 0
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        self.ws = self.wb.create_sheet(self.title if self.sheets == 1 else f"{self.title} ({self.sheets})")
        self.ws.freeze_panes = "A2"
        header = []
        for name in self.columns:
            cell = WriteOnlyCell(self.ws, value=_xml_text(name))
            cell.font = self.bold
            header.append(cell)
        self.ws.append(header)
        self.rows_in_sheet = 0

    def write(self, lines: Iterable[Line]) -> None:
        for cells, marks in lines:
            if self.rows_in_sheet >= MAX_XLSX_ROWS:
                self._new_sheet()
            out: list[object] = []
            for index, text in enumerate(cells):
                value = _xml_text(text) if text else None
                mark = marks.get(index)
                if mark is None:
                    out.append(value)
                    continue
                cell = WriteOnlyCell(self.ws, value=value)
                cell.fill = self.fills[mark[0]]
                cell.comment = Comment(_xml_text(mark[1]), "crmio", width=300, height=120)
                out.append(cell)
            self.ws.append(out)
            self.rows_in_sheet += 1

    def close(self) -> None:
        self.wb.save(self.path)
