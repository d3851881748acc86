"""Which workbook a file is, by content: .xlsx/.xlsm, .xlsb, .ods, legacy .xls, or an encrypted one.

Shared by the reader dispatch and the upload check so both decide the same way.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Literal

from services.core.errors import FileTooLarge
from services.ingest.readers.ole2 import ENCRYPTED_PACKAGE, inspect_ole2
from services.ingest.readers.source import Source, local_file, open_binary

__all__ = ["Sniffed", "sniff_workbook", "ZIP_MAGIC", "OLE2_MAGIC", "RAW_BIFF_BOF"]

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
RAW_BIFF_BOF = frozenset({b"\x09\x00", b"\x09\x02", b"\x09\x04", b"\x09\x08"})
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_OFFICE_DOCUMENT = re.compile(rb"<(?:[\w.-]+:)?Relationship\b[^>]*>")
_ATTR_TYPE = re.compile(rb'\bType\s*=\s*["\']([^"\']*)["\']')
_ATTR_TARGET = re.compile(rb'\bTarget\s*=\s*["\']([^"\']*)["\']')
# Small parts read to decide; more is read no further (a zip bomb would unpack here).
_SMALL_PART = 1024 * 1024

Kind = Literal["xlsx", "xlsb", "ods", "xls", "encrypted", "encrypted-ods", "none"]


@dataclass(frozen=True)
class Sniffed:
    kind: Kind
    what: str  # for "none": what the content is instead, for messages
    macros: bool = False
    workbook_part: str | None = None


def _read_small(z: zipfile.ZipFile, name: str, file: str | None) -> bytes:
    with z.open(name) as f:
        data = f.read(_SMALL_PART + 1)
    if len(data) > _SMALL_PART:
        raise FileTooLarge(
            f"the workbook part {name} unpacks to more than {_SMALL_PART} bytes, which no real workbook "
            "needs: it looks like a zip bomb, so the file was refused",
            file=file,
        )
    return data


def _office_document(rels: bytes) -> str | None:
    """The package's main part named by _rels/.rels (it may sit in any folder)."""
    for rel in _OFFICE_DOCUMENT.findall(rels):
        kind = _ATTR_TYPE.search(rel)
        target = _ATTR_TARGET.search(rel)
        if kind and target and kind.group(1).endswith(b"/officeDocument"):
            return posixpath.normpath(target.group(1).decode("utf-8", "replace").lstrip("/"))
    return None


def _sniff_zip(path: Source, file: str | None) -> Sniffed:
    try:
        with open_binary(path) as raw, zipfile.ZipFile(raw) as z:
            names = {n.replace("\\", "/").lower(): n for n in z.namelist()}
            if "mimetype" in names and _read_small(z, names["mimetype"], file).strip() == _ODS_MIME:
                manifest = names.get("meta-inf/manifest.xml")
                if manifest and b"encryption-data" in _read_small(z, manifest, file):
                    return Sniffed("encrypted-ods", "a password-protected OpenDocument spreadsheet")
                return Sniffed("ods", "an OpenDocument spreadsheet", workbook_part="content.xml")
            if "mimetype" in names:
                return Sniffed("none", "an OpenDocument file that is not a spreadsheet (a text or slide document)")
            if "index/document.iwa" in names:
                return Sniffed("none", "an Apple Numbers document (export it from Numbers as Excel .xlsx)")
            if "word/document.xml" in names:
                return Sniffed("none", "a Word document, not an Excel workbook")
            if "ppt/presentation.xml" in names:
                return Sniffed("none", "a PowerPoint presentation, not an Excel workbook")
            if "[content_types].xml" not in names:
                return Sniffed("none", "a zip archive that is not an Excel workbook")
            rels = _read_small(z, names["_rels/.rels"], file) if "_rels/.rels" in names else b""
            part = _office_document(rels) or "xl/workbook.xml"
            found = names.get(part.lower())
            if found is None:
                # Some writers omit _rels/.rels; the conventional places are tried.
                found = names.get("xl/workbook.xml") or names.get("xl/workbook.bin")
            if found is None:
                return Sniffed("none", "a zip archive that is not an Excel workbook (a Word or PowerPoint file?)")
            content_types = _read_small(z, names["[content_types].xml"], file)
            kind: Kind = "xlsb" if found.lower().endswith(".bin") else "xlsx"
            # Macro-enabled .xlsx content (.xlsm) is refused by policy; .xlsb has one content type
            # (it says macroEnabled) whether or not it holds VBA, and its macros are never run here.
            macros = kind == "xlsx" and ("xl/vbaproject.bin" in names or b"macroEnabled" in content_types)
            return Sniffed(
                kind,
                "an Excel binary workbook" if kind == "xlsb" else "an Excel workbook",
                macros=macros,
                workbook_part=found,
            )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, NotImplementedError):
        return Sniffed(
            "none", "a damaged zip archive (an incomplete download or a damaged copy: download or save it again)"
        )


def sniff_workbook(path: Source, file: str | None = None) -> Sniffed:
    """What workbook ``path`` holds; ``file`` (the user's name) is what a refusal names."""
    with open_binary(path) as f:
        magic = f.read(8)
    if magic.startswith(ZIP_MAGIC):
        return _sniff_zip(path, file)
    if magic == OLE2_MAGIC:
        with local_file(path) as local:  # xlrd walks the OLE2 directory of a local file
            streams, xls_encrypted = inspect_ole2(local)
        if xls_encrypted or (streams is not None and streams & ENCRYPTED_PACKAGE):
            return Sniffed("encrypted", "a password-protected Excel workbook")
        if streams is None or streams & {"workbook", "book"}:
            # A directory xlrd cannot walk may still hold a readable workbook (calamine reads some).
            return Sniffed("xls", "a legacy Excel workbook")
        return Sniffed("none", "an Office document that is not an Excel workbook (a Word or PowerPoint file?)")
    if magic[:2] in RAW_BIFF_BOF and 4 <= int.from_bytes(magic[2:4], "little") <= 20:
        # Excel 2.x-4.x wrote a bare BIFF stream, no OLE2 container; xlrd reads those.
        return Sniffed("xls", "a legacy Excel (2.x-4.x) worksheet")
    return Sniffed("none", "neither an Excel nor an OpenDocument workbook")
