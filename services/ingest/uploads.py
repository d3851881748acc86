"""The upload registry: files stored for a later import, their inspection (headers, first rows, row estimate) and mapping suggestions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from schemas.models import MODELS, TargetModel
from services.cleansing.cleaning import CleanOptions, RecordCleaner
from services.core.errors import UnsupportedFileType
from services.ingest.column_sniffing import SAMPLE_ROWS, column_samples, mapping_flags, peek_rows
from services.ingest.filetype import EXTENSIONS, check_file
from services.ingest.mapping import check_mapping, compile_mapping, confident_mapping, suggest_mapping
from services.ingest.readers import FileFormat, ReaderLimits, open_table
from services.ingest.readers.source import Source, open_binary
from services.jobs import stored_files
from services.jobs.repository import _plain

__all__ = [
    "Inspection",
    "accept_file",
    "inspect_file",
    "suggestions",
    "insert_upload",
    "get_upload",
    "delete_upload",
    "upload_document",
    "preview_records",
]


@dataclass
class Inspection:
    format: FileFormat
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheet_names: list[str]
    headers: list[str]
    rows: list[list[str | None]] = field(default_factory=list)
    row_estimate: int = 0
    row_estimate_exact: bool = True


def accept_file(path: Path, display_name: str) -> FileFormat:
    """The file's format when its name and its content agree; UnsupportedFileType (415) otherwise."""
    _, dot, ext = display_name.rpartition(".")
    declared = EXTENSIONS.get(ext.lower()) if dot else None
    if declared is None:
        raise UnsupportedFileType(
            f"files named like {display_name!r} are not supported; use one of "
            + ", ".join(f".{e}" for e in EXTENSIONS),
            file=display_name,
        )
    # check_file judges the content by magic bytes and structure, never by the client's Content-Type.
    return check_file(path, declared, display_name)


def _count_lines(path: Source) -> int:
    lines = 0
    with open_binary(path) as f:
        while chunk := f.read(1024 * 1024):
            lines += chunk.count(b"\n")
    return lines


def inspect_file(
    path: Source,
    file_format: FileFormat,
    display_name: str,
    *,
    limits: ReaderLimits,
    preview_rows: int,
    count_rows_max: int,
    sheet: str | None = None,
) -> Inspection:
    """Headers, the first ``preview_rows`` rows and the row count (exact up to ``count_rows_max``). Blocking: run in a thread."""
    with open_table(path, file_format, display_name=display_name, sheet=sheet, limits=limits) as reader:
        info = reader.info
        result = Inspection(
            info.format, info.encoding, info.delimiter, info.sheet, list(info.sheet_names), list(info.headers)
        )
        count = 0
        for row in reader.rows():
            count += 1
            if count <= preview_rows:
                result.rows.append(list(row.cells))
            if count >= count_rows_max:
                result.row_estimate_exact = False
                break
    result.row_estimate = count
    if not result.row_estimate_exact and file_format == "csv":
        # Past the exact count, one line per record is the estimate (quoted newlines make it a bit high).
        result.row_estimate = max(count, _count_lines(path) - 1)
    return result


def suggestions(
    headers: Sequence[str],
    memories: Mapping[str, Mapping[str, str]],
    models: Sequence[str | TargetModel] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Per target model (a name, or a company's model with its custom fields), one suggestion per
    header: the field and a confidence (0..1)."""
    targets = [m if isinstance(m, TargetModel) else MODELS[m] for m in (models or list(MODELS))]
    return {
        model.name: [
            {"column": s.column, "field": s.field, "confidence": s.confidence}
            for s in suggest_mapping(model, headers, memories.get(model.name))
        ]
        for model in targets
    }


async def insert_upload(conn: asyncpg.Connection, upload: Mapping[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        INSERT INTO crm_uploads (id, company_id, original_filename, stored_path, file_format, size_bytes, encoding,
                                 delimiter, sheet, sheet_names, headers, row_estimate, row_estimate_exact)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        RETURNING *
        """,
        upload["id"],
        upload["company_id"],
        upload["original_filename"],
        upload["stored_path"],
        upload["file_format"],
        upload["size_bytes"],
        upload.get("encoding"),
        upload.get("delimiter"),
        upload.get("sheet"),
        upload.get("sheet_names") or [],
        upload.get("headers") or [],
        upload.get("row_estimate"),
        upload.get("row_estimate_exact", False),
    )


async def get_upload(conn: asyncpg.Connection, company_id: str, upload_id: str) -> asyncpg.Record | None:
    try:
        uid = uuid.UUID(str(upload_id))
    except ValueError:
        return None
    return await conn.fetchrow("SELECT * FROM crm_uploads WHERE company_id = $1 AND id = $2", company_id, uid)


async def delete_upload(conn: asyncpg.Connection, company_id: str, upload_id: str) -> list[str]:
    """Delete the upload's row; returns its file when no job still names it, for the caller to remove from
    the disk after the transaction commits (jobs made from the upload keep reading it)."""
    row = await conn.fetchrow(
        "DELETE FROM crm_uploads WHERE company_id = $1 AND id = $2 RETURNING stored_path",
        uuid.UUID(str(company_id)),
        uuid.UUID(str(upload_id)),
    )
    return [] if row is None else await stored_files.release(conn, company_id, [row["stored_path"]])


def upload_document(row: asyncpg.Record) -> dict[str, Any]:
    """An upload as JSON; the stored path stays internal."""
    return {k: _plain(v) for k, v in row.items() if k != "stored_path"}


def preview_records(
    path: Source,
    file_format: FileFormat,
    display_name: str,
    *,
    model: TargetModel,
    mapping: Mapping[str, str | None] | None,
    memory: Mapping[str, str] | None,
    rules: Mapping[str, Any] | None,
    options: CleanOptions,
    sheet: str | None,
    rows: int,
    limits: ReaderLimits,
    encoding: str | None = None,
    delimiter: str | None = None,
    cleaner: RecordCleaner | None = None,
    required: bool = True,
) -> dict[str, Any]:
    """The first ``rows`` rows mapped, cleansed and validated, with every issue per cell. Blocking: run in a thread.
    ``required`` False (an update import): required fields may be left unmapped (check_mapping).

    The file is read as the import reads it (``sheet``, ``encoding``, ``delimiter``).
    Without a ``mapping`` the confident suggestions (with the company's ``memory``) are used.
    MappingError (naming the missing required fields) and ValidationRulesError refuse the whole preview.
    """
    # The job's own cleaner (company picklists, value map, strict) when the caller built it.
    cleaner = cleaner or RecordCleaner(model, rules, options)
    with open_table(
        path, file_format, display_name=display_name, sheet=sheet, encoding=encoding, delimiter=delimiter, limits=limits
    ) as reader:
        headers = reader.info.headers
        # The first rows' values suggest fields too, and show which mapped columns their field would refuse.
        head, file_rows = peek_rows(reader.rows(), SAMPLE_ROWS)
        samples = column_samples(headers, head)
        suggested = suggest_mapping(model, headers, memory, samples, options=options)
        if mapping is None:
            mapping = confident_mapping(suggested)
        check_mapping(model, headers, mapping, required=required)
        compiled = compile_mapping(headers, mapping)
        out: list[dict[str, Any]] = []
        for row in file_rows:
            raw = compiled.record(row.cells)
            cleaned = cleaner.clean(raw)
            issues = [
                {"field": i.field, "value": i.value, "message": i.message, "hint": i.hint, "level": i.level}
                for i in cleaned.issues
            ]
            if row.problem:
                issues.insert(
                    0,
                    {
                        "field": None,
                        "value": None,
                        "message": row.problem,
                        "hint": "correct the row in the file",
                        "level": "error",
                    },
                )
            out.append(
                {
                    "record_number": row.number,
                    "raw": raw,
                    "values": cleaned.values,
                    "issues": issues,
                    "ok": cleaned.ok and not row.problem,
                    "match_key": cleaned.match_key,
                }
            )
            if len(out) >= rows:
                break
    return {
        "target_model": model.name,
        "mapping": {c: f for c, f in mapping.items() if f},
        "fields": list(compiled.fields),
        "rows": out,
        "valid_rows": sum(r["ok"] for r in out),
        "invalid_rows": sum(not r["ok"] for r in out),
        "warning_rows": sum(r["ok"] and bool(r["issues"]) for r in out),
        "mapping_flags": mapping_flags(model, mapping, samples, options=options),
        "suggestions": [
            {"column": s.column, "field": s.field, "confidence": s.confidence, "reason": s.reason} for s in suggested
        ],
    }
