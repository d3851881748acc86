"""Streaming table readers for CSV, Excel (.xlsx, legacy .xls) and JSON/NDJSON, behind one API."""

from __future__ import annotations

import os

from services.errors import ConfigurationError, UnsupportedFileType
from services.readers.base import FileFormat, RawRow, ReaderLimits, SourceInfo, TableReader

__all__ = ["FileFormat", "ReaderLimits", "SourceInfo", "RawRow", "TableReader", "open_table", "check_xml_safety"]

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def check_xml_safety() -> None:
    """Fail at start (ConfigurationError) unless defusedxml guards the workbook XML parsed as a tree."""
    try:
        import defusedxml.ElementTree  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"defusedxml is not importable ({exc}); install it (pip install defusedxml): without it "
            "workbook XML could expand entities or fetch external files"
        ) from None


# Checked when the readers are imported: the API and the worker import them while starting.
check_xml_safety()


def open_table(
    path: str | os.PathLike[str],
    file_format: FileFormat,
    *,
    display_name: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    limits: ReaderLimits = ReaderLimits(),
) -> TableReader:
    """Open ``path`` as ``file_format``; the reader is a context manager whose ``rows()`` streams once.

    ``display_name`` (the user's file name) is what error messages name. Excel picks .xlsx or
    legacy .xls by content. Raises InputFileError (or a subclass) when the file cannot be read.
    """
    name = display_name or os.path.basename(os.fspath(path))
    if file_format == "csv":
        from services.readers.csv_reader import CsvReader

        return CsvReader(path, display_name=name, encoding=encoding, delimiter=delimiter, limits=limits)
    if file_format == "json":
        from services.readers.json_reader import JsonReader

        return JsonReader(path, display_name=name, limits=limits)
    if file_format == "excel":
        with open(path, "rb") as f:
            magic = f.read(8)
        if magic.startswith(_ZIP):
            from services.readers.xlsx_reader import XlsxReader

            return XlsxReader(path, display_name=name, sheet=sheet, limits=limits)
        if magic == _OLE2:
            from services.readers.xls_reader import XlsReader

            return XlsReader(path, display_name=name, sheet=sheet, limits=limits)
        raise UnsupportedFileType(
            "the file is not an Excel workbook (.xlsx or .xls); save it from Excel and try again",
            file=name,
        )
    raise UnsupportedFileType(f"unsupported file format {file_format!r}; use csv, excel or json", file=name)
