"""The compiled binary COPY writer's own contract, without a database (tests/integration/test_copy_payload.py
stores its bytes and compares them with asyncpg's)."""

from __future__ import annotations

import struct
import uuid
from decimal import Decimal
from typing import Any

import pytest
from crmio_native import CopyEncoder

from services.core.db import MappedRows, _jsonb_encode

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
TRAILER = b"\xff\xff"


def field(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def test_rows_are_written_in_binary_copy_format() -> None:
    enc = CopyEncoder(["int4", "text", "uuid", "bool", "jsonb"], _jsonb_encode)
    u = uuid.UUID(int=1)
    payload = enc.encode([(7, "é", u, True, {"a": 1}), [None, None, None, None, None]])
    null = struct.pack(">i", -1)
    assert payload == (
        HEADER
        + struct.pack(">h", 5)
        + field(struct.pack(">i", 7))
        + field("é".encode())
        + field(u.bytes)
        + field(b"\x01")
        + field(b'\x01{"a":1}')
        + struct.pack(">h", 5)
        + null * 5
        + TRAILER
    )


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("uuid", "00000000-0000-0000-0000-000000000001"),
        ("numeric", 1.5),
        ("numeric", 2),
        ("numeric", Decimal("NaN")),
        ("numeric", Decimal("-Infinity")),
        ("text", 42),
        ("text", "lone \ud800 surrogate"),
        ("int4", 2**31),
        ("int8", 2**63),
        ("int8", 1.0),
        ("bool", 1),
        ("date", "2024-01-01"),
        ("float8", 1),
    ],
)
def test_values_to_convert_or_judge_are_left_to_asyncpg(kind: str, value: Any) -> None:
    assert CopyEncoder([kind], _jsonb_encode).encode([(value,)]) is None


def test_a_type_without_a_writer_is_named() -> None:
    with pytest.raises(ValueError, match="timestamptz"):
        CopyEncoder(["text", "timestamptz"], _jsonb_encode)


def test_a_row_of_the_wrong_width_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        CopyEncoder(["text", "text", "text"], _jsonb_encode).encode([("a", "b")])


def test_mapped_rows_are_written_as_their_tuples() -> None:
    enc = CopyEncoder(["uuid", "uuid", "text", "int8", "jsonb", "text"], _jsonb_encode)
    company = uuid.UUID(int=7)
    values: list[dict[str, Any]] = [
        {"name": "Anna", "size": 3, "meta": {"a": [1, 2]}},
        {"size": None},  # a name a record does not hold is NULL
        {"name": "李", "meta": None, "unused": object()},
    ]
    rows = MappedRows([uuid.UUID(int=i) for i in range(3)], (company,), values, ["name", "size", "meta"], [("x",)] * 3)
    payload = enc.encode_mapped(rows.ids, rows.constant, rows.values, rows.names, rows.extra)
    assert payload is not None and payload == enc.encode(rows.tuples())
    values[1]["size"] = "three"  # a value it would have to judge: declined, as encode declines it
    assert enc.encode_mapped(rows.ids, rows.constant, rows.values, rows.names, rows.extra) is None
    with pytest.raises(ValueError, match="5 values for 6 columns"):
        enc.encode_mapped(rows.ids, rows.constant, rows.values, rows.names)
