"""Export writers: files opened with csv, openpyxl, orjson and pypdf; columns, order, typed cells, formulas neutralized."""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import orjson
import pypdf
import pytest

from schemas.models import get_model
from services.exports.formats import open_writer
from services.exports.writers import EXTENSIONS, ExportMeta, neutralize, render_value

CONTACT = get_model("contact")
FIELDS = [
    CONTACT.field(n) for n in ("first_name", "last_name", "email", "phone", "birthdate", "do_not_call", "description")
]
ROWS = [
    ("Ann", "Lee", "ann@example.com", "+14155550123", "1990-05-01", "true", None),
    ('=HYPERLINK("http://evil")', "@SUM(A1)", "bob@example.com", "-12.50", None, "false", "<b>x</b> & co"),
    ("Zoë", 'O\'Brien, "Jr"', None, None, dt.date(1985, 1, 2), False, "line one\nline two\x07"),
]


def write(fmt: str, tmp_path: Path, meta: ExportMeta = ExportMeta(title="Contacts <i>"), rows=ROWS) -> Path:
    path = tmp_path / f"out{EXTENSIONS[fmt]}"
    w = open_writer(fmt)
    w.open(path, FIELDS, meta)
    w.write_rows(rows[:1])
    w.write_rows(rows[1:])
    assert w.close() == len(rows)
    return path


def test_render_value_matches_the_import_cleaners() -> None:
    assert render_value(Decimal("1200.50")) == "1200.50"
    assert render_value(dt.date(2024, 3, 1)) == "2024-03-01"
    assert render_value(True) == "true" and render_value(False) == "false"
    assert render_value(None) is None and render_value(12) == "12"


@pytest.mark.parametrize(
    ("value", "out"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("+14155550123", "+14155550123"),
        ("-12.50", "-12.50"),
        ("a=b", "a=b"),
        (None, None),
    ],
)
def test_neutralize(value: str | None, out: str | None) -> None:
    assert neutralize(value) == out


def test_csv(tmp_path: Path) -> None:
    path = write("csv", tmp_path)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [f.name for f in FIELDS]
    assert rows[1] == ["Ann", "Lee", "ann@example.com", "+14155550123", "1990-05-01", "true", ""]
    assert rows[2][:4] == ['\'=HYPERLINK("http://evil")', "'@SUM(A1)", "bob@example.com", "-12.50"]
    assert rows[3][1] == 'O\'Brien, "Jr"' and rows[3][4:6] == ["1985-01-02", "false"]
    assert rows[3][6] == "line one\nline two\x07"


def test_csv_bom(tmp_path: Path) -> None:
    assert write("csv", tmp_path, ExportMeta(csv_bom=True)).read_bytes().startswith(b"\xef\xbb\xbffirst_name,")


def test_xlsx(tmp_path: Path) -> None:
    path = write("excel", tmp_path)
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    assert 'state="frozen"' in sheet and 'ySplit="1"' in sheet
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    wb.close()
    assert values[0] == [f.name for f in FIELDS]
    assert values[1] == ["Ann", "Lee", "ann@example.com", "+14155550123", "1990-05-01", True, None]
    assert values[2][0] == '=HYPERLINK("http://evil")'  # a string cell: shown as text, never run
    assert ws.freeze_panes == "A2"
    assert values[2][6] == "<b>x</b> & co"
    assert values[3][6] == "line one\nline two\ufffd"  # BEL is not allowed in XML


def test_json_array_and_ndjson(tmp_path: Path) -> None:
    docs = orjson.loads(write("json", tmp_path).read_bytes())
    assert [list(d) for d in docs] == [[f.name for f in FIELDS]] * 3
    assert docs[0]["do_not_call"] is True and docs[2]["do_not_call"] is False and docs[0]["description"] is None
    assert docs[2]["birthdate"] == "1985-01-02"
    # A value that looks like an object boundary must not split a record.
    tricky = [('a},{"first_name":', "b", None, None, None, None, "},{")]
    lines = write("json", tmp_path, ExportMeta(json_style="ndjson"), rows=ROWS + tricky).read_bytes().splitlines()
    assert len(lines) == 4 and orjson.loads(lines[3])["first_name"] == 'a},{"first_name":'
    assert [orjson.loads(x)["email"] for x in lines[:3]] == ["ann@example.com", "bob@example.com", None]


def test_json_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    w = open_writer("json")
    w.open(path, FIELDS, ExportMeta())
    assert w.close() == 0 and orjson.loads(path.read_bytes()) == []


def test_pdf_escapes_markup_repeats_header_and_wraps(tmp_path: Path) -> None:
    long = "word " * 60
    rows = ROWS + [
        (f"Person{i}", "Last", f"p{i}@example.com", None, None, None, long if i == 5 else None) for i in range(150)
    ]
    meta = ExportMeta(title="Contacts <i>", filters=('status eq "new"',))
    reader = pypdf.PdfReader(write("pdf", tmp_path, meta, rows=rows))
    assert len(reader.pages) >= 2
    first = reader.pages[0].extract_text()
    assert "Contacts <i>" in first and 'Filter: status eq "new"' in first and "Generated" in first
    assert "<b>x</b> & co" in first and "Zoë" in first
    last = reader.pages[-1].extract_text()
    assert "First Name" in last and "Person149" in last  # header row repeated on the last page
    assert "word word" in first.replace("\n", " ")


def test_crlf_only_outside_quoted_values_even_across_chunks() -> None:
    from services.exports.csv_writer import crlf_records

    data = b'a,b\n"x\ny",2\n"say ""hi""",3\nplain,4\n'
    whole, quoted, records = crlf_records(data, False)
    assert whole == b'a,b\r\n"x\ny",2\r\n"say ""hi""",3\r\nplain,4\r\n' and not quoted and records == 4
    for cut in range(1, len(data)):
        first, inside, n1 = crlf_records(data[:cut], False)
        second, inside, n2 = crlf_records(data[cut:], inside)
        assert first + second == whole and n1 + n2 == 4 and not inside
