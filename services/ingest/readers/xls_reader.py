"""Legacy .xls reader through xlrd (cached formula values; a BIFF sheet is at most 65,536 rows)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import xlrd
from xlrd.sheet import Cell

from services.core.errors import InputFileError
from services.ingest.readers.base import RawRow, ReaderBase, ReaderLimits, SourceInfo
from services.ingest.readers.cellvalue import FormatKind, format_kind, format_number, serial_text
from services.ingest.readers.headers import empty_sheet, fit_row, normalize_headers, too_many_rows
from services.ingest.readers.refusals import encrypted
from services.ingest.readers.xlsx_book import builtin_format_kind
from services.ingest.readers.xlsx_reader import pick_sheet

__all__ = ["XlsReader", "DamagedXls"]

_ERROR_TEXT = xlrd.error_text_from_code


class DamagedXls(InputFileError):
    """xlrd cannot parse the workbook; open_table then tries python-calamine, which reads some of these."""


def _damaged(name: str, exc: BaseException) -> DamagedXls:
    kind = type(exc)
    label = (
        kind.__name__
        if kind.__module__ in ("builtins", "xlrd.biffh", "xlrd.compdoc")
        else f"{kind.__module__}.{kind.__name__}"
    )
    detail = f"{label}: {exc}" if str(exc) else label
    return DamagedXls(
        f"the .xls file is damaged and cannot be read ({detail}); open it in Excel or LibreOffice, "
        "save it as .xlsx and upload that file",
        file=name,
    )


def _open_book(path: str, name: str, formatting_info: bool) -> xlrd.Book:
    with open(os.devnull, "w") as quiet:  # xlrd prints warnings about odd records to a log file
        try:
            return xlrd.open_workbook(
                path,
                on_demand=True,
                formatting_info=formatting_info,
                ignore_workbook_corruption=True,
                logfile=quiet,
            )
        except xlrd.XLRDError as exc:
            if "encrypted" in str(exc).lower():
                raise encrypted(name) from None
            raise


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
        self._book: xlrd.Book | None = None
        try:
            # Formatting info gives each cell its XF, hence its number format (dates vs durations).
            # Some damaged files only open without it; their dates then follow xlrd's own test.
            try:
                self._book = _open_book(os.fspath(path), display_name, True)
            except InputFileError:
                raise
            except Exception:
                self._book = _open_book(os.fspath(path), display_name, False)
            self._opened: xlrd.Book = self._book
            names = self._opened.sheet_names()
            index = pick_sheet(names, sheet, display_name)
            # on_demand: the sheet's records are parsed here, so its damage is typed here too.
            self._sheet = self._opened.sheet_by_index(index)
            self._kinds: dict[int, FormatKind | None] = {}
            self._header_index = self._find_header(names[index], names)
            header = [self._text(c) for c in self._sheet.row(self._header_index)]
            self.info = SourceInfo(
                format="excel",
                encoding=None,
                delimiter=None,
                sheet=names[index],
                sheet_names=names,
                headers=normalize_headers(header, file=display_name, limits=limits),
            )
        except InputFileError:
            self.close()
            raise
        except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct.error, IndexError ...
            self.close()
            raise _damaged(display_name, exc) from None
        except BaseException:
            self.close()
            raise

    def _find_header(self, sheet: str, names: list[str]) -> int:
        for i in range(self._sheet.nrows):
            row = self._sheet.row(i)
            if any(self._text(c) for c in row):
                return i
            errors = [_ERROR_TEXT.get(c.value, "#N/A") for c in row if c.ctype == xlrd.XL_CELL_ERROR]
            if errors:
                raise InputFileError(
                    f"the first row holding anything (sheet row {i + 1}) shows spreadsheet errors "
                    f"({', '.join(dict.fromkeys(errors))}) instead of column names; the first row must name "
                    "the columns: fix the formulas or add a header row",
                    file=self._name,
                )
        raise empty_sheet(self._name, sheet, names)

    def _kind(self, cell: Cell) -> FormatKind | None:
        xf_index = cell.xf_index
        if xf_index is None:  # opened without formatting info
            return "date" if cell.ctype == xlrd.XL_CELL_DATE else None
        if xf_index in self._kinds:
            return self._kinds[xf_index]
        book = self._opened
        try:
            key = book.xf_list[xf_index].format_key
        except IndexError:
            key = 0
        fmt = book.format_map.get(key)
        kind = format_kind(fmt.format_str) if fmt is not None else builtin_format_kind(key)
        self._kinds[xf_index] = kind
        return kind

    def _text(self, cell: Cell) -> str | None:
        kind, value = cell.ctype, cell.value
        if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            return None
        if kind == xlrd.XL_CELL_TEXT:
            return value or None
        if kind in (xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
            shape = self._kind(cell)
            if shape is not None:
                try:
                    return serial_text(value, shape, self._opened.datemode == 1)
                except (ValueError, OverflowError):
                    pass  # not a date any calendar holds: the number itself is the value
            return format_number(repr(float(value)))
        if kind == xlrd.XL_CELL_BOOLEAN:
            return "true" if value else "false"
        return None  # XL_CELL_ERROR: reported by rows()

    def rows(self) -> Iterator[RawRow]:
        width, emitted = len(self.info.headers), 0
        for i in range(self._header_index + 1, self._sheet.nrows):
            row = self._sheet.row(i)
            cells = [self._text(c) or "" for c in row]
            errors = [
                f"column {self.info.headers[j] if j < width else j + 1!r} shows the spreadsheet error "
                f"{_ERROR_TEXT.get(c.value, '#N/A')}; fix the formula or value"
                for j, c in enumerate(row)
                if c.ctype == xlrd.XL_CELL_ERROR
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
        if self._book is not None:
            self._book.release_resources()
