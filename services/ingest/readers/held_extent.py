"""The used extent (rows x columns) of an .ods or .xlsb sheet, found by streaming it before calamine loads it.

calamine holds a sheet as a dense grid: its memory follows the extent, not the file size. A few
KB of .ods can repeat one cell a billion times, and two .xlsb cells far apart span millions of
empty ones, so the extent is measured here, streaming and in bounded memory, and refused past
``ReaderLimits.max_held_cells``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.core.errors import InputFileError
from services.ingest.readers.xmlsafe import feed, make_parser
from services.ingest.readers.zipguard import GuardedZip

__all__ = ["Scan", "ods_cells", "xlsb_cells"]

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_T_TABLE, _ROW, _CELL, _COVERED = (f"{_TABLE} {n}" for n in ("table", "table-row", "table-cell", "covered-table-cell"))
_ROWS_REPEATED, _COLS_REPEATED = f"{_TABLE} number-rows-repeated", f"{_TABLE} number-columns-repeated"
_VALUE_TYPE = f"{_OFFICE} value-type"
_TABLE_NAME = f"{_TABLE} name"
# LibreOffice marks a formula cell whose result is an error; office:value keeps a stale number.
_CALC_VALUE_TYPE = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0 value-type"
_P = f"{_TEXT} p"


def _count(text: str | None) -> int:
    try:
        return max(1, int(text)) if text else 1
    except ValueError:
        return 1


# Error cells, by sheet, then sheet row (0-based), as (column, error text). calamine reads an
# .ods error cell as its cached number (0 for #DIV/0!) and an .xlsb one as an empty string, so the
# scan records them and the reader blanks them and names the error in the row's problem.
Errors = dict[int, list[tuple[int, str]]]
MAX_ERROR_CELLS = 100_000


@dataclass
class Scan:
    cells: int = 0
    errors: dict[str, Errors] = field(default_factory=dict)
    too_many_errors: bool = False
    # Error cells per sheet, kept as they are recorded: counting them on each call made a sheet of
    # repeated error rows quadratic (20,000 rows took 8 s).
    counts: dict[str, int] = field(default_factory=dict)

    def error(self, sheet: str, row: int, col: int, text: str) -> None:
        count = self.counts.get(sheet, 0)
        if count >= MAX_ERROR_CELLS:
            self.too_many_errors = True
            return
        self.counts[sheet] = count + 1
        self.errors.setdefault(sheet, {}).setdefault(row, []).append((col, text))


@dataclass
class _OdsState:
    """Where content.xml's scan stands: the table, row and cell it is in and the grid so far."""

    inside: bool = False
    row: int = 0
    col: int = 0
    repeat: int = 1
    rows: int = 0
    cols: int = 0
    cell_used: bool = False
    cell_repeat: int = 1
    row_cols: int = 0
    error: bool = False
    table: str = ""


def ods_cells(z: GuardedZip, file: str) -> Scan:
    """Cells of the dense grids calamine builds (for every table, rows x columns up to its last
    value: calamine parses every table when the workbook opens), and the error cells."""
    parser = make_parser(ordered=False)
    scan = Scan()
    state = _OdsState()
    error_text: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == _T_TABLE:
            state.inside, state.row, state.rows, state.cols = True, 0, 0, 0
            state.table = attrs.get(_TABLE_NAME, "")
        elif not state.inside:
            return
        elif name == _ROW:
            state.repeat = _count(attrs.get(_ROWS_REPEATED))
            state.col, state.row_cols = 0, 0
        elif name in (_CELL, _COVERED):
            state.cell_repeat = _count(attrs.get(_COLS_REPEATED))
            state.cell_used = _VALUE_TYPE in attrs
            state.error = attrs.get(_CALC_VALUE_TYPE) == "error"
            error_text.clear()
        elif name == _P:
            state.cell_used = True

    def data(text: str) -> None:
        if state.error and len(error_text) < 8:
            error_text.append(text[:32])

    def end(name: str) -> None:
        if name == _T_TABLE and state.inside:
            state.inside = False
            scan.cells += state.rows * state.cols
        elif not state.inside:
            return
        elif name in (_CELL, _COVERED):
            if state.error:
                text = "".join(error_text).strip() or "#VALUE!"
                for r in range(state.row, state.row + min(state.repeat, MAX_ERROR_CELLS)):
                    for c in range(state.col, state.col + min(state.cell_repeat, MAX_ERROR_CELLS)):
                        scan.error(state.table, r, c, text)
                        if scan.too_many_errors:
                            break
                    if scan.too_many_errors:
                        break
                state.error = False
            state.col += state.cell_repeat
            if state.cell_used:
                state.row_cols = state.col
        elif name == _ROW:
            state.row += state.repeat
            if state.row_cols:
                state.rows = state.row
                state.cols = max(state.cols, state.row_cols)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    with z.open("content.xml") as source:
        for _ in feed(parser, source, file=file, part="content.xml"):
            pass
    return scan


# BIFF12 record types: a row header, then the cell records that carry a value.
_ROW_HDR = 0
_VALUE_CELLS = frozenset(range(2, 12))  # RK, error, bool, real, inline string, shared string, formulas
_ERROR_CELLS = frozenset({3, 11})  # BrtCellError, BrtFmlaError: the error code follows column and style
_BIFF12_ERRORS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}


def _varint(data: bytes, pos: int, width: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(width):
        if pos >= len(data):
            raise EOFError
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, pos


def _xlsb_sheet_part(z: GuardedZip, sheet: str, file: str) -> str | None:
    """The worksheet part of the named sheet: BrtBundleSh records of workbook.bin, then its rels."""
    import posixpath

    from defusedxml.ElementTree import fromstring

    workbook = z.find("xl/workbook.bin")
    rels_part = z.find("xl/_rels/workbook.bin.rels")
    if workbook is None or rels_part is None:
        return None
    data, pos, rel_id = z.read(workbook), 0, None
    try:
        while pos < len(data) and rel_id is None:
            kind, pos = _varint(data, pos, 2)
            size, pos = _varint(data, pos, 4)
            if kind == 156:  # BrtBundleSh: state, tab id, relationship id, name (UTF-16 strings)
                body = data[pos : pos + size]
                n = int.from_bytes(body[8:12], "little")
                rid = body[12 : 12 + 2 * n].decode("utf-16-le", "replace")
                m = int.from_bytes(body[12 + 2 * n : 16 + 2 * n], "little")
                if body[16 + 2 * n : 16 + 2 * n + 2 * m].decode("utf-16-le", "replace") == sheet:
                    rel_id = rid
            pos += size
        rels = fromstring(z.read(rels_part))
    except Exception:  # a damaged record stream or rels part: calamine will report it
        return None
    for rel in rels:
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            return z.find(target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target))
    return None


def xlsb_cells(z: GuardedZip, sheet: str, file: str) -> Scan:
    """Cells of the dense grid calamine builds for the sheet (rows x columns up to its last value),
    and its error cells."""
    scan = Scan()
    part = _xlsb_sheet_part(z, sheet, file)
    if part is None:
        return scan
    data = z.read(part)  # the caller has bounded the part's size (max_held_sheet_bytes)
    pos, row, rows, cols = 0, 0, 0, 0
    try:
        while pos < len(data):
            kind, pos = _varint(data, pos, 2)
            size, pos = _varint(data, pos, 4)
            if kind == _ROW_HDR and size >= 4:
                row = int.from_bytes(data[pos : pos + 4], "little")
            elif kind in _VALUE_CELLS and size >= 4:
                col = int.from_bytes(data[pos : pos + 4], "little")
                rows, cols = max(rows, row + 1), max(cols, col + 1)
                if kind in _ERROR_CELLS and size >= 9:
                    scan.error(sheet, row, col, _BIFF12_ERRORS.get(data[pos + 8], "#VALUE!"))
            pos += size
    except EOFError:
        raise InputFileError(
            f"the workbook part {part} ends inside a record: the file is damaged; open it in Excel, save "
            "it again and upload that file",
            file=file,
        ) from None
    scan.cells = rows * cols
    return scan
