"""Header-row rules and row fitting shared by every reader."""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.core.errors import FileTooLarge, InputFileError
from services.ingest.readers.base import ReaderLimits

__all__ = ["normalize_headers", "fit_row", "extra_values_problem", "too_many_rows", "empty_sheet"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_headers(raw: Sequence[str | None], *, file: str, limits: ReaderLimits) -> list[str]:
    """Trim, drop trailing empties, name middle empties ``column_<n>``, suffix duplicates ``" (2)"``.

    Duplicates are found case-insensitively: mapping matches headers that way, so "Email" and
    "email" must not both claim the same field.
    """
    names = [(h or "").strip().lstrip("\ufeff").strip() for h in raw]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputFileError("the header row is empty: the first row must name the columns", file=file)
    if len(names) > limits.max_columns:
        raise InputFileError(
            f"the file has {len(names)} columns, more than the limit of {limits.max_columns}; remove unused columns",
            file=file,
        )
    for name in names:
        if "\x00" in name or not name.isascii() and _SURROGATE.search(name):
            raise InputFileError(
                f"the column name {name!r} holds a NUL character or invalid Unicode; rename the column",
                file=file,
            )
    taken: set[str] = set()
    result: list[str] = []
    for position, name in enumerate(names, 1):
        base = name or f"column_{position}"
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base} ({n})"
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def extra_values_problem(values: int, width: int) -> str:
    return f"row has {values} values but the header has {width} columns"


def fit_row(cells: list[str], width: int) -> tuple[list[str | None], str | None]:
    """Fit a row that is not exactly ``width`` long: pad short rows, report non-empty extras."""
    if len(cells) < width:
        return [c or None for c in cells] + [None] * (width - len(cells)), None
    last = len(cells)
    while last > width and not cells[last - 1]:
        last -= 1
    problem = extra_values_problem(last, width) if last > width else None
    return [c or None for c in cells[:width]], problem


def empty_sheet(file: str, sheet: str | None, sheet_names: Sequence[str]) -> InputFileError:
    """No row of the chosen sheet holds a value; with other sheets, say which to choose instead."""
    others = [n for n in sheet_names if n != sheet]
    if not others:
        return InputFileError(
            f"the file is empty: its only sheet, {sheet!r}, holds no values; put a header row and data "
            "rows in it and upload again",
            file=file,
        )
    return InputFileError(
        f"the sheet {sheet!r} holds no values; choose the sheet that holds the data (the workbook's "
        f"other sheets: {', '.join(repr(n) for n in others)})",
        file=file,
    )


def too_many_rows(limits: ReaderLimits, file: str) -> FileTooLarge:
    return FileTooLarge(
        f"the file has more than {limits.max_rows} data rows, the configured maximum (max_rows); "
        "split it into smaller files",
        file=file,
    )
