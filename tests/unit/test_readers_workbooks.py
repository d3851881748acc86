"""The cell-value convention across formats, .ods and .xlsb reading, typed refusals (issue 13)."""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest

from services.core.errors import InputFileError
from services.ingest.filetype import check_file
from services.ingest.readers import ReaderLimits, open_table
from services.ingest.readers.cellvalue import format_kind, serial_text, unescape_ooxml
from services.ingest.readers.refusals import EncryptedWorkbook, SheetTooLargeToHold

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "peer" / "calamine-tests"


def read_all(path: Path, **kw: object) -> tuple[list[str], list[list[str | None]], list[str | None]]:
    with open_table(path, "excel", **kw) as reader:  # type: ignore[arg-type]
        rows = list(reader.rows())
        return reader.info.headers, [r.cells for r in rows], [r.problem for r in rows]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("DD/MM/YYYY", "date"),
        ("MM/DD/YY", "date"),
        ("YYYY-MM-DD HH:MM:SS", "date"),
        ("YY", "date"),
        ("d-mmm", "date"),
        ("[$-409]mmmm d, yyyy;@", "date"),
        ("h:mm AM/PM", "time"),
        ("MM:SS", "time"),
        ("[h]:mm:ss", "duration"),
        ("[MM]:SS", "duration"),
        ("0.00E+00", None),
        ("General", None),
        ("@", None),
        ('"Day "0', None),
        ("[Red]0.00", None),
        ('_(* #,##0_);_(* "-"??_)', None),
        ("0%", None),
    ],
)
def test_format_kind_reads_letters_as_excel_does(code: str, kind: str | None) -> None:
    assert format_kind(code) == kind


@pytest.mark.parametrize(
    ("serial", "kind", "date1904", "text"),
    [
        (45352, "date", False, "2024-03-01"),
        (45352.4375, "date", False, "2024-03-01T10:30:00"),
        (0.4375, "time", False, "10:30:00"),
        (45352.4375, "time", False, "2024-03-01T10:30:00"),
        (1.5, "duration", False, "36:00:00"),
        (-0.25, "duration", False, "-6:00:00"),
        (0, "date", True, "1904-01-01"),
        (0, "time", False, "00:00:00"),
        (59, "date", False, "1900-02-28"),
        (0.5000000058, "time", False, "12:00:00.001"),
        (0.99999999999, "time", False, "1899-12-31"),
    ],
)
def test_serial_text(serial: float, kind: str, date1904: bool, text: str) -> None:
    assert serial_text(serial, kind, date1904) == text  # type: ignore[arg-type]


def test_unescape_ooxml() -> None:
    assert unescape_ooxml("a_x000D__x000A_b_x0009_c") == "a\r\nb\tc"
    assert unescape_ooxml("_x005F_x000D_") == "_x000D_"  # a literal escape, escaped
    assert unescape_ooxml("_x0000__xD800_") == "_x0000__xD800_"  # not storable: left as written


def test_upper_case_date_formats_keep_the_date(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["a", "b", "c", "d"])
    ws.append(
        [
            dt.datetime(2024, 3, 1),
            dt.datetime(2024, 3, 1, 10, 30),
            dt.datetime(2024, 3, 1),
            dt.timedelta(hours=36, minutes=30),
        ]
    )
    for cell, code in zip(ws[2], ["DD/MM/YYYY", "YYYY-MM-DD HH:MM:SS", "YY", "[h]:mm:ss"]):
        cell.number_format = code
    wb.save(tmp_path / "u.xlsx")
    _, rows, _ = read_all(tmp_path / "u.xlsx")
    assert rows == [["2024-03-01", "2024-03-01T10:30:00", "2024-03-01", "36:30:00"]]


def test_xls_and_xlsx_read_the_same_workbook_alike(tmp_path: Path) -> None:
    import xlwt

    codes = ["DD/MM/YYYY", "yyyy-mm-dd", "hh:mm:ss", "[h]:mm:ss", "yyyy-mm-dd hh:mm", "0.00"]
    values = [45352.0, 45352.75, 0.3333333333, 1.2604166667, 45352.5, 2.5]
    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for col, (code, value) in enumerate(zip(codes, values)):
        sheet.write(0, col, f"c{col}")
        sheet.write(1, col, value, xlwt.easyxf(num_format_str=code))
        ws.cell(1, col + 1, f"c{col}")
        ws.cell(2, col + 1, value).number_format = code
    book.save(str(tmp_path / "s.xls"))
    wb.save(tmp_path / "s.xlsx")
    old, new = read_all(tmp_path / "s.xls"), read_all(tmp_path / "s.xlsx")
    assert old == new
    assert new[1] == [["2024-03-01", "2024-03-01T18:00:00", "08:00:00", "30:15:00", "2024-03-01T12:00:00", "2.5"]]


STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"


def write_package(path: Path, parts: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def strict_xlsx(path: Path, *, folder: str = "xl") -> Path:
    """A Strict Open XML workbook (as Excel's "Strict Open XML Spreadsheet" writes), main part in ``folder``."""
    return write_package(
        path,
        {
            "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/></Types>',
            "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="r1" Type="{STRICT_REL}/officeDocument" Target="{folder}/workbook.xml"/>'
            "</Relationships>",
            f"{folder}/workbook.xml": f'<workbook xmlns="{STRICT}" xmlns:r="{STRICT_REL}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rS"/></sheets></workbook>',
            f"{folder}/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rS" Type="{STRICT_REL}/worksheet" Target="sheet1.xml"/>'
            f'<Relationship Id="rT" Type="{STRICT_REL}/sharedStrings" Target="strings.xml"/></Relationships>',
            f"{folder}/strings.xml": f'<sst xmlns="{STRICT}"><si><t>name</t></si><si><t>Ann_x000D__x000A_Lee</t></si>'
            '<si><r><t xml:space="preserve">Bo </t></r><r><t>b</t></r></si></sst>',
            f"{folder}/sheet1.xml": f'<worksheet xmlns="{STRICT}"><sheetData>'
            '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>1</v></c></row>'
            '<row r="3"><c r="A3" t="s"><v>2</v></c></row></sheetData></worksheet>',
        },
    )


def test_strict_workbook_keeps_its_shared_strings_and_unescapes(tmp_path: Path) -> None:
    headers, rows, _ = read_all(strict_xlsx(tmp_path / "s.xlsx"))
    assert headers == ["name"]
    assert rows == [["Ann\r\nLee"], ["Bo b"]]


def test_workbook_part_in_another_folder_passes_the_upload_check(tmp_path: Path) -> None:
    path = strict_xlsx(tmp_path / "f.xlsx", folder="book")
    assert check_file(path, "excel", "f.xlsx") == "excel"
    assert read_all(path)[0] == ["name"]


def ods(path: Path, rows_xml: str) -> Path:
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    content = (
        f'<office:document-content xmlns:office="{office}" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Leads">{rows_xml}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="/" manifest:media-type='
            '"application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>',
        )
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def cell(kind: str, attrs: str, text: str) -> str:
    return f'<table:table-cell office:value-type="{kind}" {attrs}><text:p>{text}</text:p></table:table-cell>'


def test_ods_values_follow_the_convention(tmp_path: Path) -> None:
    header = (
        "<table:table-row>"
        + "".join(cell("string", "", h) for h in ("n", "d", "dt", "t", "b", "p"))
        + "</table:table-row>"
    )
    data = (
        "<table:table-row>"
        + "".join(
            [
                cell("float", 'office:value="42"', "42"),
                cell("date", 'office:date-value="2024-03-01"', "01/03/24"),
                cell("date", 'office:date-value="2024-03-01T10:30:00"', "x"),
                cell("time", 'office:time-value="PT10H30M00S"', "10:30"),
                cell("boolean", 'office:boolean-value="true"', "TRUE"),
                cell("percentage", 'office:value="0.25"', "25%"),
            ]
        )
        + "</table:table-row>"
    )
    path = ods(tmp_path / "l.ods", header + data)
    assert check_file(path, "excel", "l.ods") == "excel"
    headers, rows, problems = read_all(path)
    assert headers == ["n", "d", "dt", "t", "b", "p"]
    assert rows == [["42", "2024-03-01", "2024-03-01T10:30:00", "10:30:00", "true", "0.25"]]
    assert problems == [None]


def test_ods_repeat_bomb_is_refused_before_loading(tmp_path: Path) -> None:
    rows = (
        "<table:table-row>" + cell("string", "", "h") + "</table:table-row>"
        '<table:table-row table:number-rows-repeated="1000000">'
        '<table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1">'
        "<text:p>1</text:p></table:table-cell></table:table-row>"
    )
    with pytest.raises(SheetTooLargeToHold, match=r"spans 1,000,001,000 cells .*\(max_held_cells\)"):
        open_table(ods(tmp_path / "b.ods", rows), "excel")


def test_ods_size_cap_names_the_limit(tmp_path: Path) -> None:
    path = ods(tmp_path / "c.ods", "<table:table-row>" + cell("string", "", "h") + "</table:table-row>")
    with pytest.raises(SheetTooLargeToHold, match=r"max_held_sheet_bytes\); save it as \.xlsx"):
        open_table(path, "excel", limits=ReaderLimits(max_held_sheet_bytes=100))


def test_damaged_xls_sheet_is_typed_and_read_by_calamine_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xlrd.sheet
    import xlwt

    from services.ingest.readers.xls_reader import DamagedXls, XlsReader

    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    sheet.write(0, 0, "name")
    sheet.write(1, 0, "Ann")
    path = tmp_path / "d.xls"
    book.save(str(path))

    def broken(self: object, bk: object) -> None:
        raise struct.error("unpack requires a buffer of 4 bytes")  # what a truncated BIFF5 record gives

    monkeypatch.setattr(xlrd.sheet.Sheet, "read", broken)
    with pytest.raises(DamagedXls, match=r"the \.xls file is damaged .*struct\.error: unpack requires"):
        XlsReader(path, display_name="d.xls")
    assert read_all(path)[1] == [["Ann"]]


def test_garbage_after_ole2_magic_is_a_typed_refusal(tmp_path: Path) -> None:
    path = tmp_path / "g.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    with pytest.raises(InputFileError, match=r"the \.xls file is damaged"):
        open_table(path, "excel")


@pytest.mark.parametrize("name", ["pass_protected.xlsx", "pass_protected.xlsb", "issue_385.xls", "pass_protected.ods"])
def test_encrypted_workbooks_get_the_password_remedy(name: str) -> None:
    path = CORPUS / name
    assert path.is_file(), f"{path} is missing: the calamine corpus must sit in shared/peer beside the clone"
    where = "LibreOffice" if name.endswith(".ods") else r"Excel \(File > Info > Protect Workbook"
    with pytest.raises(EncryptedWorkbook, match=f"protected with a password: remove the password in {where}"):
        check_file(path, "excel", name)
    with pytest.raises(EncryptedWorkbook, match="protected with a password"):
        open_table(path, "excel")


def test_xlsb_reads_through_the_upload_check_and_the_reader() -> None:
    path = CORPUS / "issues.xlsb"
    assert path.is_file(), f"{path} is missing: the calamine corpus must sit in shared/peer beside the clone"
    assert check_file(path, "excel", "issues.xlsb") == "excel"
    headers, rows, _ = read_all(path)
    assert headers and rows


def test_empty_first_sheet_names_the_other_sheets(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Cover"
    wb.create_sheet("Data").append(["name"])
    wb.save(tmp_path / "e.xlsx")
    with pytest.raises(InputFileError, match=r"the sheet 'Cover' holds no values; .*other sheets: 'Data'"):
        open_table(tmp_path / "e.xlsx", "excel")


def test_bare_biff_stream_without_ole2_container_is_read(tmp_path: Path) -> None:
    import xlwt
    from xlrd.compdoc import CompDoc

    book = xlwt.Workbook()
    book.add_sheet("S").write(0, 0, "name")
    book.get_sheet(0).write(1, 0, "Ann")
    book.save(str(tmp_path / "c.xls"))
    with open(tmp_path / "devnull", "w") as quiet:
        mem, base, size = CompDoc((tmp_path / "c.xls").read_bytes(), logfile=quiet).locate_named_stream("Workbook")
    raw = tmp_path / "raw.xls"  # how Excel 2.x-4.x stored a worksheet: the BIFF records alone
    raw.write_bytes(bytes(mem[base : base + size]))
    assert check_file(raw, "excel", "raw.xls") == "excel"
    assert read_all(raw)[:2] == (["name"], [["Ann"]])


def test_shared_strings_found_without_a_relationship(tmp_path: Path) -> None:
    path = strict_xlsx(tmp_path / "n.xlsx")
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        f'<Relationship Id="rT" Type="{STRICT_REL}/sharedStrings" Target="strings.xml"/>'.encode(), b""
    )
    parts["xl/sharedStrings.xml"] = parts.pop("xl/strings.xml")
    assert read_all(write_package(tmp_path / "m.xlsx", parts))[0] == ["name"]


def test_serial_no_calendar_holds_reads_as_the_number(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["a", "b"])
    ws.append([-5, 3_000_000])
    for c in ws[2]:
        c.number_format = "yyyy-mm-dd"
    wb.save(tmp_path / "n.xlsx")
    assert read_all(tmp_path / "n.xlsx")[1:] == ([["-5", "3000000"]], [None])


def test_shared_string_cell_without_any_table_is_a_row_problem(tmp_path: Path) -> None:
    path = strict_xlsx(tmp_path / "x.xlsx")
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist() if n != "xl/strings.xml"}
    parts["xl/sheet1.xml"] = (
        f'<worksheet xmlns="{STRICT}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>h'
        '</t></is></c></row><row r="2"><c r="A2" t="s"><v>0</v></c></row></sheetData>'
        "</worksheet>"
    ).encode()
    _, rows, problems = read_all(write_package(tmp_path / "y.xlsx", parts))
    assert rows == [[None]] and "shared string the workbook does not contain" in (problems[0] or "")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet/></Workbook>',
            "Excel 2003 XML spreadsheet",
        ),
        (b"<html><body><table><tr><td>name</td></tr></table></body></html>", "a web page holding a table"),
    ],
)
def test_xml_and_html_named_xls_are_told_to_save_as_xlsx(tmp_path: Path, content: bytes, said: str) -> None:
    path = tmp_path / "report.xls"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=f"{said}.*open it in Excel and save it as .xlsx"):
        check_file(path, "excel", "report.xls")


def test_ods_error_cell_is_named_not_read_as_its_stale_number(tmp_path: Path) -> None:
    # LibreOffice keeps office:value="0" on a #DIV/0! cell; python-calamine alone would read 0.
    calc = 'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"'
    error = (
        f'<table:table-cell {calc} table:formula="of:=1/0" office:value-type="float" office:value="0" '
        'calcext:value-type="error"><text:p>#DIV/0!</text:p></table:table-cell>'
    )
    rows = (
        "<table:table-row>" + cell("string", "", "amount") + cell("string", "", "n") + "</table:table-row>"
        "<table:table-row>" + error + cell("float", 'office:value="3"', "3") + "</table:table-row>"
    )
    _, cells, problems = read_all(ods(tmp_path / "e.ods", rows))
    assert cells == [[None, "3"]]
    assert problems == ["column 'amount' shows the spreadsheet error #DIV/0!; fix the formula or value"]


def _biff12_records(data: bytes) -> list[tuple[int, bytes]]:
    from services.ingest.readers.held_extent import _varint

    out, pos = [], 0
    while pos < len(data):
        kind, pos = _varint(data, pos, 2)
        size, pos = _varint(data, pos, 4)
        out.append((kind, data[pos : pos + size]))
        pos += size
    return out


def _biff12_bytes(records: list[tuple[int, bytes]]) -> bytes:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    return b"".join(varint(k) + varint(len(body)) + body for k, body in records)


def test_xlsb_error_cell_is_named_not_read_as_empty(tmp_path: Path) -> None:
    source = CORPUS / "date.xlsb"
    assert source.is_file(), f"{source} is missing: the calamine corpus must sit in shared/peer beside the clone"
    with zipfile.ZipFile(source) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/") and n.endswith(".bin"))
    records = _biff12_records(parts[sheet])
    # The last number cell (column B of the last row) becomes a #DIV/0! error cell (BrtCellError).
    last = max(i for i, (kind, body) in enumerate(records) if kind in (2, 5) and body[:4] == b"\x01\x00\x00\x00")
    records[last] = (3, records[last][1][:8] + b"\x07")
    parts[sheet] = _biff12_bytes(records)
    path = write_package(tmp_path / "e.xlsb", parts)
    headers, rows, problems = read_all(path)
    assert rows[-1][1] is None
    assert problems[-1] == f"column {headers[1]!r} shows the spreadsheet error #DIV/0!; fix the formula or value"


def test_formula_returning_empty_text_is_no_problem_and_booleans_in_words(tmp_path: Path) -> None:
    path = strict_xlsx(tmp_path / "f.xlsx")
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/sheet1.xml"] = (
        f'<worksheet xmlns="{STRICT}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
        '<c r="B1" t="inlineStr"><is><t>ok</t></is></c><c r="C1" t="inlineStr"><is><t>x</t></is></c></row>'
        '<row r="2"><c r="A2" t="str"><f>IF(1,"","")</f><v></v></c><c r="B2" t="b"><v>TRUE</v></c>'
        '<c r="C2"><f>1+1</f></c></row></sheetData></worksheet>'
    ).encode()
    _, rows, problems = read_all(write_package(tmp_path / "g.xlsx", parts))
    assert rows == [[None, "true", None]]
    # Only the formula saved without any result (C2) is reported.
    assert problems == [
        "column 'x' holds a formula without a computed value; open the file in Excel and save it "
        "so the values are calculated"
    ]


@pytest.mark.parametrize(
    ("member", "said"),
    [
        ("word/document.xml", "a Word document, not an Excel workbook"),
        ("Index/Document.iwa", "an Apple Numbers document \\(export it from Numbers as Excel .xlsx\\)"),
    ],
)
def test_other_office_packages_named_xlsx_are_named_for_what_they_are(tmp_path: Path, member: str, said: str) -> None:
    path = write_package(tmp_path / "p.xlsx", {"[Content_Types].xml": "<Types/>", member: "x"})
    with pytest.raises(InputFileError, match=f"the file's content is {said}; upload a spreadsheet saved as .xlsx"):
        check_file(path, "excel", "p.xlsx")
