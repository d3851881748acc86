"""CSV reader: csv-spectrum conformance, encodings, delimiters, quoting, ragged rows, headers, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.core.errors import FileTooLarge, InputFileError
from services.ingest.readers import RawRow, ReaderLimits, open_table

SPECTRUM = Path("/work/shared/peer/csv-spectrum")
if not SPECTRUM.is_dir():  # a checkout keeps shared/ beside the repository
    SPECTRUM = Path(__file__).resolve().parents[3] / "shared" / "peer" / "csv-spectrum"

# Two pairs in csv-spectrum 2.0.0 disagree with themselves, so no parser can match them as stored:
# - newlines_crlf.csv lost its CRs in this copy (its JSON expects "\r\n" inside the quoted value);
#   test_spectrum_crlf_restored checks the file with CRLF line ends restored.
# - location_coordinates.json is a lone object whose phone differs from the CSV ("1234567890"
#   vs 2095257564; fixed upstream later); test_spectrum_location_coordinates checks the rest.
SPECTRUM_DEFECTS = {
    "newlines_crlf": "this copy of the CSV lost its CR bytes; the JSON expects them",
    "location_coordinates": "the JSON is a single object with a different phone than the CSV",
}


def read_all(path: Path, **kwargs: object) -> tuple[list[str], list[RawRow]]:
    with open_table(path, "csv", display_name=path.name, **kwargs) as reader:  # type: ignore[arg-type]
        return reader.info.headers, list(reader.rows())


def as_dicts(headers: list[str], rows: list[RawRow]) -> list[dict[str, str]]:
    # csv-spectrum writes empty values as "": the reader's None maps to that.
    return [{h: c if c is not None else "" for h, c in zip(headers, r.cells)} for r in rows]


def write(tmp_path: Path, data: bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def spectrum_names() -> list[str]:
    return sorted(p.stem for p in (SPECTRUM / "csvs").glob("*.csv"))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=SPECTRUM_DEFECTS[n]))
        if n in SPECTRUM_DEFECTS
        else n
        for n in spectrum_names()
    ],
)
def test_csv_spectrum(name: str) -> None:
    expected = json.loads((SPECTRUM / "json" / f"{name}.json").read_text(encoding="utf-8"))
    headers, rows = read_all(SPECTRUM / "csvs" / f"{name}.csv")
    assert as_dicts(headers, rows) == expected


def test_csv_spectrum_has_all_twelve() -> None:
    assert len(spectrum_names()) == 12


@pytest.mark.parametrize("name", ["newlines_crlf", "simple_crlf", "empty_crlf"])
def test_spectrum_crlf_restored(tmp_path: Path, name: str) -> None:
    data = (SPECTRUM / "csvs" / f"{name}.csv").read_bytes().replace(b"\n", b"\r\n")
    expected = json.loads((SPECTRUM / "json" / f"{name}.json").read_text(encoding="utf-8"))
    headers, rows = read_all(write(tmp_path, data))
    assert as_dicts(headers, rows) == expected


def test_spectrum_location_coordinates() -> None:
    expected = json.loads((SPECTRUM / "json" / "location_coordinates.json").read_text(encoding="utf-8"))
    headers, rows = read_all(SPECTRUM / "csvs" / "location_coordinates.csv")
    (got,) = as_dicts(headers, rows)
    assert got.pop("Contact Phone Number") == "2095257564"
    expected.pop("Contact Phone Number")
    assert got == expected


@pytest.mark.parametrize(
    ("text", "encoding", "expected_encoding"),
    [
        ("name;city\r\nJosé;Zürich\r\nMüller;Köln\r\n", "cp1252", "cp1252"),
        ("first,last\nFrançoise,Núñez\n€ price,Œuvre\n", "cp1252", "cp1252"),
        ("Zażółć,Łódź\nKraków,Gdańsk\n", "cp1250", "cp1250"),
        ("name,city\nJosé,Zürich\n", "utf-16", "utf-16"),
        ("name,city\nJosé,Zürich\n", "utf-8-sig", "utf-8-sig"),
        ("name,city\nJosé,Zürich\n", "utf-8", "utf-8"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, text: str, encoding: str, expected_encoding: str) -> None:
    path = write(tmp_path, text.encode(encoding))
    with open_table(path, "csv") as reader:
        assert reader.info.encoding == expected_encoding
        rows = list(reader.rows())
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    delimiter = reader.info.delimiter
    assert reader.info.headers == lines[0].split(delimiter)
    assert [r.cells for r in rows] == [line.split(delimiter) for line in lines[1:]]


def test_explicit_encoding_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b\nJosé,1\n".encode("latin-1"))
    with open_table(path, "csv", encoding="latin-1") as reader:
        assert [r.cells for r in reader.rows()] == [["José", "1"]]
    with pytest.raises(InputFileError, match="unknown text encoding"):
        open_table(path, "csv", encoding="no-such-codec")


def test_invalid_utf8_late_in_file_names_offset_and_row(tmp_path: Path) -> None:
    head = b"a,b\n" + b"x,y\n" * 50_000  # well past the 64 KiB detection sample
    data = head + "café,1\n".encode() + b"bad\xff,2\n"
    path = write(tmp_path, data)
    with open_table(path, "csv") as reader, pytest.raises(InputFileError) as err:
        list(reader.rows())
    assert err.value.offset == data.index(b"\xff")
    assert err.value.row == 50_002
    assert "UTF-8" in err.value.message


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b"a;b;c\n1;2,5;3\n4;5;6\n", ";"),
        (b"a\tb\tc\n1\t2\t3\n", "\t"),
        (b"a|b|c\n1|2|3\n", "|"),
        (b"a,b,c\n1,2;x,3\n", ","),
        (b"name,notes\nJohn,a;b;c;d\nJane,e|f\n", ","),
    ],
)
def test_delimiter_sniffing(tmp_path: Path, data: bytes, delimiter: str) -> None:
    with open_table(write(tmp_path, data), "csv") as reader:
        assert reader.info.delimiter == delimiter
        assert all(r.problem is None for r in reader.rows())


def test_explicit_delimiter_wins(tmp_path: Path) -> None:
    headers, rows = read_all(write(tmp_path, b"a;b,c\n1;2,3\n"), delimiter=";")
    assert headers == ["a", "b,c"]
    assert rows[0].cells == ["1", "2,3"]
    with pytest.raises(InputFileError, match="unusable delimiter"):
        read_all(write(tmp_path, b"a,b\n"), delimiter='"')


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings_and_quoted_newlines(tmp_path: Path, newline: bytes) -> None:
    nl = newline.decode()
    data = f'a,b{nl}"multi{nl}line",2{nl}"say ""hi""",3{nl}'.encode()
    headers, rows = read_all(write(tmp_path, data))
    assert headers == ["a", "b"]
    assert [r.cells for r in rows] == [[f"multi{nl}line", "2"], ['say "hi"', "3"]]
    assert [r.number for r in rows] == [1, 2]  # a record spanning lines is one record


def test_stray_quote_after_quoted_value_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b\n1,2\n3,"x"y\n')
    with open_table(path, "csv") as reader, pytest.raises(InputFileError) as err:
        list(reader.rows())
    assert err.value.row == 2
    assert "quote" in err.value.message


def test_unclosed_quote_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b\n1,2\n3,"never closed\n4,5\n')
    with open_table(path, "csv") as reader, pytest.raises(InputFileError) as err:
        list(reader.rows())
    assert err.value.row == 2
    assert "never closed" in err.value.message


def test_quote_inside_unquoted_value_is_text(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, b'a,b\n27" screen,2\n'))
    assert rows[0].cells == ['27" screen', "2"]


def test_field_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path, b'a,b\n1,2\n"' + b"x" * 5000 + b'",2\n')
    limits = ReaderLimits(max_field_bytes=1000)
    with open_table(path, "csv", limits=limits) as reader, pytest.raises(InputFileError) as err:
        list(reader.rows())
    assert err.value.row == 2
    assert "1000" in err.value.message


@pytest.mark.parametrize(
    ("data", "row"),
    [(b"a,b\n1,2\n3,4\x00\n", 2), (b"\n\na,b\n1,2\n\n3,\x00\n", 3), (b"a,b\n1,2\n\x00", 2)],
)
def test_nul_bytes_are_refused_with_row(tmp_path: Path, data: bytes, row: int) -> None:
    path = write(tmp_path, data)
    with pytest.raises(InputFileError) as err:
        with open_table(path, "csv") as reader:
            list(reader.rows())
    assert err.value.row == row
    assert "NUL" in err.value.message


def test_nul_in_utf16_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b\n1,2\n3,\x00\n".encode("utf-16"))
    with open_table(path, "csv") as reader, pytest.raises(InputFileError) as err:
        list(reader.rows())
    assert err.value.row == 2


def test_ragged_rows(tmp_path: Path) -> None:
    data = b"a,b,c,d,e\n1,2\n1,2,3,4,5,6,7\n1,2,3,4,5,,\n"
    headers, rows = read_all(write(tmp_path, data))
    assert headers == ["a", "b", "c", "d", "e"]
    assert rows[0] == RawRow(1, ["1", "2", None, None, None])
    assert rows[1].cells == ["1", "2", "3", "4", "5"]
    assert rows[1].problem == "row has 7 values but the header has 5 columns"
    assert rows[2] == RawRow(3, ["1", "2", "3", "4", "5"])


def test_headers_trimmed_empty_duplicate_and_trailing(tmp_path: Path) -> None:
    data = b" Name , ,name,NAME,Email,,\nA,B,C,D,E,,\n"
    headers, rows = read_all(write(tmp_path, data))
    assert headers == ["Name", "column_2", "name (2)", "NAME (3)", "Email"]
    assert rows == [RawRow(1, ["A", "B", "C", "D", "E"])]


def test_blank_records_skipped_but_counted(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, b"\n\na,b\n1,2\n\n,\n3,4\n"))
    assert [(r.number, r.cells) for r in rows] == [(1, ["1", "2"]), (4, ["3", "4"])]


@pytest.mark.parametrize("data", [b"", b"\n\n\r\n", "\ufeff".encode()])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputFileError, match="the file is empty"):
        open_table(write(tmp_path, data), "csv")


def test_header_only_gives_zero_rows(tmp_path: Path) -> None:
    headers, rows = read_all(write(tmp_path, b"a,b,c\r\n"))
    assert headers == ["a", "b", "c"]
    assert rows == []


def test_too_many_columns(tmp_path: Path) -> None:
    path = write(tmp_path, (",".join(f"c{i}" for i in range(20)) + "\n").encode())
    with pytest.raises(InputFileError, match="20 columns"):
        open_table(path, "csv", limits=ReaderLimits(max_columns=10))


def test_too_many_rows(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\n" + b"1\n" * 11)
    with open_table(path, "csv", limits=ReaderLimits(max_rows=10)) as reader:
        rows = reader.rows()
        for _ in range(10):
            next(rows)
        with pytest.raises(FileTooLarge, match="10"):
            next(rows)


def test_display_name_in_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        open_table(write(tmp_path, b""), "csv", display_name="My Leads.csv")
    assert err.value.file == "My Leads.csv"


@pytest.mark.parametrize("name", ["zlib_codec", "base64", "rot13", "hex", "uu"])
def test_a_codec_that_is_no_text_encoding_is_refused_as_input(name: str) -> None:
    from services.core.errors import InputFileError
    from services.ingest.readers.encoding import check_encoding

    with pytest.raises(InputFileError, match="is not a text encoding"):
        check_encoding(name, b"a,b\n", "leads.csv")
