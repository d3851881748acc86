"""Cell text that no spreadsheet runs as a formula, and CSV lines: shared by every file a user downloads
to open in a spreadsheet (errors.csv, result files)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

__all__ = ["neutralize", "csv_lines"]

# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMERIC_CHARS = frozenset("0123456789 .,()-+/")


def neutralize(text: str) -> str:
    """Prefix a quote to a cell a spreadsheet would run as a formula.

    A leading + or - followed only by digits and separators is a phone number or a negative
    number, not a formula, and is kept as is so the fixed file imports the same value.
    """
    if not text or not text.startswith(_FORMULA_START):
        return text
    if text[0] in "+-" and len(text) > 1 and set(text) <= _NUMERIC_CHARS:
        return text
    return "'" + text


def csv_lines(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, CRLF line ends as spreadsheets expect)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()
