"""JSON reader: arrays (ijson) and NDJSON, literal numbers, nested values, NaN, duplicate keys, headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.errors import FileTooLarge, InputFileError
from services.ingest.readers import RawRow, ReaderLimits, open_table
from services.ingest.readers.json_reader import HEADER_SAMPLE


def read_all(tmp_path: Path, data: bytes, name: str = "in.json", **kwargs: object) -> tuple[list[str], list[RawRow]]:
    path = tmp_path / name
    path.write_bytes(data)
    with open_table(path, "json", **kwargs) as reader:  # type: ignore[arg-type]
        return reader.info.headers, list(reader.rows())


def test_array_values_as_text(tmp_path: Path) -> None:
    data = (
        b'\xef\xbb\xbf \n[{"a": 1, "b": "x", "c": 1.10, "d": 123456789012345678901234567890,'
        b' "e": true, "f": null, "g": false, "h": "", "i": -0.5e-3}]'
    )
    headers, rows = read_all(tmp_path, data)
    assert headers == ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    assert rows == [
        RawRow(1, ["1", "x", "1.10", "123456789012345678901234567890", "true", None, "false", None, "-0.0005"])
    ]


def test_ndjson_values_as_text(tmp_path: Path) -> None:
    data = b'{"a": 1, "b": 1.5e300, "c": 12345678901234567890123}\n\n{"a": "x", "c": true}\n'
    headers, rows = read_all(tmp_path, data, "in.ndjson")
    assert headers == ["a", "b", "c"]
    assert rows == [RawRow(1, ["1", "1.5e300", "12345678901234567890123"]), RawRow(3, ["x", None, "true"])]


@pytest.mark.parametrize("ndjson", [False, True])
def test_nested_values_and_duplicate_keys_are_row_problems(tmp_path: Path, ndjson: bool) -> None:
    records = [b'{"a": 1, "b": 2}', b'{"a": {"x": 1}, "b": [1, [2]]}', b'{"a": 1, "a": 2, "b": 3}']
    data = b"\n".join(records) if ndjson else b"[" + b",".join(records) + b"]"
    _, rows = read_all(tmp_path, data)
    assert rows[0] == RawRow(1, ["1", "2"])
    assert rows[1].cells == [None, None]
    assert "field 'a' holds a nested object" in (rows[1].problem or "")
    assert "field 'b' holds a nested" in (rows[1].problem or "")
    assert rows[2].cells == ["1", "3"]
    assert rows[2].problem == "field 'a' appears more than once in the record"


def test_ndjson_nan_and_bad_lines_are_row_problems(tmp_path: Path) -> None:
    data = b'{"a": 1}\n{"a": NaN}\n{"a": -Infinity}\nnot json\n[1, 2]\n{"a": 2}\n'
    _, rows = read_all(tmp_path, data)
    assert [r.number for r in rows] == [1, 2, 3, 4, 5, 6]
    assert "NaN or Infinity" in (rows[1].problem or "") and "NaN or Infinity" in (rows[2].problem or "")
    assert "not valid JSON" in (rows[3].problem or "")
    assert rows[4].problem == "the line is not a JSON object"
    assert rows[5] == RawRow(6, ["2"])


def test_array_nan_is_an_input_error_naming_the_record(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_bytes(b'[{"a": 1}, {"a": NaN}]')
    with pytest.raises(InputFileError) as err:
        with open_table(path, "json") as reader:
            list(reader.rows())
    assert err.value.row == 2
    assert "NaN" in err.value.message


def test_keys_seen_after_the_header_sample_are_unknown(tmp_path: Path) -> None:
    records = [b'{"a": %d}' % i for i in range(HEADER_SAMPLE)] + [b'{"a": 1, "late": "x"}', b'{"a": 2, "late": null}']
    headers, rows = read_all(tmp_path, b"[" + b",".join(records) + b"]")
    assert headers == ["a"]
    assert "unknown field 'late'" in (rows[HEADER_SAMPLE].problem or "")
    assert rows[HEADER_SAMPLE + 1] == RawRow(HEADER_SAMPLE + 2, ["2"])


def test_keys_within_sample_become_headers_in_first_seen_order(tmp_path: Path) -> None:
    headers, rows = read_all(tmp_path, b'[{"b": 1}, {"a": 2, " b ": 3}, {}]')
    assert headers == ["b", "a", "b (2)"]
    assert rows == [RawRow(1, ["1", None, None]), RawRow(2, [None, "2", "3"])]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (b"[]", "the file is empty"),
        (b"[1, 2]", "is not an object"),
        (b'"text"', "not a JSON array of objects"),
        (b'[{"a": 1}] trailing', "not valid JSON"),
        (b'[{"a": 1}, {"a": 2', "not valid JSON"),
        ('[{"a": 1}]'.encode("utf-16"), "UTF-16"),
    ],
)
def test_not_an_array_of_objects(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    with pytest.raises(InputFileError, match=message):
        with open_table(path, "json") as reader:
            list(reader.rows())


def test_over_long_value_and_row_limit(tmp_path: Path) -> None:
    _, rows = read_all(tmp_path, b'[{"a": "%s", "b": "ok"}]' % (b"x" * 50), limits=ReaderLimits(max_field_bytes=10))
    assert rows[0].cells == [None, "ok"] and "'a'" in (rows[0].problem or "")
    path = tmp_path / "many.ndjson"
    path.write_bytes(b'{"a": 1}\n' * 6)
    with open_table(path, "json", limits=ReaderLimits(max_rows=5)) as reader:
        with pytest.raises(FileTooLarge):
            list(reader.rows())
