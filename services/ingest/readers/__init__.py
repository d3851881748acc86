"""Table readers for CSV, workbooks (.xlsx, .xlsm, .xlsb, legacy .xls, .ods) and JSON/NDJSON, behind one API."""

from __future__ import annotations

from services.core.errors import ConfigurationError, InputFileError, UnsupportedFileType
from services.ingest.readers.base import FileFormat, RawRow, ReaderLimits, SourceInfo, TableReader
from services.ingest.readers.package import sniff_workbook
from services.ingest.readers.refusals import encrypted
from services.ingest.readers.source import Source, local_file, name_of

__all__ = [
    "FileFormat",
    "ReaderLimits",
    "SourceInfo",
    "RawRow",
    "TableReader",
    "Source",
    "open_table",
    "check_xml_safety",
]


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
    path: Source,
    file_format: FileFormat,
    *,
    display_name: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    limits: ReaderLimits = ReaderLimits(),
) -> TableReader:
    """Open ``path`` as ``file_format``; the reader is a context manager whose ``rows()`` streams once.

    ``display_name`` (the user's file name) is what error messages name. Excel picks the
    workbook kind (.xlsx, .xlsb, .xls, .ods) by content. Raises InputFileError (or a subclass) when the file cannot be read.
    """
    name = display_name or name_of(path)
    if file_format == "csv":
        from services.ingest.readers.csv_reader import CsvReader

        return CsvReader(path, display_name=name, encoding=encoding, delimiter=delimiter, limits=limits)
    if file_format == "json":
        from services.ingest.readers.json_reader import JsonReader

        return JsonReader(path, display_name=name, limits=limits)
    if file_format == "excel":
        found = sniff_workbook(path, name)
        if found.kind == "xlsx":
            from services.ingest.readers.xlsx_reader import XlsxReader

            return XlsxReader(path, display_name=name, sheet=sheet, limits=limits)
        if found.kind in ("xls", "ods", "xlsb"):
            # Read whole by their libraries as they open: a stored object is spilled to a local scratch
            # file for the opening only.
            with local_file(path) as local:
                return _held(local, found.kind, name, sheet, limits)
        if found.kind in ("encrypted", "encrypted-ods"):
            raise encrypted(name, "ods" if found.kind == "encrypted-ods" else "excel")
        raise UnsupportedFileType(
            f"the file's content is {found.what}; this import reads workbooks saved as .xlsx, .xls, .xlsb "
            "or .ods: save it from Excel or LibreOffice as .xlsx and try again",
            file=name,
        )
    raise UnsupportedFileType(f"unsupported file format {file_format!r}; use csv, excel or json", file=name)


def _held(path: str, kind: str, name: str, sheet: str | None, limits: ReaderLimits) -> TableReader:
    from services.ingest.readers.held_reader import HeldReader

    if kind != "xls":
        return HeldReader(path, "ods" if kind == "ods" else "xlsb", display_name=name, sheet=sheet, limits=limits)
    from services.ingest.readers.xls_reader import DamagedXls, XlsReader

    try:
        return XlsReader(path, display_name=name, sheet=sheet, limits=limits)
    except DamagedXls as damaged:
        # calamine reads some files xlrd cannot (e.g. a wrong shared-string count); when it
        # cannot either, xlrd's refusal is the one reported.
        try:
            return HeldReader(path, "xls", display_name=name, sheet=sheet, limits=limits)
        except InputFileError:
            raise damaged from None
