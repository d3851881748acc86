"""Result files of an import for the API and the CLI: which lines, in which format, streamed.

``open_result`` checks the job (the caller's company only; another company's job is NotFound)
and returns a ResultFile that streams CSV chunks or writes a file. Lines are produced page by
page (``page_rows`` rows, one short tenant transaction each); the job's file is re-read forward
in a thread, and the .xlsx is written in a thread, so the API's event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import asyncpg

from schemas.models import TargetModel, get_model
from services.core.db import tenant
from services.core.errors import NotFound
from services.core.settings import Settings
from services.jobs import ledger_repository, log_repository
from services.jobs import repository as jobs
from services.result_files.cells import neutralize
from services.result_files.issues import ISSUE_COLUMNS, RowIssues, columns_by_field, row_issues
from services.result_files.source import JobSource, open_job_source
from services.result_files.writers import Line, XlsxResultWriter, csv_chunk, csv_header

__all__ = ["KINDS", "FORMATS", "MEDIA_TYPES", "ResultFile", "open_result"]

KINDS = ("success", "errors")
FORMATS = ("csv", "excel")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "excel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_EXT = {"csv": ".csv", "excel": ".xlsx"}
SUCCESS_COLUMNS = ("row", "outcome", "record_id", "match_key")

# The fields that tell a person which record a success line is about (the match fields come first).
MAIN_FIELDS: dict[str, tuple[str, ...]] = {
    "lead": ("email", "first_name", "last_name", "company"),
    "contact": ("email", "first_name", "last_name", "account"),
    "account": ("website", "name"),
}


def main_fields(model: TargetModel) -> tuple[str, ...]:
    return tuple(f for f in MAIN_FIELDS.get(model.name, model.match_fields) if f in model.by_name)


def _cell(value: Any) -> str:
    return neutralize("" if value is None else str(value))


@dataclass
class ResultFile:
    settings: Settings
    pool: asyncpg.Pool
    company_id: str
    job: Any
    kind: str
    fmt: str
    page_rows: int = 2000

    @property
    def model(self) -> TargetModel:
        return get_model(self.job["target_model"])

    @property
    def filename(self) -> str:
        stem = PurePosixPath(self.job["original_filename"] or "import").stem or "import"
        return f"{stem}-{self.kind}{_EXT[self.fmt]}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    # --- lines ------------------------------------------------------------------------------

    async def _success(self) -> tuple[list[str], AsyncIterator[list[Line]]]:
        fields = main_fields(self.model)
        job_id = uuid.UUID(str(self.job["id"]))

        async def pages() -> AsyncIterator[list[Line]]:
            after = 0
            while True:
                async with tenant(self.pool, self.company_id) as conn:
                    page = await ledger_repository.success_page(
                        conn, self.company_id, job_id, self.model, fields, after, self.page_rows
                    )
                if not page:
                    return
                yield [
                    (
                        [
                            str(r["record_number"]),
                            r["outcome"],
                            _cell(r["record_id"]),
                            _cell(r["match_key"]),
                            *(_cell(r[f]) for f in fields),
                        ],
                        {},
                    )
                    for r in page
                ]
                after = page[-1]["record_number"]

        return [*SUCCESS_COLUMNS, *fields], pages()

    async def _issue_rows(self) -> AsyncIterator[list[RowIssues]]:
        """Pages of rows with issues, each row's logs grouped (a group may straddle two pages)."""
        job_id = uuid.UUID(str(self.job["id"]))
        after = (0, 0)
        pending: list[Any] = []
        while True:
            async with tenant(self.pool, self.company_id) as conn:
                page = await log_repository.issue_page(conn, self.company_id, job_id, after, self.page_rows)
            if not page:
                break
            after = (page[-1]["record_number"], page[-1]["id"])
            groups: list[RowIssues] = []
            for log in page:
                if pending and pending[0]["record_number"] != log["record_number"]:
                    groups.append(row_issues(pending))
                    pending = []
                pending.append(log)
            if groups:
                yield groups
        if pending:
            yield [row_issues(pending)]

    async def _errors(self) -> tuple[list[str], AsyncIterator[list[Line]]]:
        from services.ingest.reader_limits import reader_limits  # the import's own limits (late: pipeline is heavy)

        source = await asyncio.to_thread(open_job_source, self.settings, self.job, reader_limits(self.settings))
        mapping = self.job["field_mapping"] or {}
        if source is not None:
            headers = source.headers
        else:  # the file was purged: the mapped columns, from the values the logs kept
            order = {f: i for i, f in enumerate(self.model.field_names)}
            headers = sorted((h for h, f in mapping.items() if f), key=lambda h: order.get(mapping[h], len(order)))
        by_field = columns_by_field(headers, mapping)
        offset = len(ISSUE_COLUMNS)
        shifted = {f: [offset + i for i in idx] for f, idx in by_field.items()}

        async def pages(source: JobSource | None = source) -> AsyncIterator[list[Line]]:
            try:
                async for rows in self._issue_rows():
                    cells: dict[int, list[str | None]] = {}
                    if source is not None:
                        cells = await asyncio.to_thread(source.take, [r.number for r in rows])
                    yield [self._error_line(r, headers, cells.get(r.number), shifted) for r in rows]
            finally:
                if source is not None:
                    source.close()

        return [*ISSUE_COLUMNS, *headers], pages()

    def _error_line(
        self, row: RowIssues, headers: list[str], cells: list[str | None] | None, marks_by_field: dict[str, list[int]]
    ) -> Line:
        if cells is None:  # no stored file (or the row is not in it): the mapped values the log kept
            values = row.values
            mapping = self.job["field_mapping"] or {}
            cells = [values.get(mapping.get(h) or "") for h in headers]
        original = [_cell(c) for c in cells] + [""] * (len(headers) - len(cells))
        return [_cell(c) for c in row.columns()] + original, row.marks(marks_by_field)

    async def lines(self) -> tuple[list[str], AsyncIterator[list[Line]]]:
        return await (self._success() if self.kind == "success" else self._errors())

    # --- output -----------------------------------------------------------------------------

    async def csv_chunks(self) -> AsyncIterator[bytes]:
        columns, pages = await self.lines()
        yield csv_header(columns).encode()
        async for page in pages:
            yield csv_chunk(page).encode()

    async def write_to(self, path: Path) -> int:
        """Write the file to ``path`` (CSV or .xlsx); returns the number of lines under the header."""
        columns, pages = await self.lines()
        count = 0
        if self.fmt == "csv":
            with path.open("w", encoding="utf-8", newline="") as f:
                f.write(csv_header(columns))
                async for page in pages:
                    f.write(csv_chunk(page))
                    count += len(page)
            return count
        title = "Success" if self.kind == "success" else "Errors"
        writer = await asyncio.to_thread(XlsxResultWriter, path, title, columns)
        async for page in pages:
            await asyncio.to_thread(writer.write, page)
            count += len(page)
        await asyncio.to_thread(writer.close)
        return count


async def open_result(
    settings: Settings, pool: asyncpg.Pool, company_id: str, job_id: str, kind: str, fmt: str
) -> ResultFile:
    """The result file ``kind`` (success | errors) of import ``job_id`` of the company, as ``fmt`` (csv | excel)."""
    if kind not in KINDS:
        raise NotFound(f"no result file {kind!r}: use one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise NotFound(f"no result format {fmt!r}: use one of {', '.join(FORMATS)}")
    async with tenant(pool, company_id) as conn:
        job = await jobs.require_job(conn, company_id, job_id)
    if job["job_type"] != "import":
        raise NotFound(f"job {job_id} is an {job['job_type']}; only imports have result files")
    return ResultFile(settings, pool, company_id, job, kind, fmt)
