"""The distinct values of a file's choice columns, with counts and a suggested picklist value for each."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from schemas.models import TargetModel
from services.cleansing.picklists import ACCEPT_CONFIDENCE, Picklist, value_key
from services.ingest.mapping import compile_mapping
from services.ingest.readers import FileFormat, ReaderLimits, open_table
from services.ingest.readers.source import Source, local_path, size_of

__all__ = ["scan_values"]


def scan_values(
    path: Source,
    file_format: FileFormat,
    display_name: str,
    *,
    model: TargetModel,
    mapping: Mapping[str, str],
    fields: Mapping[str, Picklist],
    value_mapping: Mapping[str, Mapping[str, str | None]] | None,
    memory: Mapping[str, Mapping[str, str | None]] | None,
    sheet: str | None,
    limits: ReaderLimits,
    max_rows: int,
    max_distinct: int,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> list[dict[str, Any]]:
    """Per mapped choice field: every distinct value of its column (up to ``max_distinct``, from at most
    ``max_rows`` rows) with its count, the company's values, the job's choice if it made one, and a suggestion.

    Blocking: run in a thread. ``complete`` says whether every row and every distinct value was seen.
    """
    columns = {column: target for column, target in mapping.items() if target in fields}
    if not columns:
        return []
    local = local_path(path)
    # A stored object never changes under its name: its size is key enough.
    mtime_ns = os.stat(local).st_mtime_ns if local is not None else 0
    scan = _count_columns(
        path,  # type: ignore[arg-type]  # a path, or a StoredFile (frozen, so hashable)
        mtime_ns,
        size_of(path),
        file_format,
        display_name,
        tuple(sorted(columns)),
        sheet,
        encoding,
        delimiter,
        limits,
        max_rows,
        max_distinct,
    )
    by_field = {t: c for c, t in columns.items()}
    out = []
    for name in sorted(by_field, key=lambda f: scan.order.index(by_field[f])):
        column = by_field[name]
        picklist = fields[name]
        chosen = {value_key(k): v for k, v in ((value_mapping or {}).get(name) or {}).items()}
        remembered = (memory or {}).get(picklist.name, {})
        items = []
        for text, count in scan.counts[column].most_common():
            suggestion = picklist.suggest(text, remembered)
            key = value_key(text)
            items.append(
                {
                    "value": text,
                    "count": count,
                    "known": picklist.find(text) is not None,
                    "chosen": key in chosen,
                    "target": chosen[key] if key in chosen else None,
                    "suggestion": {
                        "value": suggestion.value,
                        "confidence": suggestion.confidence,
                        "reason": suggestion.reason,
                        "accepted": suggestion.value is not None and suggestion.confidence >= ACCEPT_CONFIDENCE,
                    },
                }
            )
        out.append(
            {
                "field": name,
                "column": column,
                "picklist": picklist.name,
                "choices": [{"value": c.value, "label": c.label} for c in picklist.choices if c.active],
                "distinct": len(items),
                "rows_read": scan.rows,
                "complete": scan.read_all and column not in scan.overflow,
                "items": items,
            }
        )
    return out


@dataclass(frozen=True)
class _Scan:
    order: tuple[str, ...]  # the columns in file order
    counts: dict[str, Counter[str]]  # column -> distinct stripped values and their counts
    rows: int
    read_all: bool
    overflow: frozenset[str]  # columns with more distinct values than were kept


# The wizard previews again on every mapping change, and the file of an upload never changes: the
# counts of a file's columns are read once (keyed by the file's size and modification time too).
@lru_cache(maxsize=16)
def _count_columns(
    path: Source,
    mtime_ns: int,
    size: int,
    file_format: FileFormat,
    display_name: str,
    columns: tuple[str, ...],
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    limits: ReaderLimits,
    max_rows: int,
    max_distinct: int,
) -> _Scan:
    with open_table(
        path, file_format, display_name=display_name, sheet=sheet, encoding=encoding, delimiter=delimiter, limits=limits
    ) as reader:
        compiled = compile_mapping(reader.info.headers, {c: c for c in columns})
        counts: dict[str, Counter[str]] = {c: Counter() for c in compiled.fields}
        overflow: set[str] = set()
        rows, read_all = 0, True
        for row in reader.rows():
            if rows >= max_rows:
                read_all = False
                break
            rows += 1
            for column, cell in zip(compiled.fields, compiled.apply(row.cells)):
                text = cell.strip() if isinstance(cell, str) else ("" if cell is None else str(cell))
                if not text:
                    continue
                seen = counts[column]
                if text in seen or len(seen) < max_distinct:
                    seen[text] += 1
                else:
                    overflow.add(column)
    return _Scan(compiled.fields, counts, rows, read_all, frozenset(overflow))
