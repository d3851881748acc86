"""Streaming JSON reader: a top-level array of flat objects (ijson) or NDJSON, one object a line.

Decisions:
- Headers are the keys in first-seen order over the first 1000 records (those are buffered).
  A key first seen later is not a column: a non-empty value under it makes the row's problem
  "unknown field ..." so the user learns the value was not imported.
- Values: strings as is ("" is empty), numbers as their literal text (no float rounding),
  true/false as "true"/"false", null as empty. A nested object or list, a duplicate key, or a
  value past max_field_bytes characters is a row problem naming the key.
- NaN/Infinity are not JSON. In NDJSON the line is a row problem; inside an array the stream
  cannot resume after them, so they are an InputFileError naming the record.
- Record numbers are array positions, or line numbers for NDJSON (blank lines skipped, counted).
- Hostile input: an NDJSON line nested too deeply for the decoder is a row problem; in an array, a
  run of more digits than ``int()`` converts (sys.get_int_max_str_digits) is refused before ijson's C
  backend sees it, as that backend crashes the process on such a number.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from itertools import chain
from typing import TYPE_CHECKING, Any, BinaryIO

import ijson

from services.core.errors import InputFileError
from services.ingest.readers.base import RawRow, ReaderBase, ReaderLimits, SourceInfo
from services.ingest.readers.headers import normalize_headers, too_many_rows
from services.ingest.readers.source import Source, open_binary

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["JsonReader", "HEADER_SAMPLE"]

HEADER_SAMPLE = 1000
_WHITESPACE = b" \t\r\n"

# A parsed record: (number, [(key, value-or-None)], problems)
_Record = tuple[int, list[tuple[str, str | None]], list[str]]


class _Pairs(list[tuple[str, Any]]):
    """An object's key/value pairs in order (a list, so duplicate keys survive)."""


class _NotANumber:
    pass


_NAN = _NotANumber()
_SURROGATE = re.compile("[\ud800-\udfff]")


class _DigitGuard(io.RawIOBase):
    """The file as ijson reads it, refusing a run of digits longer than ``int()`` may convert."""

    def __init__(self, f: BinaryIO, limit: int, name: str) -> None:
        self._f, self._limit, self._name = f, limit, name
        self._pos = f.tell()
        self._run = 0  # digits that ended the data read so far
        # The lookbehind starts a match only at the first digit of a run: linear time on any input.
        self._long = re.compile(rb"(?<![0-9])[0-9]{%d}" % (limit + 1))
        self._lead = re.compile(rb"[0-9]*")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer)
        data = self._f.read(len(view))
        if data:
            self._check(data)
        view[: len(data)] = data
        return len(data)

    def _check(self, data: bytes) -> None:
        digits = self._lead.match(data)  # [0-9]* matches every input
        lead = digits.end() if digits is not None else 0
        at = self._pos - self._run if self._run + lead > self._limit else None
        if at is None:
            hit = self._long.search(data)
            at = None if hit is None else self._pos + hit.start()
        if at is not None:
            raise InputFileError(
                f"the file holds a number (or run of digits) longer than {self._limit} digits, which cannot "
                f"be read; shorten it or quote it as a string of at most {self._limit} digits",
                file=self._name,
                offset=at,
            )
        self._run = self._run + len(data) if lead == len(data) else len(data) - len(data.rstrip(b"0123456789"))
        self._pos += len(data)


def _scalar(key: str, value: Any, problems: list[str], limit: int) -> str | None:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        if len(value) > limit:
            problems.append(f"field {key!r} is longer than the field size limit (max_field_bytes)")
            return None
        if "\x00" in value:
            # PostgreSQL text and jsonb cannot hold U+0000: not even the row's error log could keep it.
            problems.append(f"field {key!r} holds a NUL character (\\u0000), which cannot be stored")
            return None
        if not value.isascii() and _SURROGATE.search(value):
            # "\ud800" escapes decode to lone surrogates, which UTF-8 (Kafka, PostgreSQL) cannot hold.
            problems.append(f"field {key!r} holds an invalid Unicode escape (a lone surrogate such as \\ud800)")
            return None
        return value or None
    if isinstance(value, (int, Decimal)):
        return str(value)
    if value is _NAN:
        problems.append(f"field {key!r} holds NaN or Infinity, which JSON does not allow")
        return None
    problems.append(f"field {key!r} holds a nested object or list; only flat values can be imported")
    return None


def _flatten(number: int, pairs: list[tuple[str, Any]], limit: int) -> _Record:
    problems: list[str] = []
    seen: set[str] = set()
    out: list[tuple[str, str | None]] = []
    for key, value in pairs:
        if key in seen:
            problems.append(f"field {key!r} appears more than once in the record")
            continue
        seen.add(key)
        out.append((key, _scalar(key, value, problems, limit)))
    return number, out, problems


class JsonReader(ReaderBase):
    def __init__(self, path: Source, *, display_name: str, limits: ReaderLimits = ReaderLimits()) -> None:
        self._name, self._limits = display_name, limits
        self._f: BinaryIO = open_binary(path)
        try:
            first = self._first_byte()
            if first == b"[":
                records = self._array_records()
            elif first == b"{":
                records = self._ndjson_records()
            else:
                raise InputFileError(
                    "the file is not a JSON array of objects nor NDJSON (one object a line)"
                    if first
                    else "the file is empty",
                    file=display_name,
                )
            self._buffer = self._take(records, HEADER_SAMPLE)
            self._records = records
            if not self._buffer:
                raise InputFileError("the file is empty: it holds no records", file=display_name)
            keys: dict[str, None] = {}
            for _, pairs, _ in self._buffer:
                for key, _value in pairs:
                    keys.setdefault(key, None)
            if not keys:
                raise InputFileError("the records have no fields", file=display_name)
            headers = normalize_headers(list(keys), file=display_name, limits=limits)
            self._columns = {key: i for i, key in enumerate(keys) if i < len(headers)}
            self.info = SourceInfo(
                format="json",
                encoding="utf-8",
                delimiter=None,
                sheet=None,
                sheet_names=[],
                headers=headers,
            )
        except BaseException:
            self._f.close()
            raise

    def _first_byte(self) -> bytes:
        head = self._f.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputFileError("the JSON file is UTF-16; save it as UTF-8", file=self._name)
        skip = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        self._f.seek(skip)
        while True:
            ch = self._f.read(1)
            if not ch or ch not in _WHITESPACE:
                self._f.seek(self._f.tell() - len(ch))
                return ch

    def _take(self, records: Iterator[_Record], n: int) -> list[_Record]:
        out: list[_Record] = []
        for record in records:
            out.append(record)
            if len(out) >= n:
                break
        return out

    def _array_records(self) -> Iterator[_Record]:
        limit, number, inside = self._limits.max_field_bytes, 0, False
        digits = sys.get_int_max_str_digits()
        source = _DigitGuard(self._f, digits, self._name) if digits else self._f
        events = ijson.basic_parse(source, use_float=False)
        try:
            next(events)  # start_array
            for event, value in events:
                if event == "end_array":
                    break
                number += 1
                if event != "start_map":
                    raise InputFileError(
                        f"record {number} is not an object: the file must be an array of objects",
                        file=self._name,
                        row=number,
                    )
                pairs: list[tuple[str, Any]] = []
                key, inside = "", True
                for event, value in events:
                    if event == "map_key":
                        key = value
                    elif event == "end_map":
                        break
                    elif event in ("start_map", "start_array"):
                        self._skip_nested(events)
                        pairs.append((key, [] if event == "start_array" else {}))
                    else:
                        pairs.append((key, value))
                inside = False
                yield _flatten(number, pairs, limit)
            for _ in events:  # ijson checks that nothing follows the array
                pass
        except ijson.JSONError as exc:
            raise self._invalid(exc, number if inside else number + 1) from None

    @staticmethod
    def _skip_nested(events: Iterator[tuple[str, Any]]) -> None:
        depth = 1
        for event, _ in events:
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
                if depth == 0:
                    return

    def _invalid(self, exc: Exception, row: int) -> InputFileError:
        text = str(exc)
        hint = ""
        if any(word in text for word in ("NaN", "Infinity", "nan", "inf")):
            hint = "; NaN and Infinity are not valid JSON values (use null)"
        return InputFileError(
            f"the file is not valid JSON at record {row}: {text.splitlines()[0] if text else exc!r}{hint}",
            file=self._name,
            row=row,
        )

    def _ndjson_records(self) -> Iterator[_Record]:
        limit = self._limits.max_field_bytes
        line_cap = self._limits.max_field_bytes * self._limits.max_columns
        decoder = json.JSONDecoder(
            object_pairs_hook=_Pairs, parse_float=str, parse_int=str, parse_constant=lambda _: _NAN
        )
        number = 0
        while True:
            line = self._f.readline(line_cap + 1)
            if not line:
                return
            number += 1
            if len(line) > line_cap and not line.endswith(b"\n"):
                raise InputFileError(
                    f"line {number} is longer than {line_cap} bytes; is this really NDJSON?",
                    file=self._name,
                    row=number,
                )
            if not line.strip():
                continue
            try:
                value = decoder.decode(line.decode("utf-8"))
            except UnicodeDecodeError:
                raise InputFileError(
                    "the file is not valid UTF-8; save it as UTF-8", file=self._name, row=number
                ) from None
            except json.JSONDecodeError as exc:
                yield number, [], [f"the line is not valid JSON ({exc.msg} at column {exc.colno})"]
                continue
            except RecursionError:
                yield number, [], ["the line is nested too deeply to read; only flat objects can be imported"]
                continue
            if not isinstance(value, _Pairs):
                yield number, [], ["the line is not a JSON object"]
                continue
            yield _flatten(number, value, limit)

    def rows(self) -> Iterator[RawRow]:
        columns, width = self._columns, len(self.info.headers)
        max_rows, emitted = self._limits.max_rows, 0
        buffered, self._buffer = self._buffer, []
        for number, pairs, problems in chain(buffered, self._records):
            cells: list[str | None] = [None] * width
            for key, value in pairs:
                index = columns.get(key)
                if index is not None:
                    cells[index] = value
                elif value is not None:
                    problems.append(
                        f"unknown field {key!r}: it is not among the fields of the first "
                        f"{HEADER_SAMPLE} records, so its value is not imported"
                    )
            if not problems and not any(cells):
                continue
            emitted += 1
            if emitted > max_rows:
                raise too_many_rows(self._limits, self._name)
            yield RawRow(number, cells, "; ".join(problems) if problems else None)

    def close(self) -> None:
        self._f.close()
