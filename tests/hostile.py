"""Hostile input, generated (no committed binaries): each case is a file name, its bytes and the outcome
crmio must give it: a refusal (HTTP status, error type, message excerpt) or row errors by row number.

The same cases drive the unit tier (tests/unit/test_hostile_files.py: the readers the API and the
worker use), the integration tier (tests/integration/test_hostile_input.py: upload over HTTP, import
through Kafka) and the table in docs/reliability.md (bench/hostile_table.py). Upload-only cases (file
names, request bodies) are in ``REQUEST_CASES``; they need raw multipart bodies.
"""

from __future__ import annotations

import codecs
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from io import BytesIO
from typing import Literal
from xml.sax.saxutils import escape

__all__ = [
    "Expect",
    "Case",
    "RequestCase",
    "CASES",
    "REQUEST_CASES",
    "LIMITS",
    "LEAD_MAPPING",
    "OTHER_COMPANY",
    "multipart",
    "message_matches",
    "mapping_for",
    "raw_zip",
    "xlsx",
]

# The limits the hostile runs use (also the settings of the API server they start), so that size cases stay small.
LIMITS = {
    "max_file_bytes": 8 * 1024 * 1024,
    "max_uncompressed_bytes": 24 * 1024 * 1024,
    "max_columns": 500,
    "max_field_bytes": 128 * 1024,
}
HEADER = ["First Name", "Last Name", "Email", "Company"]
LEAD_MAPPING = {"First Name": "first_name", "Last Name": "last_name", "Email": "email", "Company": "company"}
# A company id written into files: the import must never write to it.
OTHER_COMPANY = "0b7e3d52-6a0e-4f5c-9d7e-5c8e2d1a4b60"

Kind = Literal["refused", "rows", "job_refused"]


@dataclass(frozen=True)
class Expect:
    kind: Kind
    status: int = 0  # refused / job_refused: the HTTP status
    error: str = ""  # refused / job_refused: the error type
    message: str = ""  # an excerpt the message holds (case-insensitive; "a|b": either)
    imported: int = 0  # rows: rows that import
    row_errors: dict[int, str] = field(default_factory=dict)  # rows: row number -> message excerpt
    # rows: row number -> excerpt of a warning (a value left out, the record imported)
    row_warnings: dict[int, str] = field(default_factory=dict)
    stored: dict[str, str] = field(default_factory=dict)  # rows: field -> value one imported record holds


@dataclass(frozen=True)
class Case:
    name: str
    topic: str
    filename: str
    build: Callable[[], bytes]
    expect: Expect
    mapping: dict[str, str | None] | None = None  # None: LEAD_MAPPING restricted to the file's headers

    @property
    def data(self) -> bytes:
        return _cached(self.name)


@dataclass(frozen=True)
class RequestCase:
    """A request the upload route must refuse (or accept safely): a file name or a body that is hostile."""

    name: str
    topic: str
    filename: str  # as sent in the multipart header (may hold control characters)
    expect: Expect
    stored_name: str | None = None  # accepted: the original_filename crmio keeps
    body: Literal["file", "oversize", "oversize_streamed", "malformed", "two_files", "huge_header"] = "file"


# --------------------------------------------------------------------------------- builders


def csv_rows(*rows: list[str], header: list[str] | None = None, newline: str = "\r\n") -> str:
    def cell(v: str) -> str:
        return f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in ',"\r\n') else v

    return "".join(",".join(map(cell, r)) + newline for r in [header or HEADER, *rows])


def good_rows(n: int, start: int = 1) -> list[list[str]]:
    return [[f"First{i}", f"Last{i}", f"lead{i}@example.com", f"Company {i}"] for i in range(start, start + n)]


@dataclass
class RawEntry:
    """A zip member written by hand: the data as stored, and sizes that may lie."""

    name: str
    data: bytes  # deflated (raw) or stored bytes
    crc: int
    file_size: int
    method: int = zipfile.ZIP_DEFLATED


def deflated(name: str, content: bytes) -> RawEntry:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return RawEntry(name, c.compress(content) + c.flush(), zlib.crc32(content), len(content))


def raw_zip(entries: list[RawEntry]) -> bytes:
    """A zip archive from members whose sizes and CRCs are taken as given (to spoof them)."""
    out, central = BytesIO(), BytesIO()
    for e in entries:
        offset = out.tell()
        name = e.name.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, e.method, 0, 0x21, e.crc, len(e.data), e.file_size, len(name), 0
            )
            + name
            + e.data
        )
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                e.method,
                0,
                0x21,
                e.crc,
                len(e.data),
                e.file_size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    cd = central.getvalue()
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), out.tell(), 0))
    return out.getvalue()


NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def sheet_row(number: int, values: list[str]) -> str:
    return (
        f'<row r="{number}">'
        + "".join(inline(f"{chr(65 + i)}{number}", v) for i, v in enumerate(values) if v)
        + "</row>"
    )


def sheet_rows(*rows: list[str]) -> str:
    return "".join(sheet_row(i, r) for i, r in enumerate([HEADER, *rows], 1))


def xlsx_parts(sheet_data: str, *, prolog: str = "", strings: str | None = None) -> dict[str, bytes]:
    rels = f'<Relationship Id="rS" Type="{REL}/styles" Target="styles.xml"/>'
    if strings is not None:
        rels += f'<Relationship Id="rT" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": f'<Relationships xmlns="{PKG}"><Relationship Id="r1" Type="{REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{NS}" xmlns:r="{REL}"><sheets><sheet name="Leads" sheetId="1" '
        'r:id="r1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}"><Relationship Id="r1" '
        f'Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>{rels}</Relationships>',
        "xl/styles.xml": f'<styleSheet xmlns="{NS}"><cellXfs count="1"><xf numFmtId="0"/></cellXfs></styleSheet>',
        "xl/worksheets/sheet1.xml": f'{prolog}<worksheet xmlns="{NS}"><sheetData>{sheet_data}</sheetData></worksheet>',
    }
    if strings is not None:
        parts["xl/sharedStrings.xml"] = strings
    return {k: v.encode() for k, v in parts.items()}


def xlsx(sheet_data: str, **kw: str | None) -> bytes:
    return raw_zip([deflated(n, d) for n, d in xlsx_parts(sheet_data, **kw).items()])  # type: ignore[arg-type]


def xlsx_with(part: str, content: bytes, sheet_data: str | None = None) -> bytes:
    parts = xlsx_parts(sheet_data if sheet_data is not None else sheet_rows(*good_rows(2)))
    parts[part] = content
    return raw_zip([deflated(n, d) for n, d in parts.items()])


def bomb_entry(name: str, head: bytes, tail: bytes, spaces: int) -> RawEntry:
    """A member of ``head`` + ``spaces`` blanks + ``tail``, deflated without holding the blanks in memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * (1 << 20)
    crc = zlib.crc32(head)
    out = [c.compress(head)]
    for _ in range(spaces >> 20):
        out.append(c.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    out.append(c.compress(tail))
    crc = zlib.crc32(tail, crc)
    out.append(c.flush())
    return RawEntry(name, b"".join(out), crc, len(head) + (spaces >> 20 << 20) + len(tail))


def zip_bomb(part: str) -> bytes:
    """A workbook whose ``part`` unpacks to 1 GiB of blanks inside otherwise valid XML (about 1 MB packed)."""
    parts = xlsx_parts(sheet_rows(*good_rows(2)))
    xml = parts[part]
    cut = xml.index(b"</sheetData>") if part.endswith("sheet1.xml") else xml.index(b"<Default")
    entries = [deflated(n, d) for n, d in parts.items() if n != part]
    entries.append(bomb_entry(part, xml[:cut], xml[cut:], 1 << 30))
    return raw_zip(entries)


def over_budget() -> bytes:
    """A workbook unpacking past max_uncompressed_bytes while compressing only ~15x (no bomb ratio)."""
    rows = "".join(
        sheet_row(i, [f"F{i * 7919 % 100003}", f"L{i * 104729 % 999983}", f"u{i}@example.com", f"C{i % 977}"])
        for i in range(2, 260_000)
    )
    return xlsx(sheet_row(1, HEADER) + rows)


def spoofed_size() -> bytes:
    """The sheet's central-directory size claims 100 bytes: the real data is longer (CRC check fails)."""
    parts = xlsx_parts(sheet_rows(*good_rows(50)))
    entries = [deflated(n, d) for n, d in parts.items()]
    sheet = next(e for e in entries if e.name.endswith("sheet1.xml"))
    sheet.file_size = 100
    return raw_zip(entries)


def corrupt_deflate() -> bytes:
    parts = xlsx_parts(sheet_rows(*good_rows(200)))
    entries = [deflated(n, d) for n, d in parts.items()]
    sheet = next(e for e in entries if e.name.endswith("sheet1.xml"))
    middle = len(sheet.data) // 2
    sheet.data = (
        sheet.data[:middle] + bytes(b ^ 0x5A for b in sheet.data[middle : middle + 64]) + sheet.data[middle + 64 :]
    )
    return raw_zip(entries)


def plain_zip() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def macro_workbook() -> bytes:
    parts = xlsx_parts(sheet_rows(*good_rows(2)))
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/workbook.xml" '
        b'ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>',
    )
    parts["xl/vbaProject.bin"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b'Attribute VB_Name = "Module1"' * 10
    return raw_zip([deflated(n, d) for n, d in parts.items()])


def legacy_xls(data: list[list[str]] | None = None) -> bytes:
    import xlwt  # the test extra's writer of legacy .xls files

    wb = xlwt.Workbook()
    ws = wb.add_sheet("Leads")
    for r, row in enumerate([HEADER, *(data or good_rows(2))]):
        for c, v in enumerate(row):
            ws.write(r, c, v)
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


def openpyxl_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    for row in [HEADER, *good_rows(2)]:
        wb.active.append(row)
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
XXE = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def entity_sheet(prolog: str, ref: str) -> bytes:
    return xlsx(
        sheet_row(1, HEADER) + f'<row r="2">{inline("A2", "Ada")}{inline("B2", "L")}'
        f'<c r="C2" t="inlineStr"><is><t>&{ref};</t></is></c></row>',
        prolog=prolog,
    )


def late(data: bytes, *, rows: int = 2000) -> bytes:
    """``data`` (a CSV tail) after enough good rows to lie past the 64 KiB encoding sample."""
    return csv_rows(*good_rows(rows)).encode() + data


def cells(row: int, xml: str) -> str:
    return f'<row r="{row}">{inline(f"A{row}", "Ada")}{inline(f"B{row}", "Lovelace")}{xml}</row>'


def wide_csv(columns: int) -> bytes:
    return (
        ",".join(f"c{i}" for i in range(columns)) + "\r\n" + ",".join("x" * 1 for _ in range(columns)) + "\r\n"
    ).encode()


def json_doc(*records: str) -> bytes:
    return ("[" + ",".join(records) + "]").encode()


def rec(**fields: object) -> str:
    import orjson

    base = {"First Name": "Ada", "Last Name": "Lovelace", "Email": "ada@example.com"}
    return orjson.dumps(base | fields).decode()


def multipart(
    filename: str | bytes,
    data: bytes,
    *,
    boundary: str = "hostileBoundary7",
    fields: dict[str, str] | None = None,
    extra_header: bytes = b"",
) -> tuple[bytes, str]:
    """A multipart/form-data body sent as is (httpx would escape control characters in the file name)."""
    name = filename if isinstance(filename, bytes) else filename.encode("utf-8", "surrogateescape")
    b = boundary.encode()
    body = b""
    for k, v in (fields or {}).items():
        body += b"--" + b + f'\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += (
        b"--"
        + b
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + name
        + b'"\r\n'
        + extra_header
        + b"Content-Type: application/octet-stream\r\n\r\n"
        + data
        + b"\r\n--"
        + b
        + b"--\r\n"
    )
    return body, f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------------- cases

U415, U400, U413 = (
    ("refused", 415, "UnsupportedFileType"),
    ("refused", 400, "InputFileError"),
    ("refused", 413, "FileTooLarge"),
)
XML = ("refused", 400, "UnsafeXml")


def refused(kind: tuple[str, int, str], message: str) -> Expect:
    return Expect(kind[0], kind[1], kind[2], message)  # type: ignore[arg-type]


def rows(
    imported: int,
    errors: dict[int, str] | None = None,
    stored: dict[str, str] | None = None,
    warnings: dict[int, str] | None = None,
) -> Expect:
    return Expect("rows", imported=imported, row_errors=errors or {}, stored=stored or {}, row_warnings=warnings or {})


GOOD_CSV = csv_rows(*good_rows(2)).encode()
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(range(256)) * 4
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Leads</title></head><body><table><tr><td>a</td></tr></table></body></html>\n"
)
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + zlib.compress(GOOD_CSV)[2:]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)

CASES: list[Case] = [
    # --- the content is not what the name says
    Case("exe-named-csv", "content vs name", "leads.csv", lambda: EXE, refused(U415, "a Windows program")),
    Case("elf-named-json", "content vs name", "leads.json", lambda: ELF, refused(U415, "a program (ELF)")),
    Case("zip-named-xlsx", "content vs name", "leads.xlsx", plain_zip, refused(U415, "not an Excel workbook")),
    Case("zip-named-csv", "content vs name", "leads.csv", plain_zip, refused(U415, "not an Excel workbook")),
    Case("html-named-csv", "content vs name", "leads.csv", lambda: HTML, refused(U415, "HTML or XML document")),
    Case("html-named-xlsx", "content vs name", "leads.xlsx", lambda: HTML, refused(U415, "HTML or XML document")),
    Case(
        "xml-named-json",
        "content vs name",
        "leads.json",
        lambda: b'<?xml version="1.0"?><leads/>',
        refused(U415, "HTML or XML document"),
    ),
    Case("pdf-named-xlsx", "content vs name", "leads.xlsx", lambda: PDF, refused(U415, "a PDF document")),
    Case("pdf-named-json", "content vs name", "leads.json", lambda: PDF, refused(U415, "a PDF document")),
    Case("gzip-named-csv", "content vs name", "leads.csv", lambda: GZIP, refused(U415, "a gzip archive")),
    Case("png-named-json", "content vs name", "leads.json", lambda: PNG, refused(U415, "a PNG image")),
    Case("xls-named-csv", "content vs name", "leads.csv", legacy_xls, refused(U415, "legacy Excel workbook")),
    Case("xls-named-json", "content vs name", "leads.json", legacy_xls, refused(U415, "legacy Excel workbook")),
    Case("xlsm-named-xlsx", "content vs name", "leads.xlsx", macro_workbook, refused(U415, "with macros")),
    Case("xlsm-named-csv", "content vs name", "leads.csv", macro_workbook, refused(U415, "with macros")),
    Case("xlsm-named-json", "content vs name", "leads.json", macro_workbook, refused(U415, "with macros")),
    Case("xlsx-named-csv", "content vs name", "leads.csv", openpyxl_xlsx, refused(U415, "an Excel workbook")),
    Case("csv-named-xlsx", "content vs name", "leads.xlsx", lambda: GOOD_CSV, refused(U415, "its content is text")),
    Case(
        "json-named-csv", "content vs name", "leads.csv", lambda: json_doc(rec()), refused(U415, "its content is JSON")
    ),
    Case(
        "damaged-zip-named-xlsx",
        "content vs name",
        "leads.xlsx",
        lambda: b"PK\x03\x04" + bytes(range(200)),
        refused(U415, "damaged zip archive"),
    ),
    Case("exe-extension", "content vs name", "setup.exe", lambda: GOOD_CSV, refused(U415, "are not supported")),
    Case(
        "rtl-override-name",
        "content vs name",
        "leads\u202eslx.exe",
        lambda: GOOD_CSV,
        refused(U415, "are not supported"),
    ),
    # --- zip bombs and workbook structure
    Case(
        "xlsx-zip-bomb-sheet",
        "zip bomb",
        "bomb.xlsx",
        lambda: zip_bomb("xl/worksheets/sheet1.xml"),
        refused(U413, "max_uncompressed_bytes|zip bomb"),
    ),
    Case(
        "xlsx-zip-bomb-content-types",
        "zip bomb",
        "bomb.xlsx",
        lambda: zip_bomb("[Content_Types].xml"),
        refused(U413, "zip bomb"),
    ),
    Case("xlsx-over-uncompressed-budget", "zip bomb", "big.xlsx", over_budget, refused(U413, "max_uncompressed_bytes")),
    Case("xlsx-spoofed-member-size", "zip bomb", "leads.xlsx", spoofed_size, refused(U400, "damaged")),
    Case("xlsx-corrupt-deflate", "zip bomb", "leads.xlsx", corrupt_deflate, refused(U400, "damaged")),
    # --- XML entities
    Case(
        "xlsx-billion-laughs-sheet",
        "XML entities",
        "leads.xlsx",
        lambda: entity_sheet(LAUGHS, "lol3"),
        refused(XML, "DTD or entities"),
    ),
    Case(
        "xlsx-xxe-sheet",
        "XML entities",
        "leads.xlsx",
        lambda: entity_sheet(XXE, "xxe"),
        refused(XML, "DTD or entities"),
    ),
    Case(
        "xlsx-external-dtd-sheet",
        "XML entities",
        "leads.xlsx",
        lambda: entity_sheet('<!DOCTYPE x SYSTEM "http://203.0.113.9/x.dtd">', "amp"),
        refused(XML, "DTD or entities"),
    ),
    Case(
        "xlsx-xxe-shared-strings",
        "XML entities",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)), strings=f'{XXE}<sst xmlns="{NS}"><si><t>&xxe;</t></si></sst>'),
        refused(XML, "DTD or entities"),
    ),
    Case(
        "xlsx-billion-laughs-workbook",
        "XML entities",
        "leads.xlsx",
        lambda: xlsx_with(
            "xl/workbook.xml",
            (
                LAUGHS + f'<workbook xmlns="{NS}" xmlns:r="{REL}"><sheets><sheet '
                'name="&lol3;" sheetId="1" r:id="r1"/></sheets></workbook>'
            ).encode(),
        ),
        refused(U400, "xl/workbook.xml cannot be read"),
    ),
    Case(
        "xlsx-xxe-styles",
        "XML entities",
        "leads.xlsx",
        lambda: xlsx_with(
            "xl/styles.xml",
            (
                XXE + f'<styleSheet xmlns="{NS}"><numFmts><numFmt numFmtId="164" '
                'formatCode="&xxe;"/></numFmts></styleSheet>'
            ).encode(),
        ),
        refused(U400, "xl/styles.xml cannot be read"),
    ),
    # --- sheet dimensions, columns and row numbers
    Case(
        "xlsx-spoofed-dimension",
        "dimensions",
        "leads.xlsx",
        lambda: xlsx_with(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{NS}"><dimension ref="A1:XFD1048576"/>'
            f"<sheetData>{sheet_rows(*good_rows(2))}</sheetData></worksheet>".encode(),
        ),
        rows(2),
    ),
    Case(
        "xlsx-600-header-columns",
        "dimensions",
        "wide.xlsx",
        lambda: xlsx(
            '<row r="1">' + "".join(f'<c t="inlineStr"><is><t>c{i}</t></is></c>' for i in range(600)) + "</row>"
        ),
        refused(U400, "more than the limit of 500"),
    ),
    Case(
        "xlsx-header-cell-at-XFD",
        "dimensions",
        "wide.xlsx",
        lambda: xlsx(sheet_row(1, HEADER).replace("</row>", inline("XFD1", "far")) + "</row>"),
        refused(U400, "more than the limit of 500"),
    ),
    Case(
        "xlsx-data-cell-at-XFD",
        "dimensions",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(2)) + cells(4, inline("C4", "a@example.com") + inline("XFD4", "far"))),
        rows(2, {3: "row has 16384 values but the header has 4 columns"}),
    ),
    Case(
        "csv-600-columns", "dimensions", "wide.csv", lambda: wide_csv(600), refused(U400, "more than the limit of 500")
    ),
    Case(
        "xlsx-row-number-not-a-number",
        "dimensions",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)) + cells(3, "").replace('r="3"', 'r="3x"', 1)),
        refused(U400, "row number '3x'"),
    ),
    Case(
        "xlsx-rows-out-of-order",
        "dimensions",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(3)) + cells(2, "")),
        refused(U400, "out of order"),
    ),
    Case(
        "xlsx-row-number-beyond-excel",
        "dimensions",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)) + cells(4294967297, "")),
        refused(U400, "1048576"),
    ),
    Case(
        "xlsx-cell-reference-without-column",
        "dimensions",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)) + '<row r="3"><c r="3" t="inlineStr"><is><t>x</t></is></c></row>'),
        refused(U400, "cell reference '3'"),
    ),
    # --- formulas in imported cells
    Case(
        "xlsx-formula-cached-values",
        "formulas",
        "leads.xlsx",
        lambda: xlsx(
            sheet_row(1, HEADER)
            + cells(
                2,
                inline("C2", "f@example.com")
                + '<c r="D2" t="str"><f>UPPER("acme")&amp;" "&amp;(1+1)</f><v>ACME 2</v></c>',
            )
        ),
        rows(1, stored={"company": "ACME 2"}),
    ),
    Case(
        "xlsx-formula-without-value",
        "formulas",
        "leads.xlsx",
        lambda: xlsx(
            sheet_rows(*good_rows(1))
            + cells(3, inline("C3", "g@example.com") + '<c r="D3"><f>HYPERLINK("http://x")</f></c>')
        ),
        rows(1, {2: "holds a formula without a computed value"}),
    ),
    Case(
        "xlsx-shared-formula-without-value",
        "formulas",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)) + cells(3, '<c r="D3"><f t="shared" si="0"/></c>')),
        rows(1, {2: "holds a formula without a computed value"}),
    ),
    Case(
        "xlsx-error-value",
        "formulas",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)) + cells(3, '<c r="D3" t="e"><f>1/0</f><v>#DIV/0!</v></c>')),
        rows(1, {2: "spreadsheet error #DIV/0!"}),
    ),
    Case(
        "csv-formula-text",
        "formulas",
        "leads.csv",
        lambda: csv_rows(["Ada", "Lovelace", "ada@example.com", '=HYPERLINK("http://evil","x")']).encode(),
        rows(1, stored={"company": '=HYPERLINK("http://evil","x")'}),
    ),
    # --- encodings
    Case("csv-utf8-bom", "encodings", "leads.csv", lambda: codecs.BOM_UTF8 + GOOD_CSV, rows(2)),
    Case("csv-utf16-bom", "encodings", "leads.csv", lambda: csv_rows(*good_rows(2)).encode("utf-16"), rows(2)),
    Case(
        "csv-utf16-no-bom",
        "encodings",
        "leads.csv",
        lambda: csv_rows(*good_rows(2)).encode("utf-16-le"),
        refused(U415, "UTF-16 text without a byte-order mark"),
    ),
    Case(
        "csv-cp1252",
        "encodings",
        "leads.csv",
        lambda: csv_rows(["José", "Müller", "jose@example.com", "Café Crème – €"]).encode("cp1252"),
        rows(1, stored={"last_name": "Müller", "company": "Café Crème – €"}),
    ),
    Case(
        "csv-invalid-utf8-late",
        "encodings",
        "leads.csv",
        lambda: late(b"Ada,Lo\xffvelace,a@example.com,X\r\n"),
        refused(U400, "byte offset"),
    ),
    Case(
        "json-utf16",
        "encodings",
        "leads.json",
        lambda: json_doc(rec()).decode().encode("utf-16"),
        refused(U400, "save it as UTF-8"),
    ),
    Case(
        "ndjson-invalid-utf8",
        "encodings",
        "leads.ndjson",
        lambda: (rec() + "\n" + rec(Company="Caf?")).encode().replace(b"?", b"\xc3(") + b"\n",
        refused(U400, "not valid UTF-8"),
    ),
    # --- newlines, quotes, NULs, field sizes
    Case(
        "csv-mixed-newlines",
        "CSV structure",
        "leads.csv",
        lambda: (
            b"First Name,Last Name,Email,Company\r\nA,B,a@example.com,X\nC,D,c@example.com,Y\rE,F,e@example.com,Z\r\n"
        ),
        rows(3),
    ),
    Case(
        "csv-quoted-newlines",
        "CSV structure",
        "leads.csv",
        lambda: csv_rows(["Ada", "Lovelace", "ada@example.com", "Line 1\nLine 2\r\nLine 3"]).encode(),
        rows(1, stored={"company": "Line 1\nLine 2\r\nLine 3"}),
    ),
    Case(
        "csv-stray-quote",
        "CSV structure",
        "leads.csv",
        lambda: (csv_rows(*good_rows(2)) + '"Ada"x,Lovelace,ada@example.com,X\r\n').encode(),
        refused(U400, "row 3"),
    ),
    Case(
        "csv-unclosed-quote",
        "CSV structure",
        "leads.csv",
        lambda: (csv_rows(*good_rows(2)) + '"Ada,Lovelace,ada@example.com,X\r\n').encode(),
        refused(U400, "never closed"),
    ),
    Case(
        "csv-quote-inside-value",
        "CSV structure",
        "leads.csv",
        lambda: b'First Name,Last Name,Email,Company\r\nAda,Lovelace,ada@example.com,27" screens\r\n',
        rows(1, stored={"company": '27" screens'}),
    ),
    Case(
        "csv-over-long-field",
        "CSV structure",
        "leads.csv",
        lambda: csv_rows(["Ada", "Lovelace", "ada@example.com", "x" * 200_000]).encode(),
        refused(U400, "longer than 131072 characters"),
    ),
    Case(
        "xlsx-over-long-cell",
        "CSV structure",
        "leads.xlsx",
        lambda: xlsx(sheet_rows(*good_rows(1)) + cells(3, inline("D3", "x" * 200_000))),
        rows(1, {2: "longer than the field size limit"}),
    ),
    Case(
        "json-over-long-value",
        "CSV structure",
        "leads.json",
        lambda: json_doc(rec(), rec(Email="b@example.com", Company="x" * 200_000)),
        rows(1, {2: "longer than the field size limit"}),
    ),
    Case(
        "csv-nul-early",
        "CSV structure",
        "leads.csv",
        lambda: GOOD_CSV.replace(b"First1", b"Fi\x00st1"),
        refused(U415, "binary data"),
    ),
    Case(
        "csv-nul-late",
        "CSV structure",
        "leads.csv",
        lambda: late(b"Ada,Love\x00lace,a@example.com,X\r\n"),
        refused(U400, "NUL bytes"),
    ),
    Case(
        "csv-ragged-rows",
        "CSV structure",
        "leads.csv",
        lambda: (csv_rows(*good_rows(1)) + "Ada,Lovelace,ada@example.com,X,extra,more\r\nBob\r\n").encode(),
        rows(1, {2: "row has 6 values but the header has 4 columns", 3: "last_name"}),
    ),
    Case(
        "csv-duplicate-headers",
        "CSV structure",
        "leads.csv",
        lambda: b"First Name,Last Name,Email,email,Company\r\nAda,Lovelace,ada@example.com,x@example.com,X\r\n",
        rows(1, stored={"email": "ada@example.com"}),
    ),
    Case(
        "csv-empty-headers",
        "CSV structure",
        "leads.csv",
        lambda: b"First Name,,Last Name,,Email\r\nAda,?,Lovelace,?,ada@example.com\r\n",
        rows(1),
    ),
    Case("csv-empty-file", "CSV structure", "leads.csv", lambda: b"", refused(U415, "an empty file")),
    Case(
        "csv-blank-lines-only", "CSV structure", "leads.csv", lambda: b"\r\n \r\n\t\n", refused(U415, "an empty file")
    ),
    Case("csv-header-only", "CSV structure", "leads.csv", lambda: csv_rows().encode(), rows(0)),
    Case("xlsx-empty-file", "CSV structure", "leads.xlsx", lambda: b"", refused(U415, "an empty file")),
    Case("xlsx-empty-sheet", "CSV structure", "leads.xlsx", lambda: xlsx(""), refused(U400, "the file is empty")),
    # --- JSON
    Case("json-empty-array", "JSON", "leads.json", lambda: b"[]", refused(U400, "holds no records")),
    Case(
        "json-deep-nesting",
        "JSON",
        "leads.json",
        lambda: json_doc(
            rec(), '{"First Name": "A", "Last Name": "B", "Company": ' + "[" * 200_000 + "]" * 200_000 + "}"
        ),
        rows(1, {2: "nested object or list"}),
    ),
    Case(
        "ndjson-deep-nesting",
        "JSON",
        "leads.ndjson",
        lambda: (
            rec() + "\n" + '{"First Name": "A", "Last Name": "B", "Company": ' + "[" * 200_000 + "]" * 200_000 + "}\n"
        ).encode(),
        rows(1, {2: "nested"}),
    ),
    Case(
        "json-huge-integer",
        "JSON",
        "leads.json",
        lambda: json_doc(rec(), rec(Email="b@example.com").replace("}", ', "Employees": ' + "9" * 100_000 + "}")),
        refused(U400, "longer than 4300 digits"),
    ),
    Case(
        "json-huge-exponent",
        "JSON",
        "leads.json",
        lambda: json_doc(rec(), rec(Email="b@example.com").replace("}", ', "Annual Revenue": 1e999999999}')),
        rows(2, warnings={2: "annual_revenue"}),
        mapping={**LEAD_MAPPING, "Annual Revenue": "annual_revenue"},
    ),
    Case(
        "json-nan",
        "JSON",
        "leads.json",
        lambda: json_doc(rec(), rec().replace("}", ', "Employees": NaN}')),
        refused(U400, "NaN and Infinity are not valid JSON"),
    ),
    Case(
        "json-infinity",
        "JSON",
        "leads.json",
        lambda: json_doc(rec().replace("}", ', "Employees": -Infinity}')),
        refused(U400, "NaN and Infinity are not valid JSON"),
    ),
    Case(
        "ndjson-nan",
        "JSON",
        "leads.ndjson",
        lambda: (rec() + "\n" + rec(Email="b@example.com").replace("}", ', "Annual Revenue": NaN}') + "\n").encode(),
        rows(1, {2: "NaN or Infinity"}),
        mapping={**LEAD_MAPPING, "Annual Revenue": "annual_revenue"},
    ),
    Case(
        "json-duplicate-keys",
        "JSON",
        "leads.json",
        lambda: json_doc(
            rec(), '{"First Name": "A", "Last Name": "B", "Email": "x@example.com", "Email": "y@example.com"}'
        ),
        rows(1, {2: "appears more than once"}),
    ),
    Case(
        "json-trailing-garbage",
        "JSON",
        "leads.json",
        lambda: json_doc(rec()) + b" trailing",
        refused(U400, "not valid JSON"),
    ),
    Case("json-truncated", "JSON", "leads.json", lambda: json_doc(rec())[:-5], refused(U400, "not valid JSON")),
    Case("json-not-objects", "JSON", "leads.json", lambda: b"[1, 2, 3]", refused(U415, "its content is text")),
    Case(
        "json-nul-in-key",
        "NUL characters",
        "leads.json",
        lambda: json_doc(rec().replace('"Email"', '"E\\u0000mail"')),
        refused(U400, "NUL character"),
    ),
    Case(
        "xls-nul-in-cell",
        "NUL characters",
        "leads.xls",
        lambda: legacy_xls([["Ada", "Lovelace", "ada@example.com", "X"], ["Bob", "Nul", "bob@example.com", "a\x00b"]]),
        rows(1, {2: "NUL character"}),
    ),
    Case(
        "ndjson-lone-surrogate",
        "JSON",
        "leads.ndjson",
        lambda: (rec() + '\n{"First Name": "A\\ud800", "Last Name": "B", "Email": "b@example.com"}\n').encode(),
        rows(1, {2: "invalid Unicode"}),
    ),
    Case(
        "json-nul-character",
        "NUL characters",
        "leads.json",
        lambda: json_doc(rec(), rec(Email="b@example.com", Company="a\u0000b")),
        rows(1, {2: "NUL character"}),
    ),
    # --- another company inside the file
    Case(
        "csv-company-id-column",
        "tenancy",
        "leads.csv",
        lambda: (
            csv_rows(["Ada", "Lovelace", "ada@example.com", "X", OTHER_COMPANY], header=[*HEADER, "company_id"])
        ).encode(),
        rows(1),
        mapping={**LEAD_MAPPING, "company_id": None},
    ),
    Case(
        "csv-company-id-mapped",
        "tenancy",
        "leads.csv",
        lambda: (
            csv_rows(["Ada", "Lovelace", "ada@example.com", "X", OTHER_COMPANY], header=[*HEADER, "company_id"])
        ).encode(),
        Expect("job_refused", 422, "MappingError", "company_id"),
        mapping={**LEAD_MAPPING, "company_id": "company_id"},
    ),
]

REQUEST_CASES: list[RequestCase] = [
    RequestCase(
        "name-path-traversal", "file names", "../../../../etc/cron.d/leads.csv", rows(2), stored_name="leads.csv"
    ),
    RequestCase("name-windows-traversal", "file names", "..\\..\\Windows\\leads.csv", rows(2), stored_name="leads.csv"),
    RequestCase("name-dot-dot", "file names", "..", refused(U415, "are not supported")),
    RequestCase("name-nul", "file names", "lea\x00ds.csv", refused(U400, "control characters")),
    RequestCase("name-control-characters", "file names", "leads\x1b[31m\x07.csv", refused(U400, "control characters")),
    RequestCase("name-very-long", "file names", "l" * 300 + ".csv", refused(U400, "longer than 255")),
    RequestCase("name-huge", "file names", "l" * 20_000 + ".csv", Expect("refused", 400, "BadRequest", "header size")),
    RequestCase("name-empty", "file names", "", refused(U415, "are not supported")),
    RequestCase("body-oversize", "request bodies", "big.csv", refused(U413, "max_file_bytes"), body="oversize"),
    RequestCase(
        "body-oversize-streamed", "request bodies", "big.csv", refused(U413, "max_file_bytes"), body="oversize_streamed"
    ),
    RequestCase(
        "body-malformed-multipart",
        "request bodies",
        "leads.csv",
        Expect("refused", 400, "BadRequest", "malformed"),
        body="malformed",
    ),
    RequestCase(
        "body-two-files",
        "request bodies",
        "leads.csv",
        Expect("refused", 400, "BadRequest", "exactly one file"),
        body="two_files",
    ),
    RequestCase(
        "body-huge-part-header",
        "request bodies",
        "leads.csv",
        Expect("refused", 400, "BadRequest", "header size"),
        body="huge_header",
    ),
]

_BY_NAME = {c.name: c for c in CASES}
assert len(_BY_NAME) == len(CASES), "case names must be unique"


@cache
def _cached(name: str) -> bytes:
    return _BY_NAME[name].build()


def message_matches(expected: str, message: str) -> bool:
    return any(alt.casefold() in message.casefold() for alt in expected.split("|"))


def mapping_for(case: Case, headers: list[str]) -> dict[str, str | None]:
    chosen = case.mapping if case.mapping is not None else LEAD_MAPPING
    return {h: f for h, f in chosen.items() if h in headers}
