"""Streaming CSV reader: encoding and delimiter detection, strict quoting, row numbers in errors.

Records are parsed by the C ``csv`` module over a strict ``TextIOWrapper``; nothing but the
current record is held. A quote inside an unquoted value (``5" screen``) is kept as text, as
spreadsheets do; a quoted value followed by other text, or a quote never closed, is an error.
Blank records (no values at all) are skipped but still counted, so row numbers stay those of
the file. ``csv.field_size_limit`` is process-wide: every reader sets it from its limits.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from services.core.errors import InputFileError
from services.ingest.readers.base import RawRow, ReaderBase, ReaderLimits, SourceInfo
from services.ingest.readers.encoding import (
    SAMPLE_BYTES,
    check_encoding,
    detect_encoding,
    find_undecodable,
)
from services.ingest.readers.headers import fit_row, normalize_headers, too_many_rows
from services.ingest.readers.source import Source, open_binary

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["CsvReader", "sniff_delimiter", "DELIMITERS"]

DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(text: str, *, at_eof: bool) -> str:
    """The candidate delimiter giving the most consistent column count (> 1) over the sample."""
    if not at_eof:
        # The sample's last record may be cut short; judge complete records only.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[:cut] if cut > 0 else text
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            widths = [len(r) for r in reader if any(r)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        score = (count / len(widths), width)
        if width > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


class _NulFound(Exception):
    def __init__(self, offset: int | None) -> None:
        super().__init__(offset)
        self.offset = offset


def _nul_checked(lines: Iterable[str]) -> Iterator[str]:
    # Python's csv accepts NUL since 3.11; a NUL in a text file means it is binary or mis-encoded.
    for line in lines:
        if "\x00" in line:
            raise _NulFound(None)
        yield line


class _NulGuard(io.RawIOBase):
    """Raw file that refuses NUL bytes: in 8-bit encodings and UTF-8 a NUL byte is a NUL character.

    Checking bytes per read is far cheaper than checking each decoded line.
    """

    def __init__(self, f: BinaryIO) -> None:
        self._f, self._pos = f, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer)
        data = self._f.read(len(view))
        at = data.find(b"\x00")
        if at >= 0:
            raise _NulFound(self._pos + at)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a binary file (to re-parse the text before a bad byte)."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self._f, self._left = f, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer)
        data = self._f.read(min(len(view), self._left))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)


class CsvReader(ReaderBase):
    def __init__(
        self,
        path: Source,
        *,
        display_name: str,
        encoding: str | None = None,
        delimiter: str | None = None,
        limits: ReaderLimits = ReaderLimits(),
    ) -> None:
        self._path, self._name, self._limits = path, display_name, limits
        self._binary = open_binary(path)
        self._text: io.TextIOWrapper | None = None
        try:
            sample = self._binary.read(SAMPLE_BYTES)
            at_eof = len(sample) < SAMPLE_BYTES
            if encoding:
                self._encoding = check_encoding(encoding, sample, display_name)
            else:
                self._encoding = detect_encoding(sample, at_eof=at_eof, file=display_name)
            if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
                raise InputFileError(
                    f"unusable delimiter {delimiter!r}; choose one character such as , ; | or tab",
                    file=display_name,
                )
            self._delimiter = delimiter or sniff_delimiter(self._decode_sample(sample, at_eof), at_eof=at_eof)
            self._binary.seek(0)
            self._text = self._open_text()
            csv.field_size_limit(limits.max_field_bytes)
            lines: Iterable[str] = self._text
            if self._encoding.startswith(("utf-16", "utf-32")):
                lines = _nul_checked(self._text)
            self._records = csv.reader(lines, delimiter=self._delimiter, quotechar='"', doublequote=True, strict=True)
            header = self._read_header()
            self.info = SourceInfo(
                format="csv",
                encoding=self._encoding,
                delimiter=self._delimiter,
                sheet=None,
                sheet_names=[],
                headers=normalize_headers(header, file=display_name, limits=limits),
            )
        except BaseException:
            self.close()
            raise

    def _open_text(self) -> io.TextIOWrapper:
        raw: BinaryIO = self._binary
        if not self._encoding.startswith(("utf-16", "utf-32")):
            raw = io.BufferedReader(_NulGuard(self._binary), buffer_size=256 * 1024)
        return io.TextIOWrapper(raw, encoding=self._encoding, errors="strict", newline="")

    def _decode_sample(self, sample: bytes, at_eof: bool) -> str:
        decoder = codecs.getincrementaldecoder(self._encoding)("strict")
        try:
            return decoder.decode(sample, final=at_eof)
        except UnicodeDecodeError as exc:
            raise self._translate(exc, None) from None

    def _read_header(self) -> list[str]:
        try:
            for record in self._records:
                if any(record):
                    return record
        except (_NulFound, UnicodeDecodeError, csv.Error) as exc:
            raise self._translate(exc, None) from None
        raise InputFileError("the file is empty", file=self._name)

    def _translate(self, exc: Exception, row: int | None) -> InputFileError:
        """An InputFileError naming the row for a parse, decode or NUL failure."""
        if isinstance(exc, _NulFound):
            if exc.offset is not None:
                row = self._row_at(exc.offset)
            return InputFileError(
                "the file contains NUL bytes, so it is not a text (CSV) file; export it again as CSV "
                "(if it is UTF-16 text without a byte-order mark, choose the encoding utf-16-le)",
                file=self._name,
                row=row,
                offset=exc.offset,
            )
        if isinstance(exc, UnicodeDecodeError):
            offset = find_undecodable(self._path, self._encoding)
            return InputFileError(
                f"the file is not valid {self._encoding} text: bytes that cannot be decoded; "
                "save the file as UTF-8 or choose its encoding",
                file=self._name,
                row=self._row_at(offset) if offset is not None else None,
                offset=offset,
            )
        assert isinstance(exc, csv.Error)
        return self._csv_error(exc, row)

    def _csv_error(self, exc: csv.Error, row: int | None) -> InputFileError:
        text = str(exc)
        if "field larger than field limit" in text:
            message = (
                f"a value is longer than {self._limits.max_field_bytes} characters (max_field_bytes); "
                "usually a quote that is never closed: check the quotes from this row on"
            )
        elif "unexpected end of data" in text:
            message = (
                "a quoted value is never closed: check the quotes from this row on; quotes inside "
                'a value must be doubled ("")'
            )
        else:
            message = (
                f"badly quoted value ({text}): a value containing the delimiter, quotes or line "
                'breaks must be enclosed in double quotes, with quotes inside doubled ("")'
            )
        return InputFileError(message, file=self._name, row=row)

    def _row_at(self, offset: int) -> int | None:
        """Data row holding byte ``offset``: re-parse the valid text before it (error path only)."""
        with open_binary(self._path) as f:
            text = io.TextIOWrapper(io.BufferedReader(_Prefix(f, offset)), encoding=self._encoding, newline="")
            with text:
                last = ""

                def lines() -> Iterator[str]:
                    nonlocal last
                    for line in text:
                        last = line
                        yield line

                records, header, open_quote = 0, 0, False
                try:
                    for record in csv.reader(lines(), delimiter=self._delimiter, strict=True):
                        records += 1
                        if not header and any(record):
                            header = records
                except csv.Error:
                    open_quote = True
        # A prefix ending on a line break outside quotes ends a record: the bad byte starts the next.
        if last.endswith(("\n", "\r")) and not open_quote or records == 0:
            records += 1
        row = records - header if header else 0
        return row if row > 0 else None

    def rows(self) -> Iterator[RawRow]:
        width = len(self.info.headers)
        max_rows, emitted, number = self._limits.max_rows, 0, 0
        try:
            for record in self._records:
                number += 1
                if not any(record):
                    continue
                emitted += 1
                if emitted > max_rows:
                    raise too_many_rows(self._limits, self._name)
                if len(record) == width:
                    yield RawRow(number, [c or None for c in record])
                else:
                    cells, problem = fit_row(record, width)
                    yield RawRow(number, cells, problem)
        except (_NulFound, UnicodeDecodeError, csv.Error) as exc:
            raise self._translate(exc, number + 1) from None

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        self._binary.close()
