"""OpenDocument (.ods), Excel binary (.xlsb) and xlrd-unreadable .xls workbooks through python-calamine.

calamine parses a whole sheet into a dense grid in memory, so before it runs the sheet's
unpacked size is checked against ``ReaderLimits.max_held_sheet_bytes`` and its grid (first to
last value) against ``max_held_cells`` (held_extent.py streams the sheet to measure it); rows
past ``max_rows`` are refused while reading. Each refusal says how to read the file instead
(as .xlsx, which streams).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from typing import Literal

import python_calamine as pc

from services.core.errors import InputFileError
from services.ingest.readers.base import RawRow, ReaderBase, ReaderLimits, SourceInfo
from services.ingest.readers.cellvalue import python_value_text
from services.ingest.readers.headers import empty_sheet, fit_row, normalize_headers, too_many_rows
from services.ingest.readers.held_extent import MAX_ERROR_CELLS, Scan, ods_cells, xlsb_cells
from services.ingest.readers.refusals import SheetTooLargeToHold, encrypted
from services.ingest.readers.xlsx_reader import pick_sheet
from services.ingest.readers.zipguard import GuardedZip

__all__ = ["HeldReader", "HeldKind"]

HeldKind = Literal["ods", "xlsb", "xls"]
_LABEL = {
    "ods": "OpenDocument spreadsheet (.ods)",
    "xlsb": "Excel binary workbook (.xlsb)",
    "xls": "legacy Excel workbook (.xls)",
}


def _held_bytes(path: str | os.PathLike[str], kind: HeldKind, name: str, limits: ReaderLimits) -> int:
    """Unpacked bytes calamine will parse for one sheet (an upper bound: all sheets of an .ods)."""
    if kind == "xls":  # not packed: the file itself (a BIFF sheet is at most 65,536 rows anyway)
        return os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(f"the {_LABEL[kind]} is not a readable zip archive ({exc})", file=name) from None
    if kind == "ods":
        parts = [i for i in infos if i.filename == "content.xml"]
    else:
        # The largest worksheet plus the shared strings every sheet refers to.
        sheets = [i.file_size for i in infos if i.filename.lower().startswith("xl/worksheets/")]
        parts = [i for i in infos if i.filename.lower() == "xl/sharedstrings.bin"]
        return max(sheets, default=0) + sum(i.file_size for i in parts)
    return sum(i.file_size for i in parts)


def _damaged(kind: HeldKind, name: str, exc: BaseException) -> InputFileError:
    return InputFileError(
        f"the {_LABEL[kind]} is damaged and cannot be read ({exc}); open it in LibreOffice or Excel, "
        "save it again (or as .xlsx) and upload that file",
        file=name,
    )


class HeldReader(ReaderBase):
    def __init__(
        self,
        path: str | os.PathLike[str],
        kind: HeldKind,
        *,
        display_name: str,
        sheet: str | None = None,
        limits: ReaderLimits = ReaderLimits(),
    ) -> None:
        self._name, self._limits, self._kind = display_name, limits, kind
        size = _held_bytes(path, kind, display_name, limits)
        # An .xls is not measured cell by cell: its densest records (MULRK) take 6 bytes a cell,
        # so a file this small cannot span more than max_held_cells.
        if kind == "xls" and size > limits.max_held_cells * 6:
            raise SheetTooLargeToHold(
                f"the {_LABEL[kind]} is too large ({size // 2**20} MiB) to be read whole (max_held_cells)",
                file=display_name,
            )
        if size > limits.max_held_sheet_bytes:
            raise SheetTooLargeToHold(
                f"the {_LABEL[kind]} unpacks to {size // 2**20} MiB of sheet data, more than the "
                f"{limits.max_held_sheet_bytes // 2**20} MiB this format can be read with "
                "(max_held_sheet_bytes); save it as .xlsx (read as a stream, without this bound) or "
                "split it into smaller files",
                file=display_name,
            )
        try:
            scan = Scan()
            if kind == "ods":
                scan = self._measure(lambda z: ods_cells(z, display_name), path)
            book = pc.CalamineWorkbook.from_path(os.fspath(path))
            names = [m.name for m in book.sheets_metadata if m.typ == pc.SheetTypeEnum.WorkSheet]
            if not names:
                raise InputFileError("the workbook has no worksheet", file=display_name)
            chosen = names[pick_sheet(names, sheet, display_name)]
            if kind == "xlsb":
                scan = self._measure(lambda z: xlsb_cells(z, chosen, display_name), path)
            self._errors = scan.errors.get(chosen, {})
            try:
                data = book.get_sheet_by_name(chosen)
            finally:
                book.close()  # the sheet's grid is its own copy; the file is not needed any more
        except pc.PasswordError:
            raise encrypted(display_name, "ods" if kind == "ods" else "excel") from None
        except InputFileError:
            raise
        except pc.CalamineError as exc:
            if "cell limit" not in str(exc).lower():
                raise _damaged(kind, display_name, exc) from None
            raise SheetTooLargeToHold(
                f"the sheet declares more cells than can be read ({exc}), usually rows or columns "
                "repeated to the end of the sheet; delete the unused rows and columns and upload again",
                file=display_name,
            ) from None
        except Exception as exc:  # XmlError, ZipError, WorksheetNotFound, ...
            raise _damaged(kind, display_name, exc) from None
        # iter_rows starts at the first used column; the columns before it are put back so
        # every value stays under its header.
        self._lead = [None] * (data.start[1] if data.start else 0)
        self._rows = data.iter_rows()
        self._header_index, header = self._read_header(chosen, names)
        self.info = SourceInfo(
            format="excel",
            encoding=None,
            delimiter=None,
            sheet=chosen,
            sheet_names=names,
            headers=normalize_headers(header, file=display_name, limits=limits),
        )

    def _measure(self, scan: Callable[[GuardedZip], Scan], path: str | os.PathLike[str]) -> Scan:
        limits = self._limits
        z = GuardedZip(path, name=self._name, max_uncompressed_bytes=limits.max_uncompressed_bytes)
        try:
            found = scan(z)
        finally:
            z.close()
        cells = found.cells
        if found.too_many_errors:
            raise InputFileError(
                f"the {_LABEL[self._kind]} holds more than {MAX_ERROR_CELLS:,} cells showing spreadsheet errors; "
                "fix the formulas (or paste the sheet as values) and upload again",
                file=self._name,
            )
        if cells > limits.max_held_cells:
            raise SheetTooLargeToHold(
                f"the {_LABEL[self._kind]} spans {cells:,} cells from its first to its last value, more "
                f"than the {limits.max_held_cells:,} this format can be read with (max_held_cells); delete "
                "unused rows and columns, or save it as .xlsx (read as a stream, without this bound)",
                file=self._name,
            )
        return found

    def _read_header(self, sheet: str, names: list[str]) -> tuple[int, list[str | None]]:
        for i, values in enumerate(self._rows):
            cells = self._lead + [python_value_text(v) for v in values]
            errors = self._errors.get(i)
            for col, _ in errors or ():
                if col < len(cells):
                    cells[col] = None
            if any(cells):
                return i, cells
            if errors:
                raise InputFileError(
                    f"the first row holding anything (sheet row {i + 1}) shows spreadsheet errors "
                    f"({', '.join(dict.fromkeys(text for _, text in errors))}) instead of column names; the first "
                    "row must name the columns: fix the formulas or add a header row",
                    file=self._name,
                )
        raise empty_sheet(self._name, sheet, names)

    def rows(self) -> Iterator[RawRow]:
        width, emitted, first = len(self.info.headers), 0, self._header_index
        max_field = self._limits.max_field_bytes
        for i, values in enumerate(self._rows, first + 1):
            cells = [""] * len(self._lead) + [python_value_text(v) or "" for v in values]
            errors = self._errors.get(i)
            for col, _ in errors or ():
                if col < len(cells):
                    cells[col] = ""
            if not any(cells) and not errors:
                continue
            emitted += 1
            if emitted > self._limits.max_rows:
                raise too_many_rows(self._limits, self._name)
            problems = [
                f"column {self.info.headers[col] if col < width else col + 1!r} shows the spreadsheet error "
                f"{text}; fix the formula or value"
                for col, text in errors or ()
            ]
            for j, text in enumerate(cells):
                column = self.info.headers[j] if j < width else j + 1
                if "\x00" in text:  # PostgreSQL cannot store U+0000, not even in the row's error log
                    cells[j] = ""
                    problems.append(f"column {column!r} holds a NUL character")
                elif len(text) > max_field:
                    cells[j] = ""
                    problems.append(
                        f"column {column!r} holds a value longer than the field size limit (max_field_bytes)"
                    )
            fitted, problem = fit_row(cells, width)
            if problem:
                problems.insert(0, problem)
            yield RawRow(i - first, fitted, "; ".join(problems) or None)

    def close(self) -> None:
        self._rows = iter(())
