"""XLSX/XLS readers: computed values, types, sheets, shared strings, hostile workbooks."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest

from services.core.errors import FileTooLarge, InputFileError, UnsupportedFileType
from services.ingest.readers import RawRow, ReaderLimits, open_table, xlsx_strings
from services.ingest.readers.xlsx_sheet import format_number

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STYLES = (
    f'<styleSheet xmlns="{NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
    '</numFmts><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/>'
    '<xf numFmtId="46"/></cellXfs></styleSheet>'
)


def make_xlsx(
    path: Path,
    sheets: dict[str, str],
    *,
    strings: list[str] | None = None,
    sst_xml: str | None = None,
    extra: dict[str, bytes] | None = None,
    date1904: bool = False,
) -> Path:
    """A minimal workbook written part by part; ``sheets`` maps names to <sheetData> inner XML."""
    ct = [
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/></Types>'
    ]
    wb_rels = [f'<Relationship Id="rS" Type="{REL}/styles" Target="styles.xml"/>']
    if strings is not None or sst_xml is not None:
        wb_rels.append(f'<Relationship Id="rT" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>')
    entries = []
    for i, name in enumerate(sheets, 1):
        wb_rels.append(f'<Relationship Id="r{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>')
        entries.append(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="r{i}"/>')
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "".join(ct))
        z.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{NS}" xmlns:r="{REL}">{pr}<sheets>{"".join(entries)}</sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships">{"".join(wb_rels)}</Relationships>',
        )
        z.writestr("xl/styles.xml", STYLES)
        if strings is not None:
            items = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
            sst_xml = f'<sst xmlns="{NS}">{items}</sst>'
        if sst_xml is not None:
            z.writestr("xl/sharedStrings.xml", sst_xml)
        for i, body in enumerate(sheets.values(), 1):
            z.writestr(
                f"xl/worksheets/sheet{i}.xml", f'<worksheet xmlns="{NS}"><sheetData>{body}</sheetData></worksheet>'
            )
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def header(*names: str) -> str:
    cols = "ABCDEFGHIJ"
    return '<row r="1">' + "".join(inline(f"{cols[i]}1", n) for i, n in enumerate(names)) + "</row>"


def read_all(path: Path, **kwargs: object) -> tuple[list[str], list[RawRow]]:
    with open_table(path, "excel", display_name=path.name, **kwargs) as reader:  # type: ignore[arg-type]
        return reader.info.headers, list(reader.rows())


def test_openpyxl_workbook_values_and_types(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["name", "n", "f", "date", "when", "flag", "big"])
    ws.append(["Ann", 42, 0.1, dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 10, 30), True, 1e20])
    ws.append(["Bob", -7, 2.5, dt.date(1999, 12, 31), dt.datetime(2024, 3, 1, 0, 0, 1), False, 1.5e-7])
    path = tmp_path / "leads.xlsx"
    wb.save(path)
    headers, rows = read_all(path)
    assert headers == ["name", "n", "f", "date", "when", "flag", "big"]
    assert rows[0].cells == ["Ann", "42", "0.1", "2024-03-01", "2024-03-01T10:30:00", "true", "100000000000000000000"]
    assert rows[1].cells == ["Bob", "-7", "2.5", "1999-12-31", "2024-03-01T00:00:01", "false", "1.5e-07"]


def test_shared_strings_rich_text_and_phonetic_runs(tmp_path: Path) -> None:
    sst = (
        f'<sst xmlns="{NS}"><si><t>name</t></si><si><r><t>Jo</t></r><r><rPr/><t xml:space="preserve">'
        "hn </t></r><rPh><t>PHONETIC</t></rPh></si><si><t>a &amp; b &lt;c&gt;</t></si></sst>"
    )
    path = make_xlsx(
        tmp_path / "s.xlsx",
        {
            "S": '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>1</v></c></row>'
            '<row r="3"><c r="A3" t="s"><v>2</v></c></row>'
        },
        sst_xml=sst,
    )
    _, rows = read_all(path)
    assert [r.cells for r in rows] == [["John "], ["a & b <c>"]]


def test_formula_cached_value_and_missing_value(tmp_path: Path) -> None:
    body = header("a", "total", "label") + (
        '<row r="2"><c r="A2"><v>1</v></c><c r="B2"><f>A2*2</f><v>2</v></c>'
        '<c r="C2" t="str"><f>"x"&amp;A2</f><v>x1</v></c></row>'
        '<row r="3"><c r="A3"><v>5</v></c><c r="B3"><f>A3*2</f></c><c r="C3" t="e"><f>1/0</f><v>#DIV/0!</v></c></row>'
        '<row r="4"><c r="A4"><v>6</v></c><c r="B4"><f t="shared" si="0"/><v></v></c></row>'
    )
    _, rows = read_all(make_xlsx(tmp_path / "f.xlsx", {"S": body}))
    assert rows[0] == RawRow(1, ["1", "2", "x1"])
    assert rows[1].cells == ["5", None, None]
    assert "'total'" in (rows[1].problem or "") and "formula without a computed value" in (rows[1].problem or "")
    assert "#DIV/0!" in (rows[1].problem or "") and "'label'" in (rows[1].problem or "")
    assert rows[2].cells == ["6", None, None]
    assert "formula" in (rows[2].problem or "")


def test_dates_numbers_bools_and_styles(tmp_path: Path) -> None:
    body = header("d", "dt", "dur", "num", "b", "iso") + (
        '<row r="2"><c r="A2" s="1"><v>45352</v></c><c r="B2" s="2"><v>45352.4375</v></c>'
        '<c r="C2" s="3"><v>1.5</v></c><c r="D2"><v>3.0000000000000004</v></c>'
        '<c r="E2" t="b"><v>1</v></c><c r="F2" t="d"><v>2024-03-01T10:30:00</v></c></row>'
    )
    _, rows = read_all(make_xlsx(tmp_path / "d.xlsx", {"S": body}))
    # [h]:mm:ss (style 3) counts elapsed time: 1.5 days reads as 36 hours, as Excel shows it.
    assert rows[0].cells == [
        "2024-03-01",
        "2024-03-01T10:30:00",
        "36:00:00",
        "3.0000000000000004",
        "true",
        "2024-03-01T10:30:00",
    ]


def test_date1904_workbooks(tmp_path: Path) -> None:
    body = header("d") + '<row r="2"><c r="A2" s="1"><v>0</v></c></row>'
    _, rows = read_all(make_xlsx(tmp_path / "d.xlsx", {"S": body}, date1904=True))
    assert rows[0].cells == ["1904-01-01"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", "42"),
        ("-3", "-3"),
        ("42.0", "42"),
        ("0.1", "0.1"),
        ("1E+20", "100000000000000000000"),
        ("1.5E-7", "1.5e-07"),
        ("1e300", "1e+300"),
    ],
)
def test_format_number(text: str, expected: str) -> None:
    assert format_number(text) == expected


def test_named_sheet_and_unknown_sheet(tmp_path: Path) -> None:
    path = make_xlsx(
        tmp_path / "m.xlsx",
        {
            "First": header("a") + '<row r="2"><c r="A2"><v>1</v></c></row>',
            "Second": header("b") + '<row r="2"><c r="A2"><v>2</v></c></row>',
        },
    )
    with open_table(path, "excel") as reader:
        assert (reader.info.sheet, reader.info.sheet_names) == ("First", ["First", "Second"])
    headers, rows = read_all(path, sheet="second")
    assert headers == ["b"] and rows[0].cells == ["2"]
    with pytest.raises(InputFileError, match="no sheet named 'Third'; its sheets are: First, Second"):
        open_table(path, "excel", sheet="Third")


def test_sparse_rows_ragged_and_numbering(tmp_path: Path) -> None:
    body = header("a", "b", "c", "", "") + (
        '<row r="3"><c r="C3"><v>3</v></c></row>'
        '<row r="4"><c r="A4"><v>1</v></c><c r="G4"><v>9</v></c></row>'
        '<row r="5"><c r="A5"><v>1</v></c><c r="E5" t="inlineStr"><is><t></t></is></c></row>'
    )
    headers, rows = read_all(make_xlsx(tmp_path / "r.xlsx", {"S": body}))
    assert headers == ["a", "b", "c"]
    assert rows[0] == RawRow(2, [None, None, "3"])
    assert rows[1].cells == ["1", None, None]
    assert rows[1].problem == "row has 7 values but the header has 3 columns"
    assert rows[2] == RawRow(4, ["1", None, None])


def test_huge_column_reference_allocates_nothing(tmp_path: Path) -> None:
    body = header("a") + '<row r="2"><c r="A2"><v>1</v></c><c r="XFD2"><v>2</v></c></row>'
    _, rows = read_all(make_xlsx(tmp_path / "h.xlsx", {"S": body}))
    assert rows[0].cells == ["1"]
    assert rows[0].problem == "row has 16384 values but the header has 1 columns"
    wide = header("a").replace("</row>", '<c r="XFD1" t="inlineStr"><is><t>z</t></is></c></row>')
    with pytest.raises(InputFileError, match="more than the limit of 500"):
        open_table(make_xlsx(tmp_path / "w.xlsx", {"S": wide}), "excel")


def test_dimension_element_is_ignored(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "dim.xlsx", {"S": header("a") + '<row r="2"><c r="A2"><v>1</v></c></row>'})
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>'
    )
    with zipfile.ZipFile(path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    assert read_all(path)[1] == [RawRow(1, ["1"])]


def test_empty_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="the file is empty"):
        open_table(make_xlsx(tmp_path / "e.xlsx", {"S": ""}), "excel")
    headers, rows = read_all(make_xlsx(tmp_path / "h.xlsx", {"S": header("x", "y")}))
    assert headers == ["x", "y"] and rows == []


def test_over_long_cell_is_a_row_problem(tmp_path: Path) -> None:
    body = header("a", "b") + '<row r="2">' + inline("A2", "x" * 50) + inline("B2", "ok") + "</row>"
    _, rows = read_all(make_xlsx(tmp_path / "l.xlsx", {"S": body}), limits=ReaderLimits(max_field_bytes=10))
    assert rows[0].cells == [None, "ok"]
    assert "'a'" in (rows[0].problem or "")


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    row = '<row><c t="inlineStr"><is><t>aaaaaaaaaaaaaaaaaaaaaaaa</t></is></c></row>'
    path = make_xlsx(tmp_path / "bomb.xlsx", {"S": header("a") + row * 800_000})
    with pytest.raises(FileTooLarge, match="zip bomb"):
        with open_table(path, "excel") as reader:
            for _ in reader.rows():
                pass


def test_uncompressed_budget_is_enforced(tmp_path: Path) -> None:
    body = header("a") + "".join(f'<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>' for i in range(2, 3000))
    path = make_xlsx(tmp_path / "big.xlsx", {"S": body})
    with pytest.raises(FileTooLarge, match="max_uncompressed_bytes"):
        with open_table(path, "excel", limits=ReaderLimits(max_uncompressed_bytes=20_000)) as reader:
            for _ in reader.rows():
                pass


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE x SYSTEM "http://example.invalid/x.dtd">',
    ],
)
def test_entities_and_dtds_are_refused(tmp_path: Path, prolog: str) -> None:
    path = make_xlsx(tmp_path / "x.xlsx", {"S": header("a")})
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = (
        prolog + f'<worksheet xmlns="{NS}"><sheetData>{header("a")}<row r="2">'
        '<c r="A2" t="inlineStr"><is><t>&b;&xxe;</t></is></c></row></sheetData></worksheet>'
    ).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    with pytest.raises(InputFileError, match="DTD"):
        with open_table(path, "excel") as reader:
            list(reader.rows())


def test_undeclared_entity_is_an_error(tmp_path: Path) -> None:
    body = header("a") + '<row r="2"><c r="A2" t="inlineStr"><is><t>&nope;</t></is></c></row>'
    with pytest.raises(InputFileError, match="not well-formed"):
        with open_table(make_xlsx(tmp_path / "u.xlsx", {"S": body}), "excel") as reader:
            list(reader.rows())


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "z.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(InputFileError, match="not an Excel workbook"):
        open_table(path, "excel")
    text = tmp_path / "t.xlsx"
    text.write_text("a,b\n")
    with pytest.raises(UnsupportedFileType):
        open_table(text, "excel")


def test_spilled_shared_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_strings, "MEMORY_STRINGS", 10)
    strings = ["head"] + [f"value {i} é" for i in range(100)]
    body = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + "".join(
        f'<row r="{i + 1}"><c r="A{i + 1}" t="s"><v>{i}</v></c></row>' for i in range(1, 101)
    )
    _, rows = read_all(make_xlsx(tmp_path / "s.xlsx", {"S": body}, strings=strings))
    assert [r.cells[0] for r in rows] == strings[1:]


def test_missing_shared_string_is_a_row_problem(tmp_path: Path) -> None:
    body = header("a") + '<row r="2"><c r="A2" t="s"><v>99</v></c></row>'
    _, rows = read_all(make_xlsx(tmp_path / "m.xlsx", {"S": body}, strings=["x"]))
    assert "shared string" in (rows[0].problem or "")


def test_legacy_xls_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(InputFileError, match=r"the \.xls file is damaged .* save it as \.xlsx"):
        open_table(path, "excel")


def test_legacy_xls_values(tmp_path: Path) -> None:
    import xlwt  # in the test extra: the only writer of legacy .xls files

    wb = xlwt.Workbook()
    ws = wb.add_sheet("Old")
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for col, value in enumerate(["name", "n", "d", "b"]):
        ws.write(0, col, value)
    ws.write(1, 0, "Ann")
    ws.write(1, 1, 42)
    ws.write(1, 2, dt.date(2024, 3, 1), date_style)
    ws.write(1, 3, True)
    path = tmp_path / "old.xls"
    wb.save(str(path))
    headers, rows = read_all(path)
    assert headers == ["name", "n", "d", "b"]
    assert rows == [RawRow(1, ["Ann", "42", "2024-03-01", "true"])]
