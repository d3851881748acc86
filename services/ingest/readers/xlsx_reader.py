"""Streaming .xlsx reader: computed values only, bounded memory, zip-bomb and XML-entity safe."""

from __future__ import annotations

from collections.abc import Iterator

from services.core.errors import InputFileError
from services.ingest.readers.base import RawRow, ReaderBase, ReaderLimits, SourceInfo
from services.ingest.readers.headers import empty_sheet, extra_values_problem, normalize_headers, too_many_rows
from services.ingest.readers.source import Source
from services.ingest.readers.xlsx_book import SheetRef, read_book
from services.ingest.readers.xlsx_sheet import CellIssue, SheetStream, column_letters
from services.ingest.readers.xlsx_strings import SharedStrings, load_shared_strings
from services.ingest.readers.zipguard import GuardedZip

__all__ = ["XlsxReader", "pick_sheet"]


def pick_sheet(names: list[str], wanted: str | None, file: str) -> int:
    """Index of the sheet to read: the first one, or the named one (exact, then case-insensitive)."""
    if wanted is None:
        return 0
    for i, name in enumerate(names):
        if name == wanted:
            return i
    folded = wanted.casefold()
    for i, name in enumerate(names):
        if name.casefold() == folded:
            return i
    raise InputFileError(f"the workbook has no sheet named {wanted!r}; its sheets are: {', '.join(names)}", file=file)


def _issue_text(kind: str, column: str) -> str:
    if kind == "formula":
        return (
            f"column {column!r} holds a formula without a computed value; open the file in "
            "Excel and save it so the values are calculated"
        )
    if kind == "long":
        return f"column {column!r} holds a value longer than the field size limit (max_field_bytes)"
    if kind == "sst":
        return f"column {column!r} refers to a shared string the workbook does not contain"
    if kind.startswith("bool:"):
        return f"column {column!r} holds an unreadable boolean {kind[5:]!r}"
    if kind.startswith("error:"):
        return f"column {column!r} shows the spreadsheet error {kind[6:]}; fix the formula or value"
    return f"column {column!r} holds an unreadable number {kind.partition(':')[2]!r}"


class XlsxReader(ReaderBase):
    def __init__(
        self,
        path: Source,
        *,
        display_name: str,
        sheet: str | None = None,
        limits: ReaderLimits = ReaderLimits(),
    ) -> None:
        self._name, self._limits = display_name, limits
        self._zip = GuardedZip(path, name=display_name, max_uncompressed_bytes=limits.max_uncompressed_bytes)
        self._strings: SharedStrings | None = None
        self._member = None
        try:
            book = read_book(self._zip, display_name)
            names = [s.name for s in book.sheets]
            chosen: SheetRef = book.sheets[pick_sheet(names, sheet, display_name)]
            if book.shared_strings_part:
                with self._zip.open(book.shared_strings_part) as f:
                    self._strings = load_shared_strings(f, file=display_name, part=book.shared_strings_part)
            self._member = self._zip.open(chosen.part)
            self._stream = SheetStream(
                self._member,
                strings=self._strings,
                date_styles=book.date_styles,
                date1904=book.date1904,
                max_columns=limits.max_columns,
                max_field_chars=limits.max_field_bytes,
                file=display_name,
                part=chosen.part,
            )
            self._sheet_rows = iter(self._stream)
            self._header_row, headers = self._read_header(chosen.name, names)
            self._stream.narrow(len(headers))
            self.info = SourceInfo(
                format="excel",
                encoding=None,
                delimiter=None,
                sheet=chosen.name,
                sheet_names=names,
                headers=headers,
            )
        except BaseException:
            self.close()
            raise

    def _read_header(self, sheet: str, names: list[str]) -> tuple[int, list[str]]:
        for number, cells, beyond, issues in self._sheet_rows:
            if beyond:
                raise InputFileError(
                    f"the header row has values in {beyond} columns, more than the limit of "
                    f"{self._limits.max_columns}; remove unused columns",
                    file=self._name,
                )
            if any(cells):
                return number, normalize_headers(cells, file=self._name, limits=self._limits)
            errors = [kind[6:] for _, kind in issues or () if kind.startswith("error:")]
            if errors:
                raise InputFileError(
                    f"the first row holding anything (sheet row {number}) shows spreadsheet errors "
                    f"({', '.join(dict.fromkeys(errors))}) instead of column names; the first row must name "
                    "the columns: fix the formulas or add a header row",
                    file=self._name,
                )
        raise empty_sheet(self._name, sheet, names)

    def rows(self) -> Iterator[RawRow]:
        headers = self.info.headers
        width = len(headers)
        max_rows, emitted, first = self._limits.max_rows, 0, self._header_row
        for number, cells, beyond, issues in self._sheet_rows:
            if len(cells) != width:
                cells, beyond = self._narrowed(cells, beyond, width)
                if not any(cells) and not beyond and not issues:
                    continue
            emitted += 1
            if emitted > max_rows:
                raise too_many_rows(self._limits, self._name)
            if beyond or issues:
                yield RawRow(number - first, cells, self._problem(beyond, issues, headers))
            else:
                yield RawRow(number - first, cells)

    @staticmethod
    def _narrowed(cells: list[str | None], beyond: int, width: int) -> tuple[list[str | None], int]:
        # Rows parsed before the header width was known are still cap-wide.
        for i in range(len(cells) - 1, width - 1, -1):
            if cells[i]:
                beyond = max(beyond, i + 1)
                break
        return cells[:width], beyond

    @staticmethod
    def _problem(beyond: int, issues: list[CellIssue] | None, headers: list[str]) -> str:
        parts = [extra_values_problem(beyond, len(headers))] if beyond else []
        for col, kind in issues or ():
            parts.append(_issue_text(kind, headers[col] if col < len(headers) else column_letters(col)))
        return "; ".join(parts)

    def close(self) -> None:
        if self._member is not None:
            self._member.close()
        if self._strings is not None:
            self._strings.close()
        self._zip.close()
