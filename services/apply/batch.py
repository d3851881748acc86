"""Apply one batch of an import's rows to PostgreSQL in one transaction: resolve duplicates,
write records, ledger rows (with before-images) and per-record logs.

The decision (``plan_batch``) is a pure function; ``apply_rows`` wraps it with the reads and
writes. The ledger, keyed by (job_id, record_number), is written in the same transaction as the
records, so a replayed batch finds its rows there and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from asyncpg.pgproto.pgproto import UUID as PgUUID
from crmio_native import uuid7s

from schemas.models import TargetModel, get_model
from services.apply.account_links import (
    AccountLinks,
    AccountWrites,
    LinkPlan,
    complete_accounts,
    resolve_accounts,
)
from services.cleansing.cleaning import EXTERNAL_KEY, CleanedRecord, Issue, PartialDate, RecordCleaner, match_key
from services.cleansing.picklist_store import add_values_from_import
from services.core.db import MappedRows, copy_rows
from services.core.routing import partition_for
from services.jobs import ledger_repository, log_repository
from services.jobs import repository as jobs

__all__ = [
    "DuplicateHandling",
    "JobContext",
    "SourceRow",
    "BatchResult",
    "Plan",
    "plan_batch",
    "Cleaned",
    "clean_rows",
    "apply_rows",
    "record_failures",
    "describe_issues",
]

DuplicateHandling = Literal["skip", "update", "create_new"]
# Record ids need uniqueness, not secrecy (every read is scoped to the company); os.urandom per row cost 1 us.
_random = random.Random()


@dataclass(frozen=True, slots=True)
class JobContext:
    job_id: str
    company_id: str
    model: TargetModel
    duplicate_handling: DuplicateHandling
    cleaner: RecordCleaner
    # Partition count of crm.import.records: a key's partition is also its lock (see _lock_keys).
    partitions: int = 1
    # Validate and resolve duplicates for every row, write outcomes and logs, no CRM record.
    dry_run: bool = False
    # A contacts import that links each contact to its account (services.apply.account_links).
    links: AccountLinks | None = None


@dataclass(slots=True)  # not frozen: a frozen dataclass costs twice as much to build, once per row read
class SourceRow:
    number: int
    raw: dict[str, str | None]  # target field -> raw value from the file
    problem: str | None = None  # row-level problem found while reading


@dataclass(slots=True)
class BatchResult:
    numbers: list[int] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    replayed: list[int] = field(default_factory=list)
    # Set (and nothing applied) when this batch would take the job past its error policy's max_errors.
    stop: str | None = None

    def add(self, number: int, outcome: str, error: str | None = None) -> None:
        self.numbers.append(number)
        self.outcomes.append(outcome)
        if error:
            self.errors[str(number)] = error


@dataclass(slots=True)
class _Current:
    id: uuid.UUID
    values: dict[str, Any]
    version: int
    new: bool  # created in this batch (still an insert)


@dataclass(slots=True)
class Plan:
    inserts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # id -> values (+ match_key)
    keys: dict[uuid.UUID, str | None] = field(default_factory=dict)  # id of an insert -> the key the job matched it by
    updates: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # id -> merged values
    versions: dict[uuid.UUID, int] = field(default_factory=dict)  # id -> version after the batch
    # (number, outcome, record_id, before_image)
    ledger: list[tuple[int, str, uuid.UUID | None, dict[str, Any] | None]] = field(default_factory=list)
    # (number, level, message, record_data, field)
    logs: list[tuple[int, str, str, dict[str, Any], str | None]] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)


def new_ids(n: int) -> list[uuid.UUID]:
    """``n`` time-ordered UUIDs (version 7 layout: the millisecond, then 74 random bits): new records land at the
    right edge of the primary-key index instead of on random pages. asyncpg's own UUID (a uuid.UUID, built in C
    from its 16 bytes), which COPY writes as it is; made in compiled code (native/src/ids.rs), 0.1 µs an id
    where Python's bit operations took 0.9."""
    made: list[uuid.UUID] = uuid7s(time.time_ns() // 1_000_000, _random.randbytes(10 * n), PgUUID)
    return made


def new_id() -> uuid.UUID:
    return new_ids(1)[0]


def describe_issues(number: int, issues: list[Issue]) -> str:
    """One line a user can act on: the row, each field, what is wrong and how to fix it."""
    parts = [f"{i.field}: {i.message}" + (f" (fix: {i.hint})" if i.hint else "") for i in issues]
    return f"row {number}: " + "; ".join(parts)


def _record_data(row: SourceRow, issues: list[Issue]) -> dict[str, Any]:
    return {
        "values": {k: v for k, v in row.raw.items() if v not in (None, "")},
        "issues": [
            {"field": i.field, "value": i.value, "message": i.message, "hint": i.hint, "level": i.level} for i in issues
        ],
    }


def _precisions(values: dict[str, Any], dates: Collection[str] | None = None) -> dict[str, str]:
    """Date fields holding a year or a month: field -> "year" | "month" (the record's date_precision).
    ``dates``: the fields that can hold a date (None: any); most imports map none, and skip the look."""
    if dates is None:
        return {k: v.precision for k, v in values.items() if v.__class__ is PartialDate}
    return {k: v.precision for k in dates if (v := values.get(k)).__class__ is PartialDate}


def _merged_precision(
    stored: dict[str, str] | None, changes: dict[str, Any], dates: Collection[str] | None = None
) -> dict[str, str] | None:
    """A record's date_precision after an update: a field given a new value takes that value's
    precision (a full date removes the field's entry); other fields keep theirs. None when all are full."""
    merged = {k: p for k, p in stored.items() if k not in changes} if stored else {}
    merged.update(_precisions(changes, dates))
    return merged or None


def _full_dates(values: dict[str, Any]) -> dict[str, Any]:
    """A before-image holds partial dates as their first day (the date column's value) beside its
    date_precision, so that rollback can cast it back to the columns."""
    return {k: v.full() if v.__class__ is PartialDate else v for k, v in values.items()}


def _fail(plan: Plan, row: SourceRow, errs: list[Issue], issues: list[Issue]) -> None:
    message = describe_issues(row.number, errs)
    plan.ledger.append((row.number, "failed", None, None))
    plan.logs.append((row.number, "error", message, _record_data(row, issues), errs[0].field))
    plan.errors[row.number] = message


def _needed_to_create(model: str, name: str, row: SourceRow) -> Issue:
    return Issue(
        name,
        row.raw.get(name),
        f"{name} is required to create a {model}, and this row matches no stored {model} to update",
        f"fill in {name}, or correct the row's match key so that it names a stored {model}",
        "error",
    )


def _external_id_taken(model: str, value: str, holder: uuid.UUID) -> Issue:
    return Issue(
        "external_id",
        value,
        f"{value!r} is already the external_id of another {model} (record {holder}); external ids are unique",
        "give each record its own external id, or import with match_on external_id to update that record",
        "error",
    )


def plan_batch(
    mode: DuplicateHandling,
    rows: list[tuple[SourceRow, CleanedRecord]],
    existing: dict[str, dict[str, Any]],
    *,
    taken: dict[str, uuid.UUID] | None = None,
    stored_key: Callable[[dict[str, Any]], str | None] | None = None,
    model_name: str = "record",
    date_fields: Collection[str] | None = None,
) -> Plan:
    """Decide every row's outcome, in row order.

    ``existing`` maps match keys to the oldest stored record with that key (``id``, ``version``
    and field values). Rows earlier in the batch count as stored for later rows, so duplicates
    inside one file resolve exactly like duplicates of stored records. In update mode only
    non-empty values overwrite: an empty cell never erases stored data.

    ``taken``: the external ids the rows give -> the record holding each (when the job maps external_id):
    a row that would give a second record one fails. ``stored_key``: the key a new record stores in
    match_key, when the job matches on another (external_id). ``date_fields``: the rows' fields of type date
    (None: any field may hold one).
    """
    plan = Plan()
    ids: list[uuid.UUID] = []
    state: dict[str, _Current] = {
        key: _Current(rec["id"], {k: v for k, v in rec.items() if k not in ("id", "version")}, rec["version"], False)
        for key, rec in existing.items()
    }
    for row, cleaned in rows:
        issues = cleaned.issues
        key = cleaned.match_key
        cur = state.get(key) if key is not None else None
        creates = cur is None or mode == "create_new"
        # An update import's required fields the row leaves empty: needed only if it creates a record.
        needs = [_needed_to_create(model_name, name, row) for name in cleaned.needs] if creates else []
        if row.problem or not cleaned.ok or needs:
            errs = [i for i in issues if i.level == "error"] + needs
            if row.problem:
                errs.insert(0, Issue("(row)", None, row.problem, "correct the row in the file", "error"))
            _fail(plan, row, errs, [*issues, *needs])
            continue
        given = cleaned.values.get("external_id") if taken is not None and (creates or mode == "update") else None
        ext = str(given) if given is not None else None
        holder = taken.get(ext) if taken is not None and ext is not None else None
        if ext is not None and holder is not None and (creates or cur is None or holder != cur.id):
            _fail(plan, row, [_external_id_taken(model_name, ext, holder)], issues)
            continue
        if issues:  # warnings only
            plan.logs.append(
                (
                    row.number,
                    "warning",
                    describe_issues(row.number, issues),
                    _record_data(row, issues),
                    issues[0].field,
                )
            )
        if creates:
            if not ids:  # made a few hundred at a time: most batches create most of their rows
                ids = new_ids(min(len(rows), 512))
            rid = ids.pop()
            values = dict(cleaned.values)
            values["match_key"] = key if stored_key is None else stored_key(values)
            values["date_precision"] = _precisions(values, date_fields) or None
            plan.inserts[rid] = values
            plan.keys[rid] = key
            plan.versions[rid] = 1
            if key is not None and key not in state:
                state[key] = _Current(rid, values, 1, True)
            if taken is not None and ext is not None:
                taken[ext] = rid
            plan.ledger.append((row.number, "created", rid, None))
        elif mode == "skip":
            assert cur is not None
            plan.ledger.append((row.number, "skipped", cur.id, None))
        else:
            assert cur is not None
            before = dict(cur.values)
            if before.get("date_precision"):  # set by an earlier row of this batch: partial dates as dates
                before = _full_dates(before)
            before["version"] = plan.versions.get(cur.id, cur.version)
            changes = {k: v for k, v in cleaned.values.items() if v is not None}
            precision = _merged_precision(cur.values.get("date_precision"), changes, date_fields)
            cur.values.update(changes)
            cur.values["date_precision"] = precision
            if stored_key is not None:  # matched on another key: the model's own may have changed (a new e-mail)
                cur.values["match_key"] = stored_key(cur.values)
            if not cur.new:
                plan.updates[cur.id] = cur.values
                plan.versions[cur.id] = cur.version + 1
            if taken is not None and ext is not None:
                taken[ext] = cur.id
            plan.ledger.append((row.number, "updated", cur.id, before))
    return plan


async def _lock_keys(conn: asyncpg.Connection, ctx: JobContext, keys: list[str]) -> None:
    """Serialize writers of the same keys of this company and model (other jobs, other workers,
    a worker still finishing a batch of a partition just reassigned) until commit.

    A key always travels on the same record partition, so one lock per partition involved covers
    it: workers applying different partitions never wait on each other, and a batch takes at most
    ``partitions`` locks, sorted so that no two transactions wait on each other in opposite orders.
    """
    buckets = sorted({partition_for(k, 0, ctx.partitions) for k in keys})
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || b::text, 0)) FROM unnest($2::int[]) AS b ORDER BY b",
        f"{ctx.company_id}:{ctx.model.table}:",
        buckets,
    )


def _by_external_id(ctx: JobContext) -> bool:
    """The job matches duplicates on external_id (match_on), not on the model's keys."""
    return ctx.model.match_fields == ("external_id",)


async def _taken_external_ids(conn: asyncpg.Connection, ctx: JobContext, cleaned: Cleaned) -> dict[str, uuid.UUID]:
    """The external ids the rows give -> the record holding each now."""
    ids = sorted({str(v) for _, c in cleaned if (v := c.values.get("external_id")) is not None})
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT external_id, id FROM {ctx.model.table} WHERE company_id = $1 AND external_id = ANY($2::text[])",
        ctx.company_id,
        ids,
    )
    return {r["external_id"]: r["id"] for r in rows}


def _stored_key(ctx: JobContext) -> Callable[[dict[str, Any]], str | None] | None:
    """What a new record stores in match_key when the job matches on external_id: the model's own key."""
    if not _by_external_id(ctx):
        return None
    own = get_model(ctx.model.name)
    return lambda values: match_key(own, values)


async def _fetch_existing(conn: asyncpg.Connection, ctx: JobContext, keys: list[str]) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    table = ctx.model.table
    # Link columns too: an update's before-image keeps the contact's account, which a rollback restores.
    cols = ", ".join(
        ("id", "version", "match_key", "date_precision", *ctx.model.column_names, *ctx.model.link_columns, "custom")
    )
    if _by_external_id(ctx):  # keys are "external_id:<the id>"; the column holds the id
        where, args = "external_id = ANY($2::text[])", [k[len(EXTERNAL_KEY) :] for k in keys]
    else:
        where, args = "match_key = ANY($2::text[])", keys
    records = await conn.fetch(
        f"SELECT {cols} FROM {table} WHERE company_id = $1 AND {where} ORDER BY created_at, id", ctx.company_id, args
    )
    existing: dict[str, dict[str, Any]] = {}
    custom_fields = ctx.model.custom_fields
    for rec in records:
        key = EXTERNAL_KEY + rec["external_id"] if _by_external_id(ctx) else rec["match_key"]
        if key not in existing:
            values = dict(rec)  # "custom" stays whole too: an update's before-image restores it whole
            for f in custom_fields:
                values[f.name] = (rec["custom"] or {}).get(f.name)
            existing[key] = values
    if ctx.dry_run:  # rows this dry run created "virtually" in earlier batches count as stored
        for rec in await ledger_repository.dry_run_created(conn, uuid.UUID(ctx.job_id), keys):
            existing.setdefault(rec["match_key"], {"id": rec["record_id"], "version": 1})
    return existing


def _custom_json(value: Any) -> Any:
    """A custom field's value as its key in the ``custom`` jsonb holds it: dates as ISO text (a partial
    one as its first day, beside date_precision), decimals as exact text, the rest as JSON has them."""
    if value.__class__ is PartialDate:
        return value.full().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


# Values the jsonb encoder (orjson) writes as _custom_json would: a plain date as its ISO text.
_JSON_AS_IS = frozenset({str, int, bool, float, dt.date})


def _custom_patch(values: dict[str, Any], names: list[str]) -> dict[str, Any] | None:
    # A loop, not a comprehension calling _custom_json for every value: 1.9 µs a row of 10 fields, not 4.8.
    patch: dict[str, Any] = {}
    for f in names:
        v = values.get(f)
        if v is not None:
            patch[f] = v if v.__class__ in _JSON_AS_IS else _custom_json(v)
    return patch or None


def _split_fields(model: TargetModel, fields: Iterable[str]) -> tuple[list[str], list[str]]:
    """Of the job's fields, those that are columns of the model's table and its custom fields (keys of the
    "custom" jsonb column); a linked record's fields are neither."""
    by_name = model.by_name
    own = [by_name[f] for f in fields if f in by_name and by_name[f].related is None]
    return [f.name for f in own if not f.custom], [f.name for f in own if f.custom]


async def _insert_records(
    conn: asyncpg.Connection,
    table: str,
    company_id: uuid.UUID,
    columns: list[str],
    custom: list[str],
    inserts: dict[uuid.UUID, dict[str, Any]],
) -> None:
    names = ["match_key", "date_precision", *columns]
    values = list(inserts.values())
    # Without custom fields the column is left to its default (NULL), as a None patch would leave it.
    patches = [(_custom_patch(v, custom),) for v in values] if custom else None
    await copy_rows(
        conn,
        table,
        columns=("id", "company_id", *names, *(("custom",) if custom else ())),
        records=MappedRows(list(inserts), (company_id,), values, names, patches),
    )


async def _update_records(
    conn: asyncpg.Connection,
    table: str,
    company_id: uuid.UUID,
    columns: list[str],
    custom: list[str],
    updates: dict[uuid.UUID, dict[str, Any]],
) -> None:
    """One primary-key update a record, pipelined. Set-based forms (``UPDATE ... FROM unnest(...)``, or from a
    COPY-staged table) are planned from the company's row estimate, which is stale whenever a company's import
    outgrows the table's last ANALYZE: PostgreSQL then joined by scanning the company's whole part of the table
    once per batch (a 1M-row import stuck at a few hundred rows/s once the company held 250k records, 6.7 s a
    200-record batch). Each statement here is an index lookup on (company_id, id) whatever the estimate."""
    sets = "".join(f"{f} = ${i + 6}, " for i, f in enumerate(columns))
    await conn.executemany(
        f"UPDATE {table} SET {sets}custom = CASE WHEN $4::jsonb IS NULL THEN custom "
        "ELSE coalesce(custom, '{}'::jsonb) || $4::jsonb END, match_key = $5, "
        "date_precision = $3, version = version + 1, updated_at = now() WHERE id = $1 AND company_id = $2",
        [
            (
                rid,
                company_id,
                values.get("date_precision"),
                _custom_patch(values, custom),
                values.get("match_key"),
                *[values.get(f) for f in columns],
            )
            for rid, values in updates.items()
        ],
    )


def _add_warnings(plan: Plan, rows: Cleaned, warnings: dict[int, list[Issue]]) -> None:
    """Warnings found after planning join the row's warning log (one a row)."""
    if not warnings:
        return
    at = {entry[0]: i for i, entry in enumerate(plan.logs) if entry[1] == "warning"}
    for row, cleaned in rows:
        extra = warnings.get(row.number)
        if extra:
            issues = [*cleaned.issues, *extra]
            entry = (
                row.number,
                "warning",
                describe_issues(row.number, issues),
                _record_data(row, issues),
                issues[0].field,
            )
            if row.number in at:
                plan.logs[at[row.number]] = entry
            else:
                plan.logs.append(entry)


async def _write_accounts(
    conn: asyncpg.Connection, accounts: TargetModel, company_id: uuid.UUID, writes: AccountWrites
) -> None:
    """Create the accounts a batch's rows create; complete those the import created earlier (still version 1:
    they remain the import's own, which its rollback removes)."""
    columns, custom = _split_fields(accounts, accounts.field_names)
    if writes.inserts:
        await _insert_records(conn, accounts.table, company_id, columns, custom, writes.inserts)
    if writes.updates:
        sets = "".join(f"{f} = ${i + 6}, " for i, f in enumerate(columns))
        await conn.executemany(
            f"UPDATE {accounts.table} SET {sets}custom = coalesce(custom, '{{}}'::jsonb) || coalesce($4::jsonb, "
            "'{}'::jsonb), match_key = $5, date_precision = $3, updated_at = now() WHERE id = $1 AND company_id = $2",
            [
                (
                    aid,
                    company_id,
                    values["date_precision"],
                    _custom_patch(values, custom),
                    values["match_key"],
                    *[values.get(f) for f in columns],
                )
                for aid, values in writes.updates.items()
            ],
        )


async def _write_plan(
    conn: asyncpg.Connection,
    ctx: JobContext,
    fields: tuple[str, ...],
    plan: Plan,
    links: LinkPlan | None = None,
) -> None:
    table = ctx.model.table
    job_id, company_id = uuid.UUID(ctx.job_id), uuid.UUID(ctx.company_id)
    columns, custom = _split_fields(ctx.model, fields)
    accounts: dict[int, uuid.UUID] = {}
    if ctx.links is not None and links is not None:
        columns += [c for c in (ctx.links.column, ctx.links.name_field) if c not in columns]
        writes = complete_accounts(ctx.links, links, ((n, outcome) for n, outcome, _, _ in plan.ledger))
        accounts = writes.created
        _add_warnings(plan, links.rows, writes.warnings)
        if not ctx.dry_run:
            await _write_accounts(conn, ctx.links.accounts, company_id, writes)
    if plan.inserts and not ctx.dry_run:
        await _insert_records(conn, table, company_id, columns, custom, plan.inserts)
    if plan.updates and fields and not ctx.dry_run:
        await _update_records(conn, table, company_id, columns, custom, plan.updates)
    linked = ctx.links is not None and not ctx.dry_run
    await ledger_repository.copy_ledger(
        conn,
        [  # in the order of ledger_repository.LEDGER_COLUMNS (+ LINKED_CREATED)
            (
                job_id,
                n,
                company_id,
                outcome,
                rid,
                before,
                plan.versions.get(rid) if rid is not None and outcome != "skipped" else None,
                plan.keys[rid] if rid is not None and ctx.dry_run and outcome == "created" else None,
                *((accounts.get(n),) if linked else ()),
            )
            for n, outcome, rid, before in plan.ledger
        ],
        linked=linked,
    )
    if plan.logs:
        await log_repository.copy_logs(
            conn,  # in the order of log_repository.LOG_COLUMNS
            [(job_id, n, lvl, msg, data, company_id, fld) for n, lvl, msg, data, fld in plan.logs],
        )


Cleaned = list[tuple[SourceRow, CleanedRecord]]


def clean_rows(ctx: JobContext, rows: list[SourceRow]) -> Cleaned:
    """Cleanse and validate rows (pure CPU work, done before the transaction)."""
    clean = ctx.cleaner.clean
    return [(row, clean(row.raw)) for row in rows]


async def apply_rows(
    conn: asyncpg.Connection,
    ctx: JobContext,
    fields: tuple[str, ...],
    cleaned: Cleaned,
) -> BatchResult | None:
    """Apply cleaned rows (in file order) in one transaction; rows already in the ledger are reported, not applied.
    None when the job was cancelled, failed or never started: nothing is applied and nothing reported.
    For a completed job only rows the ledger holds are reported (as replayed); none is applied.

    Raises whatever the database raises: the caller retries transient errors and isolates rows
    that the database refuses.
    """
    result = BatchResult()
    numbers = [row.number for row, _ in cleaned]
    keys = sorted({c.match_key for row, c in cleaned if c.match_key is not None and c.ok and not row.problem})
    async with conn.transaction():
        # Shared with other batches, exclusive against a cancel or an error-policy stop (jobs.end_job_now).
        job = await jobs.lock_for_apply(conn, uuid.UUID(ctx.job_id), uuid.UUID(ctx.company_id))
        # Only a running import takes rows; one not started yet has none (a batch for it is forged).
        if job is None or job["job_status"] in ("cancelled", "failed", "pending"):
            return None
        if job["job_status"] != "running":
            # A completed import's batch is a late redelivery, reported again from the ledger, or an
            # event forged by whoever can write to the topic: rows the ledger does not hold are never applied.
            return _replayed_only(
                await ledger_repository.applied_rows(conn, uuid.UUID(ctx.job_id), numbers, min(numbers), max(numbers))
            )
        if job["phase"] == "validate" and not ctx.dry_run:  # an all-or-nothing import's validation pass
            ctx = replace(ctx, dry_run=True)
        # Locked before the ledger is read, so a batch applied by another transaction meanwhile
        # is seen as applied here.
        await _lock_keys(conn, ctx, keys)
        applied = await ledger_repository.applied_rows(conn, uuid.UUID(ctx.job_id), numbers, min(numbers), max(numbers))
        done = {r["record_number"]: r for r in applied}
        fresh = [(row, c) for row, c in cleaned if row.number not in done]
        existing = await _fetch_existing(conn, ctx, keys)
        taken = await _taken_external_ids(conn, ctx, fresh) if "external_id" in fields else None
        links = None
        if ctx.links is not None:  # after the records' locks: every writer takes the account table's after its own
            links = await resolve_accounts(
                conn,
                ctx.links,
                ctx.company_id,
                ctx.partitions,
                fresh,
                new_id,
                uuid.UUID(ctx.job_id),
                skipped=existing if ctx.duplicate_handling == "skip" else (),
            )
            fresh = links.rows

        by_name = ctx.model.by_name
        dates = [f for f in fields if f not in by_name or by_name[f].type == "date"]

        def planned(rows: Cleaned) -> Plan:
            return plan_batch(
                ctx.duplicate_handling,
                rows,
                existing,
                taken=dict(taken) if taken is not None else None,  # plan_batch adds the ids it gives
                stored_key=_stored_key(ctx),
                model_name=ctx.model.name,
                date_fields=dates,
            )

        plan = planned(fresh)
        if job["max_errors"] is not None and plan.errors:
            allowed = job["max_errors"] - await _failed_so_far(conn, ctx)
            if len(plan.errors) > allowed:
                # Applied up to the row that would be one failure too many; that row and the rest are not.
                cut = _nth_failure(fresh, plan, max(allowed, 0) + 1)
                result.stop = (
                    f"stopped by the error policy at row {fresh[cut][0].number}, which would have been "
                    f"failed row {job['max_errors'] + 1:,} where max_errors allows {job['max_errors']:,}; "
                    "rows read before it were applied, it and later rows were not. Fix the failed rows "
                    "(errors.csv) and retry them, or roll back what was applied"
                )
                fresh = fresh[:cut]
                plan = planned(fresh)
        await _write_plan(conn, ctx, fields, plan, links)
        if not ctx.dry_run:
            # Values unknown_values=add met are in the picklist once the first record holding them commits.
            await add_values_from_import(conn, ctx.company_id, ctx.cleaner.added_values())
    for n, outcome, _, _ in plan.ledger:
        result.add(n, outcome, plan.errors.get(n))
    for n, rec in done.items():
        result.add(n, rec["outcome"])
        result.replayed.append(n)
    return result


def _replayed_only(applied: list[asyncpg.Record]) -> BatchResult:
    result = BatchResult()
    for rec in applied:
        result.add(rec["record_number"], rec["outcome"])
        result.replayed.append(rec["record_number"])
    return result


async def _failed_so_far(conn: asyncpg.Connection, ctx: JobContext) -> int:
    """The job's failed rows, for a 'stop after N errors' policy: checked in the apply transaction, not by
    the aggregator, so no row is applied past the limit however fast the file goes through. The count
    reads the partial index of failed ledger rows (at most N of them)."""
    # Lanes of the job take turns from here to commit, or both would count the other's failures as not yet made.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", ctx.job_id)
    return await ledger_repository.failed_count(conn, uuid.UUID(ctx.job_id))


def _nth_failure(rows: Cleaned, plan: Plan, n: int) -> int:
    """Index in ``rows`` of the n-th row the plan failed."""
    seen = 0
    for index, (row, _) in enumerate(rows):
        if row.number in plan.errors:
            seen += 1
            if seen == n:
                return index
    raise ValueError(f"the plan has fewer than {n} failed rows")


async def record_failures(conn: asyncpg.Connection, ctx: JobContext, rows: list[SourceRow], reason: str) -> BatchResult:
    """Record rows the database refused as failed (ledger + one error log each), idempotently."""
    result = BatchResult()
    job_id, company_id = uuid.UUID(ctx.job_id), uuid.UUID(ctx.company_id)
    async with conn.transaction():
        for row in rows:
            message = f"row {row.number}: could not be stored: {reason}"
            inserted = await ledger_repository.insert_failed(conn, job_id, row.number, company_id)
            if inserted is None:
                continue
            await log_repository.insert_error_log(
                conn,
                job_id,
                row.number,
                _storable(message),
                {"values": {k: _storable(v) for k, v in row.raw.items() if v}},
                company_id,
            )
            result.add(row.number, "failed", message)
    return result


def _storable(text: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL: a refused row's error log must still be written."""
    return text.replace("\x00", "\ufffd")
