"""Streaming export writers: the shared contract, cell rendering, formula neutralization, the format registry.

Every writer is used as ``open(path, fields, meta)``, then ``write_rows(rows)`` per chunk (tuples in
field order), then ``close() -> rows written``; ``abort()`` closes and removes a partial file.
Cells arrive as text (PostgreSQL's text form, see ``query.py``) or as typed values, which are
rendered as the import cleaners read them: ISO dates, plain decimals "1200.50", "true"/"false".
Work is column by column, so the per-cell Python cost is paid only where a column needs it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from schemas.models import Field

__all__ = [
    "ExportMeta",
    "ExportWriter",
    "EXTENSIONS",
    "render_value",
    "text_columns",
    "neutralize",
    "neutralize_column",
    "copy_blocks",
]

Row = Sequence[Any]
Column = Sequence[Any]

EXTENSIONS = {"csv": ".csv", "excel": ".xlsx", "json": ".json", "pdf": ".pdf"}


@dataclass(frozen=True)
class ExportMeta:
    """What a writer needs besides rows: the title and filter lines (PDF) and format options."""

    title: str = "Export"
    filters: tuple[str, ...] = ()
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    csv_bom: bool = False
    json_style: str = "array"
    # Rows about to be written, when known (the XLSX <dimension> element lets readers size the sheet).
    total: int | None = None


class ExportWriter(Protocol):
    def open(self, path: Path, fields: Sequence[Field], meta: ExportMeta) -> None: ...
    def write_rows(self, rows: Sequence[Row]) -> None: ...
    def close(self) -> int: ...
    def abort(self) -> None: ...


def render_value(value: Any) -> str | None:
    """One typed value as the text the import cleaners accept (None stays None)."""
    if value is None or value.__class__ is str:
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


_PLAIN = frozenset({str, type(None)})


def text_columns(rows: Sequence[Row], width: int) -> list[Column]:
    """Rows -> columns of str | None; only columns holding typed values are rendered cell by cell."""
    if not rows:
        return [() for _ in range(width)]
    cols: list[Column] = list(zip(*rows))
    for i, col in enumerate(cols):
        if not _PLAIN.issuperset(set(map(type, col))):
            cols[i] = tuple(map(render_value, col))
    return cols


# OWASP CSV injection: a cell starting with one of these may run as a formula in a spreadsheet.
_TRIGGERS = "=+-@\t\r"
_DANGER = re.compile("\x00[=+\\-@\t\r]")
# A plain number cannot run anything; keeping it lets "+14155550123" and "-12.50" round-trip.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def neutralize(value: str | None) -> str | None:
    """Prefix a single quote to text a spreadsheet would treat as a formula (OWASP's advice)."""
    if value and value[0] in _TRIGGERS and _NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def neutralize_column(col: Column) -> Column:
    """The column with formula-like cells neutralized; one C-level scan when no cell needs it."""
    # PostgreSQL text never holds NUL, so it is a safe separator for the scan.
    if _DANGER.search("\x00" + "\x00".join(filter(None, col))) is None:
        return col
    return tuple(map(neutralize, col))


async def copy_blocks(
    conn: Any,
    sql: str,
    args: Sequence[Any],
    on_block: Callable[[bytes], Awaitable[None]],
    *,
    format: str,
    header: bool = False,
    block_bytes: int = 256 * 1024,
) -> None:
    """Run ``COPY (sql) TO STDOUT`` and hand its output to ``on_block`` in blocks of about
    ``block_bytes`` (COPY sends one message per row: rewriting and writing per row cost more)."""
    parts: list[bytes] = []
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal parts, size
        parts.append(chunk)
        size += len(chunk)
        if size >= block_bytes:
            block, parts, size = b"".join(parts), [], 0
            await on_block(block)

    await conn.copy_from_query(sql, *args, output=sink, format=format, header=header)
    await on_block(b"".join(parts))
