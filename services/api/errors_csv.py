"""errors.csv of an import: the failed rows (mapped fields, raw values) with an error column, ready to fix and import again."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["error_columns", "error_row", "csv_lines", "neutralize"]

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


def error_columns(field_mapping: Mapping[str, str | None] | None, model_fields: Sequence[str]) -> list[str]:
    """The job's mapped target fields in the model's field order, then "error".

    The model's order, because jsonb keeps no key order: the stored mapping cannot give the file's.
    """
    mapped = {f for f in (field_mapping or {}).values() if f}
    return [*(f for f in model_fields if f in mapped), "error"]


def error_row(columns: Sequence[str], record_data: Mapping[str, Any] | None, message: str) -> list[str]:
    values = (record_data or {}).get("values") or {}
    cells = [values.get(name) for name in columns[:-1]]
    return [neutralize("" if v is None else str(v)) for v in cells] + [neutralize(message)]


def csv_lines(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, CRLF line ends as spreadsheets expect)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()
