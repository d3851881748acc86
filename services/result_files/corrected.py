"""A corrected error file, back for a retry: the original columns of its error rows, each at its
original row number.

The error file starts with the issue columns (crmio_row, crmio_level, ...) and then every column of
the uploaded file. For a retry they become a CSV in which each corrected row stands on the line of
its original row number, the lines between left blank: the CSV reader skips blank records but
counts them, so the retry's rows keep the numbers of the first import in its ledger, logs and result
files (about one byte per skipped row: 1 MB for a row at number 1,000,000). The issue columns are
dropped; the cells this module's writers neutralized get their original text back.

Rows marked 'warning' landed already (only an optional value was left out) and are not imported
again: with duplicate handling 'create_new' that would make a second record.
"""

from __future__ import annotations

import csv
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from services.core.errors import InputFileError
from services.ingest.readers import ReaderLimits, Source, open_table
from services.result_files.cells import neutralize
from services.result_files.issues import ISSUE_COLUMNS

__all__ = ["CorrectedRows", "is_error_file", "restore_cell", "write_positioned"]

_ROW, _LEVEL = ISSUE_COLUMNS[0], ISSUE_COLUMNS[1]


@dataclass(frozen=True)
class CorrectedRows:
    headers: list[str]  # the original columns
    numbers: list[int]  # the rows written, ascending
    warnings_left: int  # rows marked 'warning', not imported again


def is_error_file(headers: Collection[str]) -> bool:
    return _ROW in headers


def restore_cell(text: str | None) -> str:
    """The cell's text before ``neutralize`` (which prefixed a quote to a would-be formula)."""
    if not text:
        return ""
    if text.startswith("'") and neutralize(text[1:]) == text:
        return text[1:]
    return text


def write_positioned(
    path: Source, file_format: str, display_name: str, target: Path, *, failed: Collection[int], limits: ReaderLimits
) -> CorrectedRows:
    """Read the corrected error file ``path`` and write its error rows to ``target`` (UTF-8 CSV) at
    their original row numbers. Refuses (InputFileError) a row without a valid crmio_row, a number
    given twice, or a number that is not a failed row of the job (``failed``)."""
    rows: dict[int, list[str]] = {}
    warnings_left = 0
    with open_table(path, file_format, display_name=display_name, limits=limits) as reader:  # type: ignore[arg-type]
        headers = reader.info.headers
        if _ROW not in headers:
            raise InputFileError(f"the file has no {_ROW} column: it is not a crmio error file", file=display_name)
        at_row, at_level = headers.index(_ROW), headers.index(_LEVEL) if _LEVEL in headers else None
        keep = [i for i, h in enumerate(headers) if h not in ISSUE_COLUMNS]
        for raw in reader.rows():
            cells = raw.cells
            if at_level is not None and (cells[at_level] or "").strip().lower() == "warning":
                warnings_left += 1
                continue
            text = restore_cell(cells[at_row]).strip()
            try:
                number = int(float(text))  # a spreadsheet may have turned 7 into 7.0
            except ValueError:
                raise InputFileError(
                    f"{_ROW} is {text!r}: each row needs the row number it had in the "
                    "import (keep the column as it was downloaded)",
                    file=display_name,
                    row=raw.number,
                ) from None
            if number in rows:
                raise InputFileError(
                    f"row {number} of the import appears twice; keep one line per row",
                    file=display_name,
                    row=raw.number,
                )
            if number not in failed:
                raise InputFileError(
                    f"row {number} did not fail in the import, so a retry cannot take it; "
                    "retry only the error rows of its error file",
                    file=display_name,
                    row=raw.number,
                )
            rows[number] = [restore_cell(cells[i]) for i in keep]
    numbers = sorted(rows)
    with target.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\r\n")
        out.writerow([headers[i] for i in keep])
        line = 0
        for number in numbers:
            f.write("\r\n" * (number - line - 1))  # blank records: skipped by the reader, still counted
            out.writerow(rows[number])
            line = number
    return CorrectedRows([headers[i] for i in keep], numbers, warnings_left)
