"""Exports: filtered, sorted model rows streamed from PostgreSQL into CSV, XLSX, JSON/NDJSON or PDF files."""

from services.exports.formats import open_writer
from services.exports.job import run_export_request
from services.exports.query import ExportError, ExportTooLarge, build_query, check_filters, check_sort, export_fields
from services.exports.runner import ExportSpec, export_spec, run_export
from services.exports.submit import submit_export
from services.exports.writers import ExportMeta

__all__ = [
    "ExportError",
    "ExportTooLarge",
    "ExportMeta",
    "ExportSpec",
    "build_query",
    "check_filters",
    "check_sort",
    "export_fields",
    "export_spec",
    "open_writer",
    "run_export",
    "run_export_request",
    "submit_export",
]
