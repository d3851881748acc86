"""Workbook structure of an .xlsx: sheets in order, their parts, shared strings and date styles."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

from services.core.errors import InputFileError
from services.ingest.readers.cellvalue import FormatKind, format_kind
from services.ingest.readers.zipguard import GuardedZip

__all__ = ["Book", "read_book", "SheetRef", "builtin_format_kind"]

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_STRICT_MAIN = "{http://purl.oclc.org/ooxml/spreadsheetml/main}"

# Built-in number formats whose code the file does not state: the locale-dependent date ids
# (27-36, 50-58: East Asian calendars; 71-81: Thai) have no code in openpyxl's table.
_BUILTIN_DATES = frozenset([*range(14, 18), 22, *range(27, 37), *range(50, 59), *range(71, 82)])
_BUILTIN_TIMES = frozenset([18, 19, 20, 21, 45, 47])
_BUILTIN_DURATION = 46  # [h]:mm:ss


def builtin_format_kind(format_id: int) -> FormatKind | None:
    if format_id == _BUILTIN_DURATION:
        return "duration"
    if format_id in _BUILTIN_DATES:
        return "date"
    return "time" if format_id in _BUILTIN_TIMES else None


@dataclass(frozen=True)
class SheetRef:
    name: str
    part: str


@dataclass(frozen=True)
class Book:
    sheets: list[SheetRef]
    shared_strings_part: str | None
    date_styles: dict[str, FormatKind]  # cellXfs index (as in s="...") -> how its numbers read as dates
    date1904: bool


def _xml(z: GuardedZip, part: str, file: str) -> Element:
    try:
        root: Element = fromstring(z.read(part))
        return root
    except InputFileError:
        raise
    except Exception as exc:  # defusedxml and expat raise several unrelated types
        raise InputFileError(
            f"the workbook part {part} cannot be read ({exc}); open and save the file in Excel",
            file=file,
        ) from None


def _rels(z: GuardedZip, owner: str, file: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, resolved part name) for the part ``owner``."""
    folder, base = posixpath.split(owner.replace("\\", "/"))
    rels_part = z.find(posixpath.join(folder, "_rels", base + ".rels"))
    if rels_part is None:
        return {}
    result: dict[str, tuple[str, str]] = {}
    for rel in _xml(z, rels_part, file).iter(f"{_PKG_REL}Relationship"):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        result[rel.get("Id", "")] = (rel.get("Type", ""), path)
    return result


def _date_styles(z: GuardedZip, part: str | None, file: str) -> dict[str, FormatKind]:
    if part is None:
        return {}
    root = _xml(z, part, file)
    formats: dict[int, str] = {}
    for ns in (_MAIN, _STRICT_MAIN):
        for fmt in root.iter(f"{ns}numFmt"):
            try:
                formats[int(fmt.get("numFmtId", ""))] = fmt.get("formatCode", "")
            except ValueError:
                continue
    styles: dict[str, FormatKind] = {}
    for ns in (_MAIN, _STRICT_MAIN):
        xfs = root.find(f"{ns}cellXfs")
        if xfs is None:
            continue
        for index, xf in enumerate(xfs.findall(f"{ns}xf")):
            try:
                format_id = int(xf.get("numFmtId", "0"))
            except ValueError:
                continue
            # A code the file states wins, even over a built-in id (producers redefine 14-22).
            code = formats.get(format_id)
            kind = format_kind(code) if code is not None else builtin_format_kind(format_id)
            if kind:
                styles[str(index)] = kind
    return styles


def read_book(z: GuardedZip, file: str) -> Book:
    if z.find("[Content_Types].xml") is None:
        raise InputFileError("the file is a zip archive but not an Excel workbook (.xlsx)", file=file)
    workbook = None
    for rel_type, path in _rels(z, "", file).values():
        if rel_type.endswith("/officeDocument"):
            workbook = z.find(path)
    workbook = workbook or z.find("xl/workbook.xml")
    if workbook is None:
        raise InputFileError("the file is a zip archive but not an Excel workbook (.xlsx)", file=file)
    root = _xml(z, workbook, file)
    rels = _rels(z, workbook, file)
    sheets: list[SheetRef] = []
    date1904 = False
    for ns in (_MAIN, _STRICT_MAIN):
        pr = root.find(f"{ns}workbookPr")
        if pr is not None and pr.get("date1904", "").lower() in ("1", "true"):
            date1904 = True
        for sheet in root.iter(f"{ns}sheet"):
            rid = sheet.get(f"{_DOC_REL}id") or sheet.get("{http://purl.oclc.org/ooxml/officeDocument/relationships}id")
            rel = rels.get(rid or "")
            part = z.find(rel[1]) if rel else None
            # Chart sheets and dialog sheets have no cell data: only worksheets are listed.
            if rel and part and rel[0].endswith("/worksheet"):
                sheets.append(SheetRef(sheet.get("name", ""), part))
    if not sheets:
        raise InputFileError("the workbook has no worksheet", file=file)
    by_type = {t.rsplit("/", 1)[-1]: z.find(p) for t, p in rels.values()}
    # Some writers leave the shared strings or styles out of the relationships; Excel still
    # finds them at their usual names beside the workbook part.
    folder = posixpath.dirname(workbook.replace("\\", "/"))
    strings = by_type.get("sharedStrings") or z.find(posixpath.join(folder, "sharedStrings.xml"))
    styles = by_type.get("styles") or z.find(posixpath.join(folder, "styles.xml"))
    return Book(
        sheets=sheets,
        shared_strings_part=strings,
        date_styles=_date_styles(z, styles, file),
        date1904=date1904,
    )
