"""JSON export: one flat object per record, keys = field names, as an array or NDJSON (one object a line).

Values: text as strings, integers as numbers, booleans as true/false, empty as null; decimals
as plain strings ("1200.50", exact: a JSON number would be a float to many readers) and dates
as ISO strings. The JSON import reads every one of these back to the same value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from schemas.models import Field
from services.exports.writers import ExportMeta, copy_blocks, text_columns

__all__ = ["JsonWriter", "copy_json"]


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: str | None) -> bool | None:
    return None if value is None else value == "true"


class JsonWriter:
    """Streams records as a JSON array (``json_style="array"``) or as NDJSON (``"ndjson"``).

    Exports use copy_json; this writer is the reference its values and types are tested against."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._names: tuple[str, ...] = ()
        self._types: tuple[str, ...] = ()
        self._ndjson = False
        self._boundary = self._separator = b""
        self._count = 0

    def open(self, path: Path, fields: Sequence[Field], meta: ExportMeta) -> None:
        if meta.json_style not in ("array", "ndjson"):
            raise ValueError(f"json_style must be array or ndjson, not {meta.json_style!r}")
        self._path = path
        self._names = tuple(f.name for f in fields)
        self._types = tuple(f.type for f in fields)
        self._ndjson = meta.json_style == "ndjson"
        first = orjson.dumps(self._names[0]) if self._names else b'""'
        self._boundary = b"},{" + first + b":"
        self._separator = (b"}\n{" if self._ndjson else b"},\n{") + first + b":"
        self._file = path.open("wb")
        if not self._ndjson:
            self._file.write(b"[")

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows or self._file is None:
            return
        cols = text_columns(rows, len(self._names))
        for i, kind in enumerate(self._types):
            if kind == "integer":
                cols[i] = tuple(map(_int, cols[i]))
            elif kind == "boolean":
                cols[i] = tuple(map(_bool, cols[i]))
        names = self._names
        # One orjson call per chunk (per-call overhead dominates per-row calls), then objects are
        # separated: '},{"<first key>":' can only be a boundary, as a quote inside a string is escaped
        # and a string's closing quote is never followed by a key.
        body = orjson.dumps([dict(zip(names, r)) for r in zip(*cols)])[1:-1]
        body = body.replace(self._boundary, self._separator)
        if self._ndjson:
            self._file.write(body + b"\n")
        else:
            self._file.write((b"\n" if self._count == 0 else b",\n") + body)
        self._count += len(rows)

    def close(self) -> int:
        if self._file is not None:
            if not self._ndjson:
                self._file.write(b"\n]\n" if self._count else b"]\n")
            self._file.close()
            self._file = None
        return self._count

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)


async def copy_json(
    conn: Any,
    sql: str,
    args: Sequence[Any],
    path: Path,
    *,
    ndjson: bool,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Write ``COPY (sql) TO STDOUT`` (one JSON object per row, query.json_copy_sql) into ``path``
    as an array or NDJSON; returns the rows written. PostgreSQL builds the objects in C.

    COPY's text format doubles every backslash and escapes raw line breaks and tabs; JSON text
    holds no raw line breaks or tabs, so undoing the doubling restores it exactly, and every LF
    ends a record. Only whole lines are rewritten, so a doubled backslash is never split."""
    rows = 0
    carry = b""

    with path.open("wb") as out:
        if not ndjson:
            out.write(b"[")

        async def on_block(data: bytes) -> None:
            nonlocal rows, carry
            data = carry + data
            cut = data.rfind(b"\n") + 1
            block, carry = data[:cut], data[cut:]
            if not block:
                return
            body = block.replace(b"\\\\", b"\\")
            if ndjson:
                out.write(body)
            else:
                out.write((b"\n" if rows == 0 else b",\n") + body[:-1].replace(b"\n", b",\n"))
            rows += block.count(b"\n")
            if progress is not None:
                await progress(rows)

        await copy_blocks(conn, sql, args, on_block, format="text")
        if not ndjson:
            out.write(b"\n]\n" if rows else b"]\n")
    return rows
