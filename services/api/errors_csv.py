"""errors.csv of an import: the failed rows (mapped fields, raw values) with an error column, ready to fix and import again.

The richer error file (every original column, the issue columns, warnings, .xlsx) is
services/result_files; both share the formula neutralization of services/result_files/cells.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.result_files.cells import csv_lines, neutralize

__all__ = ["error_columns", "error_row", "csv_lines", "neutralize"]


def error_columns(field_mapping: Mapping[str, str | None] | None, model_fields: Sequence[str]) -> list[str]:
    """The job's mapped target fields in the model's field order, then "error".

    The model's order, because jsonb keeps no key order: the stored mapping cannot give the file's.
    """
    mapped = {f for f in (field_mapping or {}).values() if f}
    # A field the model no longer has (a custom field retired since) keeps its column, last.
    return [*(f for f in model_fields if f in mapped), *sorted(mapped - set(model_fields)), "error"]


def error_row(columns: Sequence[str], record_data: Mapping[str, Any] | None, message: str) -> list[str]:
    values = (record_data or {}).get("values") or {}
    cells = [values.get(name) for name in columns[:-1]]
    return [neutralize("" if v is None else str(v)) for v in cells] + [neutralize(message)]
