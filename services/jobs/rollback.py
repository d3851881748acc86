"""Rollback of an import: records it created are removed, records it updated get their before-images back.

A rollback is a job of its own (job_type 'rollback', with progress, logs and cancel). It reads the
import's ledger: per record, the import's first outcome decides — created: remove the record;
updated: restore the before-image of the import's first change (field values, match key and the
record's date_precision). A record changed after the import
by anything else (its version is not the one the import left) is a conflict: reported and left
alone unless the rollback is forced. Reverted ledger rows are marked with the rollback's id in the
same transaction as the revert, so a second rollback (or a re-run after a crash) changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from schemas import events
from schemas.models import MODELS, TargetModel, get_model
from services.core.db import set_tenant, tenant
from services.core.errors import JobStateError
from services.jobs import ledger_repository, log_repository
from services.jobs import repository as jobs

__all__ = ["LedgerItem", "RollbackPlan", "plan_rollback", "create_rollback_job", "run_rollback_request"]

log = logging.getLogger(__name__)

Send = events.SendJobStatus


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One record the import touched: its ledger rows folded together."""

    record_id: uuid.UUID
    numbers: list[int]  # the import's row numbers that touched it
    first_outcome: str  # created | updated
    before_image: dict[str, Any] | None
    last_version: int | None  # the version the import left


@dataclass(slots=True)
class RollbackPlan:
    deletes: list[LedgerItem] = field(default_factory=list)
    restores: list[LedgerItem] = field(default_factory=list)
    gone: list[LedgerItem] = field(default_factory=list)  # created, and already deleted by someone
    conflicts: list[tuple[LedgerItem, str]] = field(default_factory=list)

    @property
    def reverted(self) -> list[LedgerItem]:
        return [*self.deletes, *self.restores, *self.gone]


def plan_rollback(items: list[LedgerItem], current: dict[uuid.UUID, int], force: bool) -> RollbackPlan:
    """Decide each record's revert from its current version (``current``: id -> version; absent = deleted)."""
    plan = RollbackPlan()
    for item in items:
        version = current.get(item.record_id)
        row = item.numbers[0]
        if version is None:
            if item.first_outcome == "created":
                plan.gone.append(item)
            else:
                plan.conflicts.append(
                    (
                        item,
                        (
                            f"row {row}: record {item.record_id} was deleted after the import; its before-image "
                            "cannot be restored"
                        ),
                    )
                )
            continue
        if version != item.last_version and not force:
            action = "removed" if item.first_outcome == "created" else "restored"
            plan.conflicts.append(
                (
                    item,
                    (
                        f"row {row}: record {item.record_id} was changed after the import (version {version}, the import "
                        f"left version {item.last_version}); it was not {action}. Roll back with force to overwrite the "
                        "later change"
                    ),
                )
            )
            continue
        (plan.deletes if item.first_outcome == "created" else plan.restores).append(item)
    return plan


async def create_rollback_job(
    conn: asyncpg.Connection, company_id: str, source_id: str, *, force: bool, automatic: bool = False
) -> str:
    """Check the import can be rolled back and record a pending rollback job for it; returns its id.

    ``automatic``: an all-or-nothing import rolls itself back while it is being failed.
    """
    source = await jobs.require_job(conn, company_id, source_id)
    if source["job_type"] != "import":
        raise JobStateError(f"job {source_id} is an {source['job_type']}; only imports can be rolled back")
    options = source["options"] or {}
    if options.get("dry_run") or options.get("phase") == "validate":
        raise JobStateError(
            f"job {source_id} wrote nothing to the CRM tables (a dry run or a refused "
            "all-or-nothing import): there is nothing to roll back"
        )
    if not automatic and source["job_status"] not in jobs.FINAL_STATUSES:
        raise JobStateError(f"job {source_id} is {source['job_status']}; cancel it or let it finish, then roll it back")
    active = await jobs.active_rollback_of(conn, source["company_id"], str(source["id"]))
    if active is not None:
        raise JobStateError(f"job {source_id} is already being rolled back by job {active}; wait for it to finish")
    job_id = str(uuid.uuid4())
    await jobs.insert_job(
        conn,
        {
            "id": job_id,
            "company_id": str(source["company_id"]),
            "job_type": "rollback",
            "target_model": source["target_model"],
            "file_format": source["file_format"],
            "file_path": source["file_path"],
            "original_filename": source["original_filename"],
            "duplicate_handling": source["duplicate_handling"],
            "queue": source["queue"],
            "options": {"rollback_of": str(source["id"]), "force": force, "automatic": automatic},
        },
    )
    return job_id


def _item(row: asyncpg.Record) -> LedgerItem:
    return LedgerItem(
        row["record_id"], list(row["numbers"]), row["first_outcome"], row["before_image"], row["last_version"]
    )


def _linking(model: TargetModel) -> list[tuple[TargetModel, str]]:
    """The models whose records link to ``model``'s, with their link column (contacts' account_id to accounts)."""
    return [(m, column) for m in MODELS.values() for linked, column in m.links if linked == model.name]


async def _lock_model(conn: asyncpg.Connection, company_id: str, model: TargetModel, partitions: int) -> None:
    """Every partition lock of the company's table (services.apply.batch._lock_keys): no import writes it meanwhile.
    Those of the tables linking to it first, in the order an import linking records takes them."""
    for table in [*(m.table for m, _ in _linking(model)), model.table]:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || b::text, 0)) "
            "FROM generate_series(0, $2 - 1) AS b ORDER BY b",
            f"{company_id}:{table}:",
            partitions,
        )


async def _delete_records(conn: asyncpg.Connection, company: Any, model: TargetModel, ids: list[uuid.UUID]) -> None:
    """Delete records, and the links other records hold to them (a contact's account_id to an account removed)."""
    for linking, column in _linking(model):
        await conn.execute(
            f"UPDATE {linking.table} SET {column} = NULL, version = version + 1, updated_at = now() "
            f"WHERE company_id = $1 AND {column} = ANY($2::uuid[])",
            company,
            ids,
        )
    await conn.execute(f"DELETE FROM {model.table} WHERE company_id = $1 AND id = ANY($2::uuid[])", company, ids)


async def _revert_chunk(
    conn: asyncpg.Connection,
    rollback: asyncpg.Record,
    model: TargetModel,
    items: list[LedgerItem],
    force: bool,
    partitions: int,
) -> RollbackPlan | None:
    """Revert one chunk in one transaction; None when the rollback job was cancelled."""
    company = rollback["company_id"]
    source_id = uuid.UUID(rollback["options"]["rollback_of"])
    table = model.table
    async with conn.transaction():
        # The table's locks before the job row: two runs of one rollback then queue here, where the
        # job row (which each run's progress update writes) would make them deadlock.
        await _lock_model(conn, str(company), model, partitions)
        status = await jobs.job_status(conn, company, rollback["id"], for_share=True)
        if status != "running":
            return None
        # Another run of this rollback (its request delivered again while this one still worked) may
        # have reverted some of these records since the cursor read them: revert each record once.
        pending = await ledger_repository.not_rolled_back(conn, source_id, company, [i.numbers[0] for i in items])
        items = [i for i in items if i.numbers[0] in pending]
        current = {
            r["id"]: r["version"]
            for r in await conn.fetch(
                f"SELECT id, version FROM {table} WHERE company_id = $1 AND id = ANY($2::uuid[]) FOR UPDATE",
                company,
                [i.record_id for i in items],
            )
        }
        plan = plan_rollback(items, current, force)
        if plan.deletes:
            await _delete_records(conn, company, model, [i.record_id for i in plan.deletes])
        if plan.restores:
            # date_precision with the dates: a before-image without it (written before migration 012)
            # restores NULL, all dates full, as they were then.
            # and custom whole (NULL in a before-image written before migration 016: it had none then).
            # and the links (a contact's account_id; NULL in a before-image written before migration 018: none then).
            restored = ("match_key", "date_precision", *model.column_names, *model.link_columns, "custom")
            cols = ", ".join(restored)
            values = ", ".join(f"r.{c}" for c in restored)
            await conn.executemany(
                f"UPDATE {table} AS t SET ({cols}) = (SELECT {values} FROM jsonb_populate_record(NULL::{table}, $3::jsonb) AS r), "
                "version = t.version + 1, updated_at = now() WHERE t.id = $1 AND t.company_id = $2",
                [(i.record_id, company, i.before_image) for i in plan.restores],
            )
        done = [n for i in plan.reverted for n in i.numbers]
        if done:
            await ledger_repository.mark_rolled_back(conn, source_id, company, rollback["id"], done)
        if plan.conflicts:
            await log_repository.copy_logs(
                conn,
                columns=("job_id", "record_number", "log_level", "message", "record_data", "company_id"),
                records=[
                    (
                        rollback["id"],
                        item.numbers[0],
                        "warning",
                        message,
                        {"record_id": str(item.record_id), "import_left_version": item.last_version},
                        company,
                    )
                    for item, message in plan.conflicts
                ],
            )
    return plan


@dataclass(frozen=True, slots=True)
class LinkedRemoved:
    removed: int
    kept: int  # changed after the import, left alone (unless forced)


async def _remove_linked_created(
    pool: asyncpg.Pool, rollback: asyncpg.Record, source_id: uuid.UUID, force: bool, settings: Any
) -> LinkedRemoved | None:
    """Remove the accounts a contacts import created (its ledger's linked_created), once its contacts are
    reverted: with the links other contacts hold to them since. An account changed after the import (its
    version is no longer 1) is a conflict, kept unless forced. None when the rollback was cancelled."""
    company = rollback["company_id"]
    accounts = get_model("account")
    removed = kept = 0
    async with tenant(pool, str(company)) as conn:
        created = await ledger_repository.linked_created(conn, source_id, company)
    chunk = settings.rollback_chunk_rows
    for start in range(0, len(created), chunk):
        ids = created[start : start + chunk]
        async with tenant(pool, str(company)) as conn, conn.transaction():
            await _lock_model(conn, str(company), accounts, settings.record_partitions)
            if await jobs.job_status(conn, company, rollback["id"], for_share=True) != "running":
                return None
            current = {
                r["id"]: r["version"]
                for r in await conn.fetch(
                    "SELECT id, version FROM crm_accounts WHERE company_id = $1 AND id = ANY($2::uuid[]) FOR UPDATE",
                    company,
                    ids,
                )
            }
            changed = [a for a, version in current.items() if version != 1 and not force]
            gone = [a for a in current if a not in changed]
            if gone:
                await _delete_records(conn, company, accounts, gone)
            if changed:
                await log_repository.copy_logs(
                    conn,
                    columns=("job_id", "log_level", "message", "record_data", "company_id"),
                    records=[
                        (
                            rollback["id"],
                            "warning",
                            f"account {a} the import created was changed after it (version {current[a]}); it was "
                            "not removed. Roll back with force to remove it",
                            {"record_id": str(a)},
                            company,
                        )
                        for a in changed
                    ],
                )
            removed, kept = removed + len(gone), kept + len(changed)
    return LinkedRemoved(removed, kept)


async def run_rollback_request(res: Any, req: dict[str, Any], send_status: Send) -> None:
    """Run an admitted rollback job to its end; failures fail the job and never raise."""
    job_id, company_id = req["job_id"], req["company_id"]
    pool, settings = res.pool, res.settings
    async with tenant(pool, company_id) as conn:
        job = await jobs.get_job(conn, company_id, job_id)
    if job is None or job["job_status"] != "running":
        if job is not None and job["job_status"] == "cancelled":
            await send_status(jobs.status_event(job))  # cancelled just before it started
        return
    started_ms = int(time.time() * 1000)
    c = {"total": 0, "processed": 0, "success": 0, "error": 0, "created": 0, "updated": 0, "skipped": 0}
    removed = 0
    try:
        model = get_model(job["target_model"])
        source_id = uuid.UUID(job["options"]["rollback_of"])
        force = bool(job["options"].get("force"))
        async with pool.acquire() as read, read.transaction(isolation="repeatable_read", readonly=True):
            await set_tenant(read, company_id)
            c["total"] = await ledger_repository.count_to_roll_back(read, source_id, job["company_id"])
            cursor = await ledger_repository.rollback_items_cursor(read, source_id, job["company_id"])
            while True:
                rows = await cursor.fetch(settings.rollback_chunk_rows)
                if not rows:
                    break
                async with tenant(pool, company_id) as conn:
                    plan = await _revert_chunk(
                        conn, job, model, [_item(r) for r in rows], force, settings.record_partitions
                    )
                    if plan is None:
                        await send_status(
                            jobs.progress_status_event(
                                job, "cancelled", c, started_ms, int(time.time() * 1000), "cancelled on request"
                            )
                        )
                        return
                    removed += len(plan.deletes)
                    c["processed"] += len(rows)
                    c["success"] += len(plan.reverted)
                    c["error"] += len(plan.conflicts)
                    c["updated"] += len(plan.restores)
                    c["skipped"] += len(plan.gone)
                    await jobs.update_progress(conn, company_id, job_id, c)
                await send_status(jobs.progress_status_event(job, "running", c, started_ms))
        linked = await _remove_linked_created(pool, job, source_id, force, settings)
        if linked is None:
            await send_status(
                jobs.progress_status_event(
                    job, "cancelled", c, started_ms, int(time.time() * 1000), "cancelled on request"
                )
            )
            return
    except Exception as exc:  # noqa: BLE001 - the job fails, the worker stays up; the next rollback resumes
        log.exception("rollback %s failed", job_id)
        message = f"the rollback stopped ({type(exc).__name__}: {exc}); rolling back again continues where it stopped"
        async with tenant(pool, company_id) as conn:
            await jobs.finish_job(conn, company_id, job_id, "failed", c, message, dt.datetime.now(dt.UTC))
        await send_status(jobs.progress_status_event(job, "failed", c, started_ms, int(time.time() * 1000), message))
        return
    message = (
        f"removed {removed:,} records the import created, restored {c['updated']:,} records it updated"
        + (f", {c['skipped']:,} created records were already deleted" if c["skipped"] else "")
        + (f", removed {linked.removed:,} accounts it created" if linked.removed else "")
        + (
            f"; {linked.kept:,} accounts it created were changed after the import and kept (see the logs; roll back "
            "with force to remove them)"
            if linked.kept
            else ""
        )
        + (
            f"; {c['error']:,} records changed after the import were left alone (see the logs; roll back "
            "with force to overwrite them)"
            if c["error"]
            else ""
        )
    )
    async with tenant(pool, company_id) as conn:
        if not await jobs.finish_job(conn, company_id, job_id, "completed", c, message, dt.datetime.now(dt.UTC)):
            # Cancelled after the last chunk, or finished by another run of this rollback: report what it is.
            ended = await jobs.get_job(conn, company_id, job_id)
            await send_status(jobs.status_event(ended))
            return
        await log_repository.insert_info_log(conn, job["id"], message, job["company_id"])
        await jobs.mark_rolled_back_by(conn, job["company_id"], source_id, job_id)
    await send_status(jobs.progress_status_event(job, "completed", c, started_ms, int(time.time() * 1000), message))
