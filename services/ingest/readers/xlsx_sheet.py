"""Streaming parse of one worksheet part into rows of computed cell values (expat, no tree kept).

Measured here, expat handlers beat lxml iterparse once cells are read (lxml must build a proxy
per element) and, unlike a regex scan, parse real XML; python-calamine is faster but holds the
whole sheet in memory (see bench/bench_readers.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from services.core.errors import InputFileError
from services.ingest.readers.cellvalue import FormatKind, format_number, serial_text, unescape_ooxml
from services.ingest.readers.xlsx_strings import SharedStrings
from services.ingest.readers.xmlsafe import CHUNK_BYTES, feed, make_parser
from services.ingest.readers.zipguard import Member

__all__ = ["SheetRow", "CellIssue", "SheetStream", "column_letters", "format_number"]

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"

# (column index, what is wrong) - turned into a message once the header names are known.
CellIssue = tuple[int, str]
# (sheet row number, cells by column up to the cap, columns holding values past the cap, issues)
SheetRow = tuple[int, list[str | None], int, list[CellIssue] | None]

MAX_SHEET_ROW = 1_048_576  # Excel's last row


def column_letters(index: int) -> str:
    name, n = "", index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(65 + rest) + name
    return name


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) & 0x1F)  # 'A'/'a' -> 1
    return n - 1


class SheetStream:
    """Rows in sheet order with computed values; rows without values or issues are not reported.

    Rows come as lists ``max_columns`` long until ``narrow`` sets the header width, which keeps
    per-row work proportional to the real columns; a cell reference like XFD1 allocates nothing.
    """

    def __init__(
        self,
        source: Member,
        *,
        strings: SharedStrings | None,
        date_styles: dict[str, FormatKind],
        date1904: bool,
        max_columns: int,
        max_field_chars: int,
        file: str,
        part: str,
    ) -> None:
        self._source, self._file, self._part = source, file, part
        self._strings, self._date_styles, self._date1904 = strings, date_styles, date1904
        self._max_field = max_field_chars
        self._width = max_columns

    def narrow(self, width: int) -> None:
        self._width = width

    def _bad_row(self, ref: str, previous: int) -> InputFileError:
        try:
            number = int(ref)
        except ValueError:
            number = 0
        if not 0 < number <= MAX_SHEET_ROW:
            what = f"a row number {ref!r} that is not a whole number from 1 to {MAX_SHEET_ROW}"
        else:
            what = f"its rows out of order (row {number} follows row {previous})"
        return InputFileError(
            f"the sheet {self._part} has {what}, which Excel never writes; open the file in Excel, "
            "save it again and retry",
            file=self._file,
        )

    def _bad_cell(self, ref: str) -> InputFileError:
        return InputFileError(
            f"the sheet {self._part} has a cell reference {ref!r} that names no column, which Excel never "
            "writes; open the file in Excel, save it again and retry",
            file=self._file,
        )

    def __iter__(self) -> Iterator[SheetRow]:
        first = self._source.read(CHUNK_BYTES)
        ns = _STRICT if _STRICT.encode() in first[:4096] else _MAIN
        C, V, T, F, ROW, RPH = (f"{ns} {n}" for n in ("c", "v", "t", "f", "row", "rPh"))
        SPACE = "http://www.w3.org/XML/1998/namespace space"
        strings, date_styles, date1904 = self._strings, self._date_styles, self._date1904
        max_field = self._max_field
        parser = make_parser(ordered=False)
        out: list[SheetRow] = []
        letters_cache: dict[str, int] = {}
        digits = "0123456789"
        width = self._width
        cells: list[str | None] = [None] * width
        used = False
        beyond = 0
        issues: list[CellIssue] | None = None
        row_number = 0
        col = -1
        ctype: str | None = None
        style: str | None = None
        formula = False
        capture = False
        phonetic = 0
        text = ""
        run_start = 0
        preserve = False

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal col, ctype, style, formula, capture, row_number, used, beyond, issues, phonetic
            nonlocal text, run_start, preserve
            if name == C:
                ref = attrs.get("r")
                if ref:
                    letters = ref.rstrip(digits)
                    index = letters_cache.get(letters)
                    if index is None:
                        if not (letters.isascii() and letters.isalpha() and len(letters) <= 3):
                            raise self._bad_cell(ref)
                        index = letters_cache[letters] = _column_index(letters)
                    col = index
                else:
                    col += 1
                ctype = attrs.get("t")
                style = attrs.get("s")
                formula = False
                text = ""
            elif name == V:
                # An inline string's text is in <is><t>; a <v> beside it is a stale cache.
                capture = ctype != "inlineStr"
                # A text result may be empty (a formula returning ""); an empty number is no result.
                if ctype == "str":
                    formula = False
            elif name == T:
                capture = not phonetic
                run_start, preserve = len(text), attrs.get(SPACE) == "preserve"
            elif name == F:
                formula = True
            elif name == ROW:
                r = attrs.get("r")
                if r:
                    # A spoofed number would break the file's row numbering (errors, logs, the ledger).
                    number = int(r) if r.isascii() and r.isdigit() else 0
                    if not row_number < number <= MAX_SHEET_ROW:
                        raise self._bad_row(r, row_number)
                    row_number = number
                else:
                    row_number += 1
                col = -1
                used = False
                beyond = 0
                issues = None
            elif name == RPH:
                phonetic += 1

        def end(name: str) -> None:
            nonlocal capture, used, beyond, issues, phonetic, cells, width, text
            if name == C:
                # The cell's computed value (inlined: this runs for every cell).
                value: str | None = None
                if not text:
                    if formula:
                        issues = (issues or []) + [(col, "formula")]
                elif ctype is None or ctype == "n":
                    kind = date_styles.get(style) if style and date_styles else None
                    try:
                        value = format_number(text)
                        if kind:
                            value = serial_text(float(text), kind, date1904)
                    except (ValueError, OverflowError):
                        # A serial no calendar holds keeps the number itself; an unreadable number is a problem.
                        if value is None:
                            issues = (issues or []) + [(col, f"number:{text}")]
                elif ctype == "s":
                    try:
                        if strings is None:  # a workbook without a shared-strings part
                            raise IndexError(text)
                        value = strings[int(text)]
                    except (ValueError, IndexError):
                        issues = (issues or []) + [(col, "sst")]
                elif ctype == "b":
                    # The standard says 0/1; some writers put TRUE/FALSE.
                    flag = text.strip().lower()
                    if flag in ("1", "true"):
                        value = "true"
                    elif flag in ("0", "false"):
                        value = "false"
                    else:
                        issues = (issues or []) + [(col, f"bool:{text}")]
                elif ctype == "e":
                    issues = (issues or []) + [(col, f"error:{text}")]
                elif ctype == "d":
                    value = text  # ISO 8601 already
                else:
                    value = unescape_ooxml(text)  # str (a formula's text result), inlineStr
                if value:
                    if len(value) > max_field:
                        issues = (issues or []) + [(col, "long")]
                    elif col < width:
                        cells[col] = value
                        used = True
                    else:
                        beyond = max(beyond, col + 1)
            elif name == T:
                if capture and not preserve:
                    # Excel drops the XML whitespace around a run unless xml:space="preserve".
                    text = text[:run_start] + text[run_start:].strip(" \t\r\n")
                capture = False
            elif name == V:
                capture = False
            elif name == ROW:
                if used or issues or beyond:
                    out.append((row_number, cells, beyond, issues))
                    if self._width != width:
                        width = self._width
                    cells = [None] * width
            elif name == RPH:
                phonetic -= 1

        def data(chunk: str) -> None:
            nonlocal text
            if capture:
                text = text + chunk if text else chunk

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        for _ in feed(parser, self._source, file=self._file, part=self._part, first=first):
            if out:
                yield from out
                out.clear()
