"""File type by content (magic bytes, structure) and the check that name, declared format and content agree."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from services.core.errors import UnsupportedFileType
from services.ingest.readers.base import FileFormat
from services.ingest.readers.encoding import bom_encoding
from services.ingest.readers.package import OLE2_MAGIC, RAW_BIFF_BOF, ZIP_MAGIC, sniff_workbook
from services.ingest.readers.refusals import encrypted
from services.ingest.readers.source import Source, open_binary

__all__ = ["detect_format", "check_file", "EXTENSIONS"]

EXTENSIONS: dict[str, FileFormat] = {
    "csv": "csv",
    "txt": "csv",
    "tsv": "csv",
    "xlsx": "excel",
    "xls": "excel",
    "xlsb": "excel",
    "ods": "excel",
    "json": "json",
    "ndjson": "json",
    "jsonl": "json",
}
_SAMPLE = 64 * 1024
# Leading bytes of common formats that are never tables, with a name for the message.
_FOREIGN: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
_MARKUP = ("<!doctype", "<html", "<?xml", "<svg", "<head", "<body", "<script")
_CONTROL = {chr(c) for c in range(32)} - {"\t", "\n", "\r", "\f"}


def _workbook(path: Source, display_name: str | None) -> tuple[FileFormat | None, str]:
    found = sniff_workbook(path, display_name)
    if found.kind in ("encrypted", "encrypted-ods"):
        # Refused here with the one remedy that works, rather than as a mismatch of formats.
        raise encrypted(display_name, "ods" if found.kind == "encrypted-ods" else "excel")
    if found.macros:
        raise UnsupportedFileType(
            "the file is an Excel workbook with macros (.xlsm), which imports do not accept: save it in Excel "
            'as "Excel Workbook (.xlsx)" (without macros) and upload that file',
            file=display_name,
        )
    return ("excel", found.what) if found.kind != "none" else (None, found.what)


def _utf16_without_bom(head: bytes) -> bool:
    """Text whose every other byte is NUL: UTF-16 (of mostly Latin text) that lacks its byte-order mark."""
    sample = head[:4096]
    pairs = len(sample) // 2
    if pairs < 4:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    return max(even, odd) >= pairs * 0.4 and min(even, odd) <= pairs * 0.05


def _describe(path: Source, display_name: str | None = None) -> tuple[FileFormat | None, str]:
    """The format the content is, or None and what the content looks like instead."""
    with open_binary(path) as f:
        head = f.read(_SAMPLE)
    if not head.strip():
        return None, "an empty file"
    if head.startswith((ZIP_MAGIC, OLE2_MAGIC)) or (head[:2] in RAW_BIFF_BOF and 4 <= head[2] <= 20 and not head[3]):
        return _workbook(path, display_name)
    for magic, what in _FOREIGN:
        if head.startswith(magic):
            return None, what
    encoding = bom_encoding(head)
    if encoding is None and _utf16_without_bom(head):
        return None, "UTF-16 text without a byte-order mark (save it as UTF-8)"
    text = _decode(head, encoding, at_eof=len(head) < _SAMPLE)
    if text is None or "\x00" in text or sum(ch in _CONTROL for ch in text) > len(text) // 100:
        return None, "binary data, not text"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.lower().startswith(_MARKUP):
        # Many systems export "Excel" files that are really one of these two; Excel opens both.
        if "urn:schemas-microsoft-com:office:spreadsheet" in stripped[:_SAMPLE]:
            return None, (
                "an HTML or XML document: an Excel 2003 XML spreadsheet (SpreadsheetML), which is not "
                "read; open it in Excel and save it as .xlsx"
            )
        if "<table" in stripped.lower():
            return None, ("an HTML or XML document: a web page holding a table; open it in Excel and save it as .xlsx")
        return None, "an HTML or XML document"
    if _looks_like_json(stripped):
        return "json", "JSON"
    return "csv", "text"


def _decode(head: bytes, encoding: str | None, *, at_eof: bool) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding or "utf-8")("strict").decode(head, final=at_eof)
    except UnicodeDecodeError:
        if encoding:
            return None
    best = from_bytes(head).best()
    return str(best) if best is not None else None


def _looks_like_json(text: str) -> bool:
    if not text or text[0] not in "[{":
        return False
    rest = text[1:].lstrip()
    # "[" must open an array of objects (or be empty); "{" must open an object with a key.
    return not rest or rest[0] in ("{]" if text[0] == "[" else '"}')


def detect_format(path: Source) -> FileFormat | None:
    """The supported format the file's content is, judged by content only; None if none."""
    try:
        return _describe(path)[0]
    except UnsupportedFileType:  # refused with a remedy by check_file; here simply not a format
        return None


_KIND = {
    "csv": "a CSV (text) file",
    "json": "a JSON or NDJSON file",
    "excel": "a spreadsheet saved as .xlsx, .xls, .xlsb or .ods",
}


def check_file(path: Source, declared: str, display_name: str) -> FileFormat:
    """Refuse (UnsupportedFileType) unless the name's extension, ``declared`` and the content agree."""
    _, dot, ext = display_name.rpartition(".")
    by_name = EXTENSIONS.get(ext.lower()) if dot else None
    accepted = ", ".join(f".{e}" for e in EXTENSIONS)
    if by_name is None:
        raise UnsupportedFileType(
            f"files named like {display_name!r} are not supported; use one of {accepted}",
            file=display_name,
        )
    if by_name != declared:
        raise UnsupportedFileType(
            f"the file name says {by_name} but the import was declared as {declared}; "
            "choose the matching format or rename the file",
            file=display_name,
        )
    found, what = _describe(path, display_name)
    if found is None:
        raise UnsupportedFileType(
            f"the file's content is {what}; upload {_KIND[by_name]}",
            file=display_name,
        )
    if found != declared:
        raise UnsupportedFileType(
            f"the file is named and declared as {declared} but its content is {what}; export it again as {declared}",
            file=display_name,
        )
    return by_name
