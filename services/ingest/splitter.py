"""Split an import file into record-batch events: read, map, key and group rows by partition.

Rows are routed by their duplicate-match key, so every row that could duplicate another lands
on the same partition and is applied in file order; each event carries a run of consecutive
rows of one partition (see docs/architecture.md, "Runs of rows per event").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from schemas import events
from schemas.models import TargetModel
from services.cleansing.cleaning import CleanOptions, match_key
from services.core.errors import ValidationRulesError
from services.core.routing import partition_for
from services.ingest.column_sniffing import SAMPLE_ROWS, column_samples, peek_rows
from services.ingest.mapping import CompiledMapping, check_mapping, compile_mapping, default_mapping
from services.ingest.readers import FileFormat, ReaderLimits, SourceInfo, TableReader, open_table
from services.ingest.readers.base import RawRow, ReaderBase

__all__ = ["SplitPlan", "open_import", "split_rows"]


@dataclass
class SplitPlan:
    reader: TableReader
    info: SourceInfo
    mapping: dict[str, str]
    compiled: CompiledMapping

    def close(self) -> None:
        self.reader.close()


def open_import(
    path: Path,
    file_format: str,
    model: TargetModel,
    *,
    display_name: str,
    mapping: dict[str, str] | None,
    options: dict[str, Any],
    limits: ReaderLimits,
) -> SplitPlan:
    """Open the file and settle the mapping; refuses (MappingError, InputFileError) before any row is sent."""
    reader = open_table(
        path,
        cast(FileFormat, file_format),  # open_table refuses any other format
        display_name=display_name,
        sheet=options.get("sheet"),
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        limits=limits,
    )
    try:
        headers = reader.info.headers
        if mapping:
            chosen = dict(mapping)
        else:
            sampled = _sampled(reader, model, options)
            reader, chosen = sampled, sampled.mapping
        check_mapping(model, headers, chosen)
        return SplitPlan(reader, reader.info, chosen, compile_mapping(headers, chosen))
    except BaseException:
        reader.close()
        raise


class _SampledReader(ReaderBase):
    """A reader whose first rows were read to suggest the mapping from their values; rows() yields those
    rows again, then streams the rest, so the file is still read once, front to back."""

    def __init__(self, reader: TableReader, rows: Iterator[RawRow], mapping: dict[str, str]) -> None:
        self._reader, self._rows, self.info, self.mapping = reader, rows, reader.info, mapping

    def rows(self) -> Iterator[RawRow]:
        return self._rows

    def close(self) -> None:
        self._reader.close()


def _sampled(reader: TableReader, model: TargetModel, options: dict[str, Any]) -> _SampledReader:
    """The suggested mapping of a job that has none, from the headers and the first SAMPLE_ROWS rows' values."""
    head, rows = peek_rows(reader.rows(), SAMPLE_ROWS)
    headers = reader.info.headers
    try:  # judged as the job will judge them; a bad option is refused later, where it always was
        clean = CleanOptions(
            date_order=options.get("date_order") or "MDY", phone_region=options.get("phone_region") or "US"
        )
    except ValidationRulesError:
        clean = CleanOptions()
    mapping = default_mapping(
        model,
        headers,
        samples=column_samples(headers, head),
        options=clean,
        accept_suggestions=bool(options.get("accept_suggestions")),
    )
    return _SampledReader(reader, rows, mapping)


@dataclass
class _Run:
    numbers: list[int] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def split_rows(
    plan: SplitPlan,
    model: TargetModel,
    *,
    job_id: str,
    company_id: str,
    partitions: int,
    rows_per_event: int,
    only: frozenset[int] | None = None,
) -> Iterator[tuple[int, events.RecordBatch]]:
    """Yield (partition, record-batch event), rows in file order within each partition.

    ``only``: the row numbers to send (a retry of failed rows); they keep their numbers in the file.
    """
    fields = plan.compiled.fields
    key_at = [fields.index(f) for f in model.match_fields if f in fields]
    apply = plan.compiled.apply
    runs = [_Run() for _ in range(partitions)]

    def event(run: _Run) -> events.RecordBatch:
        columns = [[v or "" for v in col] for col in zip(*run.rows)] if run.rows else [[] for _ in fields]
        return events.record_batch(job_id, company_id, model.name, fields, run.numbers, columns, run.problems)

    for raw in plan.reader.rows():
        if only is not None and raw.number not in only:
            continue
        values = apply(raw.cells)
        key = match_key(model, {fields[i]: values[i] for i in key_at}) if key_at else None
        p = partition_for(key, raw.number, partitions)
        run = runs[p]
        run.numbers.append(raw.number)
        run.rows.append(values)
        if raw.problem:
            run.problems[str(raw.number)] = raw.problem
        if len(run.numbers) >= rows_per_event:
            yield p, event(run)
            runs[p] = _Run()
    for p, run in enumerate(runs):
        if run.numbers:
            yield p, event(run)
