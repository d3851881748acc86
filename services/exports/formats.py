"""The writer of each export format: csv, excel, json, pdf."""

from __future__ import annotations

from services.exports.writers import EXTENSIONS, ExportWriter

__all__ = ["open_writer"]


def open_writer(file_format: str) -> ExportWriter:
    """A fresh writer for csv | excel | json | pdf."""
    # Imported here: each format pulls in its own library (reportlab only for PDF).
    if file_format == "csv":
        from services.exports.csv_writer import CsvWriter

        return CsvWriter()
    if file_format == "excel":
        from services.exports.xlsx_writer import XlsxWriter

        return XlsxWriter()
    if file_format == "json":
        from services.exports.json_writer import JsonWriter

        return JsonWriter()
    if file_format == "pdf":
        from services.exports.pdf_writer import PdfWriter

        return PdfWriter()
    raise ValueError(f"unknown export format {file_format!r}; use one of {', '.join(EXTENSIONS)}")
