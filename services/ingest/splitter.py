"""Split an import file into record-batch events: read, map, key and group rows by partition.

Rows are routed by their duplicate-match key, so every row that could duplicate another lands
on the same partition and is applied in file order; each event carries a run of consecutive
rows of one partition (see docs/architecture.md, "Runs of rows per event").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import crmio_native

from schemas import avro, events
from schemas.models import TargetModel
from services.cleansing.cleaning import CleanOptions, cut_overlong, key_kind, longest_value, match_key
from services.cleansing.job_values import link_choice
from services.core.errors import ValidationRulesError
from services.core.routing import partition_for
from services.ingest.column_sniffing import SAMPLE_ROWS, column_samples, peek_rows
from services.ingest.mapping import CompiledMapping, check_mapping, compile_mapping, default_mapping
from services.ingest.readers import FileFormat, ReaderLimits, SourceInfo, TableReader, open_table
from services.ingest.readers.base import RawRow, ReaderBase
from services.ingest.readers.source import Source

__all__ = ["SplitPlan", "open_import", "split_rows", "split_events"]


@dataclass
class SplitPlan:
    reader: TableReader
    info: SourceInfo
    mapping: dict[str, str]
    compiled: CompiledMapping

    def close(self) -> None:
        self.reader.close()


def open_import(
    path: Source,
    file_format: str,
    model: TargetModel,
    *,
    display_name: str,
    mapping: dict[str, str] | None,
    options: dict[str, Any],
    limits: ReaderLimits,
    required: bool = True,
) -> SplitPlan:
    """Open the file and settle the mapping; refuses (MappingError, InputFileError) before any row is sent.
    ``required`` False: an update import's mapping may leave required fields out (check_mapping)."""
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
        check_mapping(model, headers, chosen, required=required)
        link_choice(model, chosen.values(), options)  # a link to accounts the mapping cannot make is refused too
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
    size: int = 0  # bytes its rows take in the event, at most


# What a row adds to an event besides its text: the varints of its number and of each value's length.
_ROW_OVERHEAD, _VALUE_OVERHEAD = 8, 3


def split_rows(
    plan: SplitPlan,
    model: TargetModel,
    *,
    job_id: str,
    company_id: str,
    partitions: int,
    rows_per_event: int,
    max_event_bytes: int,
    only: frozenset[int] | None = None,
    skip: bytes = b"",
) -> Iterator[tuple[int, events.RecordBatch]]:
    """Yield (partition, record-batch event), rows in file order within each partition.

    An event holds at most ``rows_per_event`` rows and ``max_event_bytes`` bytes of values, so the broker
    takes it whatever the rows hold: a cell its field refuses for its length is cut first (cut_overlong),
    and a row still too big for an event alone travels without its values, as a row error saying so.
    ``only``: the row numbers to send (a retry of failed rows); they keep their numbers in the file.
    ``skip``: a row whose number indexes a non-zero byte is not sent (already in the job's ledger).
    """
    fields = plan.compiled.fields
    key_at = [fields.index(f) for f in model.match_fields if f in fields]
    bounded = [(i, b) for i, f in enumerate(fields) if (b := longest_value(model.field(f))) is not None]
    per_row = _ROW_OVERHEAD + _VALUE_OVERHEAD * len(fields)
    apply = plan.compiled.apply
    runs = [_Run() for _ in range(partitions)]

    def event(run: _Run) -> events.RecordBatch:
        columns = [[v or "" for v in col] for col in zip(*run.rows)] if run.rows else [[] for _ in fields]
        return events.record_batch(job_id, company_id, model.name, fields, run.numbers, columns, run.problems)

    for raw in plan.reader.rows():
        if only is not None and raw.number not in only:
            continue
        if raw.number < len(skip) and skip[raw.number]:
            continue
        values = apply(raw.cells)
        key = match_key(model, {fields[i]: values[i] for i in key_at}) if key_at else None
        for i, longest in bounded:
            v = values[i]
            if v is not None and len(v) > longest:
                values[i] = cut_overlong(v, longest)
        problem = raw.problem
        size = per_row + _text_bytes(values) + (len(problem.encode()) if problem else 0)
        if size > max_event_bytes:
            problem = _too_big(fields, values, size, max_event_bytes)
            values = [None] * len(fields)
            size = per_row + len(problem.encode())
        p = partition_for(key, raw.number, partitions)
        run = runs[p]
        if run.numbers and run.size + size > max_event_bytes:
            yield p, event(run)
            run = runs[p] = _Run()
        run.numbers.append(raw.number)
        run.rows.append(values)
        run.size += size
        if problem:
            run.problems[str(raw.number)] = problem
        if len(run.numbers) >= rows_per_event:
            yield p, event(run)
            runs[p] = _Run()
    for p, run in enumerate(runs):
        if run.numbers:
            yield p, event(run)


# The record-batch version the compiled splitter writes (native/src/splitter.rs).
_NATIVE_SCHEMA = "record_batch.v1"
_CHUNK = 500  # rows handed to the compiled splitter at a time


def split_events(
    plan: SplitPlan,
    model: TargetModel,
    *,
    job_id: str,
    company_id: str,
    partitions: int,
    rows_per_event: int,
    max_event_bytes: int,
    only: frozenset[int] | None = None,
    skip: bytes = b"",
) -> Iterator[tuple[int, int, bytes]]:
    """split_rows's events, encoded: (partition, rows, the framed Avro event), by the compiled splitter
    (native/src/splitter.rs), which writes the same bytes for the same file (tests/unit/test_native_split.py)
    at a third of the CPU (bench/bench_split.py)."""
    latest = avro.latest_version("record_batch")
    if latest != _NATIVE_SCHEMA:  # a programming error: a new version of the schema, the splitter not taught it
        raise RuntimeError(
            f"the compiled splitter writes {_NATIVE_SCHEMA}, not {latest}: update native/src/splitter.rs"
        )
    fields = plan.compiled.fields
    by_name = model.by_name
    splitter = crmio_native.Splitter(
        avro.header("record_batch"),
        job_id,
        company_id,
        model.name,
        list(fields),
        list(plan.compiled.indexes),
        [(fields.index(f), key_kind(by_name[f])) for f in model.match_fields if f in fields],
        [(i, b) for i, f in enumerate(fields) if (b := longest_value(model.field(f))) is not None],
        partitions,
        rows_per_event,
        max_event_bytes,
        lambda raw: match_key(model, raw),
        cut_overlong,
        _too_big,
    )
    chunk: list[RawRow] = []
    for raw in plan.reader.rows():
        if only is not None and raw.number not in only:
            continue
        if raw.number < len(skip) and skip[raw.number]:
            continue
        chunk.append(raw)
        if len(chunk) >= _CHUNK:
            yield from splitter.add(chunk)
            chunk = []
    yield from splitter.add(chunk)
    yield from splitter.finish()


def _text_bytes(values: list[str | None]) -> int:
    """The bytes of the row's values in UTF-8: one join, and an encode only when the text is not ASCII
    (encoding each value took 2.7 µs a row of 22 values, the join 0.6)."""
    text = "".join(filter(None, values))
    return len(text) if text.isascii() else len(text.encode())


def _too_big(fields: Sequence[str], values: list[str | None], size: int, limit: int) -> str:
    longest = max(range(len(fields)), key=lambda i: len(values[i] or ""))
    return (
        f"the row's values take {size} bytes, more than a record event carries ({limit}, the max_event_bytes "
        f"setting), so none was imported; the longest is {fields[longest]} ({len(values[longest] or '')} "
        "characters): shorten it"
    )
