"""Legacy .xls reader through xlrd (cached formula values; the whole sheet is small by nature)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import xlrd
from xlrd.sheet import Cell

from services.errors import InputFileError
from services.readers.base import RawRow, ReaderBase, ReaderLimits, SourceInfo
from services.readers.headers import fit_row, normalize_headers, too_many_rows
from services.readers.xlsx_reader import pick_sheet
from services.readers.xlsx_sheet import format_number

__all__ = ["XlsReader"]


class XlsReader(ReaderBase):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        display_name: str,
        sheet: str | None = None,
        limits: ReaderLimits = ReaderLimits(),
    ) -> None:
        self._name, self._limits = display_name, limits
        try:
            self._book = xlrd.open_workbook(os.fspath(path), on_demand=True)
        except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct.error ...
            raise InputFileError(
                f"the legacy Excel (.xls) file cannot be read ({exc}); save it as .xlsx and try again",
                file=display_name,
            ) from None
        try:
            names = self._book.sheet_names()
            index = pick_sheet(names, sheet, display_name)
            self._sheet = self._book.sheet_by_index(index)
            self._header_index = self._find_header()
            header = [self._text(c) for c in self._sheet.row(self._header_index)]
            self.info = SourceInfo(
                format="excel", encoding=None, delimiter=None, sheet=names[index], sheet_names=names,
                headers=normalize_headers(header, file=display_name, limits=limits),
            )
        except BaseException:
            self.close()
            raise

    def _find_header(self) -> int:
        for i in range(self._sheet.nrows):
            if any(self._text(c) for c in self._sheet.row(i)):
                return i
        raise InputFileError("the file is empty", file=self._name)

    def _text(self, cell: Cell) -> str | None:
        kind, value = cell.ctype, cell.value
        if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            return None
        if kind == xlrd.XL_CELL_TEXT:
            return value or None
        if kind == xlrd.XL_CELL_NUMBER:
            return format_number(repr(value))
        if kind == xlrd.XL_CELL_BOOLEAN:
            return "true" if value else "false"
        if kind == xlrd.XL_CELL_DATE:
            moment = xlrd.xldate.xldate_as_datetime(value, self._book.datemode)
            if value == int(value):
                return moment.date().isoformat()
            return moment.time().isoformat() if value < 1 else moment.isoformat()
        return None  # XL_CELL_ERROR: reported by rows()

    def rows(self) -> Iterator[RawRow]:
        width, emitted = len(self.info.headers), 0
        for i in range(self._header_index + 1, self._sheet.nrows):
            row = self._sheet.row(i)
            cells = [self._text(c) or "" for c in row]
            errors = [
                f"column {self.info.headers[j] if j < width else j + 1!r} shows a spreadsheet error"
                for j, c in enumerate(row) if c.ctype == xlrd.XL_CELL_ERROR
            ]
            for j, text in enumerate(cells):
                if "\x00" in text:  # PostgreSQL cannot store U+0000, not even in the row's error log
                    cells[j] = ""
                    errors.append(f"column {self.info.headers[j] if j < width else j + 1!r} holds a NUL character")
            if not any(cells) and not errors:
                continue
            emitted += 1
            if emitted > self._limits.max_rows:
                raise too_many_rows(self._limits, self._name)
            fitted, problem = fit_row(cells, width)
            problems = [p for p in (problem, *errors) if p]
            yield RawRow(i - self._header_index, fitted, "; ".join(problems) or None)

    def close(self) -> None:
        self._book.release_resources()
