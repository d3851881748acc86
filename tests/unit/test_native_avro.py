"""The compiled codec of record-batch events (native/, crmio_native) held to fastavro on the same events:
the same bytes written, the same values read, and refusals where fastavro refuses."""

from __future__ import annotations

import random
from typing import Any

import crmio_native
import pytest

from schemas import avro, events
from tests.avro_reference import fastavro_decode, fastavro_encode

HEADER = avro.header("record_batch")


def _fastavro(record: dict[str, Any]) -> bytes:
    return fastavro_encode("record_batch", record)


def _read(data: bytes) -> Any:
    return fastavro_decode("record_batch", data)


_PIECES = ["", "a", "Jane", " ", "é", "Ω", "日本", "😀", "\x00", "\u200b", "x" * 130, "ü" * 70, "\r\n", '"']


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randrange(4)))


def _event(rng: random.Random) -> dict[str, Any]:
    width, rows = rng.randrange(5), rng.randrange(70)  # past 63 items: a count of two varint bytes
    event: dict[str, Any] = {
        "job_id": _text(rng),
        "company_id": _text(rng),
        "target_model": rng.choice(["lead", "contact", ""]),
        "fields": [_text(rng) for _ in range(width)],
        "numbers": [
            rng.choice([0, 1, -1, 63, 64, -65, 2**31, 2**63 - 1, -(2**63), rng.randrange(10**7)]) for _ in range(rows)
        ],
        "columns": [[_text(rng) for _ in range(rows)] for _ in range(width)],
    }
    if rng.random() < 0.8:  # without it: the schema's default, an empty map
        event["problems"] = {_text(rng) + str(i): _text(rng) for i in range(rng.randrange(3))}
    return event


def test_writes_the_bytes_fastavro_writes_and_reads_what_it_reads() -> None:
    rng = random.Random(15)
    for _ in range(500):
        event = _event(rng)
        written = crmio_native.encode_record_batch(event, HEADER)
        assert written == _fastavro(event), event
        assert crmio_native.decode_record_batch(written, len(HEADER)) == _read(written)


def test_an_import_s_event_through_schemas_avro() -> None:
    event = events.record_batch(
        "job", "company", "lead", ["email", "first_name"], [3, 4], [["a@x.io", ""], ["Zoë", "Li"]], {"4": "ragged"}
    )
    data = avro.encode("record_batch", event)
    assert data == _fastavro(dict(event))
    assert avro.decode("record_batch", data) == event


def _long(value: int) -> bytes:
    n, out = (value << 1) ^ (value >> 63), bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return _long(len(data)) + data


def test_reads_blocks_other_writers_write() -> None:
    """Avro lets a writer split an array or a map into several blocks, and give a block's count as negative
    followed by its size in bytes (Java's writer does for large arrays): fastavro's writer never does."""
    body = (
        _string("job")
        + _string("company")
        + _string("lead")
        + _long(-1) + _long(len(_string("email"))) + _string("email") + _long(0)  # fields: one sized block
        + _long(2) + _long(7) + _long(8) + _long(1) + _long(9) + _long(0)  # numbers: blocks of 2 and 1
        + _long(1) + _long(-3) + _long(6) + _string("a") + _string("b") + _string("c") + _long(0) + _long(0)
        + _long(1) + _string("8") + _string("ragged") + _long(0)
    )  # fmt: skip
    data = HEADER + body
    assert (
        crmio_native.decode_record_batch(data, len(HEADER))
        == _read(data)
        == {
            "job_id": "job",
            "company_id": "company",
            "target_model": "lead",
            "fields": ["email"],
            "numbers": [7, 8, 9],
            "columns": [["a", "b", "c"]],
            "problems": {"8": "ragged"},
        }
    )


def test_refuses_what_is_not_an_event_as_fastavro_does() -> None:
    data = crmio_native.encode_record_batch(_event(random.Random(3)) | {"fields": ["a"], "columns": [["x"]]}, HEADER)
    for cut in range(len(HEADER), len(data) - 1):  # every truncation: an error, never a shorter event
        with pytest.raises(ValueError, match="truncated"):
            crmio_native.decode_record_batch(data[:cut], len(HEADER))
    # A count of a billion items in a few bytes: refused at once, not read until the data runs out.
    lying = HEADER + _string("j") + _string("c") + _string("l") + _long(10**9) + _string("x")
    with pytest.raises(ValueError, match="truncated"):
        crmio_native.decode_record_batch(lying, len(HEADER))
    not_utf8 = HEADER + _long(2) + b"\xc3\x28" + _string("c") + _string("l") + _long(0) * 4
    with pytest.raises(UnicodeDecodeError):
        crmio_native.decode_record_batch(not_utf8, len(HEADER))
    with pytest.raises(UnicodeDecodeError):
        _read(not_utf8)
    assert crmio_native.decode_record_batch(data + b"trailing", len(HEADER)) == _read(data)  # as fastavro: ignored


_EVENT = {"job_id": "j", "company_id": "c", "target_model": "lead", "fields": [], "numbers": [], "columns": []}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"extra": 1}, ValueError),
        ({"fields": [1], "columns": [[]]}, TypeError),
        ({"fields": ["\ud800"], "columns": [[]]}, UnicodeEncodeError),
        ({"numbers": [2**63]}, OverflowError),
        ({"problems": [("1", "x")]}, TypeError),
    ],
)
def test_refuses_what_fastavro_refuses(change: dict[str, Any], error: type[Exception]) -> None:
    event = _EVENT | change
    with pytest.raises(error):
        crmio_native.encode_record_batch(event, HEADER)
    with pytest.raises(Exception):  # noqa: B017, PT011 - fastavro's own types vary (ValueError, TypeError, AttributeError)
        _fastavro(event)


def test_refuses_a_missing_field_and_a_column_that_is_not_a_list() -> None:
    with pytest.raises(ValueError, match='no field "columns"'):
        crmio_native.encode_record_batch({k: v for k, v in _EVENT.items() if k != "columns"}, HEADER)
    # Stricter than fastavro, which writes a str's characters as the items of an array.
    with pytest.raises(TypeError, match="expected a list"):
        crmio_native.encode_record_batch(_EVENT | {"columns": "abc"}, HEADER)
