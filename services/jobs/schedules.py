"""Schedules: a cron expression in a time zone and a job definition — an export with filters, or an
import of every file dropped in the company's drop folder (<storage>/<company>/drop/<folder>).

Every worker looks for its deployment's due schedules each second. A due schedule is locked (FOR UPDATE SKIP
LOCKED), its jobs are created with ids derived from (schedule, slot, file), and its next run time
is advanced, all in one transaction: whichever worker gets the row fires the slot, once. The jobs
start through admission like any other. Slots missed while no worker ran fire once, not each.

Cron: five fields (minute hour day month weekday), or six with seconds last (croniter's form).
Times are computed on the wall clock of the schedule's time zone: a time that does not exist
(the spring-forward gap) runs at the same instant shifted by the offset change; a time that
occurs twice (fall back) runs once, at its first occurrence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
import zoneinfo
from pathlib import Path, PurePosixPath
from typing import Any

import asyncpg
from croniter import CroniterBadDateError, croniter

from schemas.models import TargetModel, get_model
from services.cleansing.cleaning import CleanOptions
from services.cleansing.picklist_store import field_picklists
from services.cleansing.picklists import check_value_mapping, value_policies
from services.cleansing.validation import validate_rules
from services.core import storage
from services.core.db import is_transient
from services.core.errors import CrmioError, InputFileError, NotFound, ValueMappingError
from services.core.settings import Settings
from services.fields.company_model import company_model
from services.ingest.readers.encoding import check_encoding
from services.ingest.submit import IMPORT_EXTENSIONS
from services.jobs import repository as jobs
from services.jobs import stored_files, templates
from services.jobs.error_policy import policy_options
from services.jobs.limits import company_limits

__all__ = [
    "ScheduleError",
    "next_run",
    "check_definition",
    "create_schedule",
    "list_schedules",
    "get_schedule",
    "set_active",
    "delete_schedule",
    "schedule_document",
    "fire_due",
    "drop_folder",
]

log = logging.getLogger(__name__)

# A dropped file taken into storage: (company, its new path, its path in the drop folder).
Moved = tuple[str, str, str]

# Namespace of the job ids a schedule fires (uuid5 of schedule id, slot and file).
_NAMESPACE = uuid.UUID("5d3c3f44-2f8e-4f61-9c55-0c6c1d1f5a10")
_FOLDER = re.compile(r"^[A-Za-z0-9_-]{0,64}$")
_DUE_PER_PASS = 20


class ScheduleError(CrmioError):
    """The schedule is malformed (cron, time zone or job definition); the message says what to fix."""

    http_status = 422


def _zone(name: str) -> zoneinfo.ZoneInfo:
    shown = name if len(name) <= 60 else name[:57] + "..."
    # IANA names are short ("America/Argentina/ComodRivadavia" is among the longest): a long one is
    # refused before it reaches the file system (a 5,000-character name raised OSError).
    if len(name) > 64:
        raise ScheduleError(f"unknown time zone {shown!r}; use an IANA name such as Europe/Berlin or UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {shown!r}; use an IANA name such as Europe/Berlin or UTC") from None


def _check_cron(expr: str) -> str:
    expr = " ".join(str(expr).split())
    if len(expr.split()) not in (5, 6) or not croniter.is_valid(expr):
        raise ScheduleError(
            f"invalid cron expression {expr!r}: use five fields (minute hour day month weekday), "
            "e.g. '0 6 * * 1-5', or six with seconds last"
        )
    return expr


def next_run(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first slot strictly after ``after`` (aware), in UTC."""
    tz = _zone(timezone)
    local = after.astimezone(tz).replace(tzinfo=None)
    it = croniter(cron, local)
    for _ in range(1000):
        try:
            candidate: dt.datetime = it.get_next(dt.datetime).replace(tzinfo=tz)
        except CroniterBadDateError:  # e.g. "0 0 31 2 *": the 31st of February never comes
            break
        at = candidate.astimezone(dt.UTC)
        if at > after:
            return at
    raise ScheduleError(f"cron expression {cron!r} has no future run time (a date that never comes?)")


def _check_interval(cron: str, timezone: str, first: dt.datetime, min_interval_s: float) -> None:
    """Refuse a cron expression with two slots closer than ``min_interval_s`` (over its next 100 slots)."""
    at = first
    for _ in range(100):
        following = next_run(cron, timezone, at)
        gap = (following - at).total_seconds()
        if gap < min_interval_s:
            raise ScheduleError(
                f"cron expression {cron!r} fires {gap:g} s apart at {at.isoformat()}; "
                f"a schedule may fire at most every {min_interval_s:g} s"
            )
        at = following


def drop_folder(settings: Settings, company_id: str, folder: str = "") -> Path:
    """The drop folder in the local folder's storage (with object storage it is the key prefix
    ``<company>/drop/<folder>/`` of the bucket)."""
    return storage.company_dir(settings.storage_dir, company_id) / "drop" / folder


def check_definition(definition: dict[str, Any], model: TargetModel | None = None) -> dict[str, Any]:
    """The job definition, checked and normalized; ScheduleError (or the export's own error) says what is wrong.

    ``model``: the company's model the definition names (with its custom fields); by default the built-in one.
    """
    if not isinstance(definition, dict):
        raise ScheduleError("job must be an object with job_type 'export' or 'import'")
    kind = definition.get("job_type")
    if kind == "export":
        from services.exports.runner import export_spec

        allowed = {"job_type", "target_model", "file_format", "fields", "filters", "sort", "options"}
        _no_unknown(definition, allowed)
        options = {
            **(definition.get("options") or {}),
            "fields": definition.get("fields"),
            "filters": definition.get("filters") or [],
            "sort": definition.get("sort") or [],
        }
        spec = export_spec(
            model or str(definition.get("target_model")), str(definition.get("file_format", "csv")), options
        )
        options["fields"] = [f.name for f in spec.fields]
        return {
            "job_type": "export",
            "target_model": spec.model.name,
            "file_format": spec.file_format,
            "options": options,
        }
    if kind == "import":
        allowed = {
            "job_type",
            "target_model",
            "folder",
            "mapping",
            "template_id",
            "duplicate_handling",
            "validation_rules",
            "options",
        }
        _no_unknown(definition, allowed)
        try:
            model = model or get_model(str(definition.get("target_model")))
        except ValueError as exc:
            raise ScheduleError(str(exc)) from None
        folder = definition.get("folder") or ""
        if not isinstance(folder, str) or not _FOLDER.match(folder):
            raise ScheduleError(f"folder {folder!r}: use letters, digits, '-' or '_' (a subfolder of the drop folder)")
        duplicates = definition.get("duplicate_handling") or "skip"
        if duplicates not in ("skip", "update", "create_new"):
            raise ScheduleError(f"duplicate_handling {duplicates!r}: use skip, update or create_new")
        # Checked now, not when a file arrives: a definition refused only at firing time made
        # pending jobs that could not even be sent (issue 17).
        mapping = _check_mapping(model, definition.get("mapping"))
        rules = validate_rules(model, definition.get("validation_rules")) or None
        template_id = definition.get("template_id")
        if template_id is not None and not _id(str(template_id)):
            raise ScheduleError(f"template_id {template_id!r} is not a template id (a UUID)")
        options = policy_options(definition.get("options") or {})
        CleanOptions(date_order=options.get("date_order") or "MDY", phone_region=options.get("phone_region") or "US")
        if options.get("encoding") is not None:
            try:  # the reader's own check, without a file (every dropped file's job failed on it)
                check_encoding(str(options["encoding"]), b"", "")
            except InputFileError as exc:
                raise ScheduleError(f"options.encoding: {exc.message}") from None
        return {
            "job_type": "import",
            "target_model": model.name,
            "folder": folder,
            "mapping": mapping,
            "template_id": str(template_id) if template_id is not None else None,
            "duplicate_handling": duplicates,
            "validation_rules": rules,
            "options": options,
        }
    raise ScheduleError(f"job_type {kind!r}: a schedule runs an 'export' or an 'import' of dropped files")


def _check_mapping(model: TargetModel, mapping: object) -> dict[str, str | None] | None:
    """A schedule's column -> field mapping: text keys, field names (or null to skip a column) of the model."""
    if mapping is None:
        return None
    if not isinstance(mapping, dict) or not all(
        isinstance(c, str) and (f is None or isinstance(f, str)) for c, f in mapping.items()
    ):
        raise ScheduleError('mapping must map column names to field names, e.g. {"E-mail": "email"}')
    unknown = sorted({f for f in mapping.values() if f and f not in model.by_name})
    if unknown:
        raise ScheduleError(
            f"mapping names no field {unknown} of {model.name} (fields: {', '.join(model.field_names)})"
        )
    return dict(mapping)


def _no_unknown(definition: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(definition) - allowed)
    if unknown:
        raise ScheduleError(f"unknown job keys {unknown}; use {', '.join(sorted(allowed))}")


async def create_schedule(
    conn: asyncpg.Connection,
    company_id: str,
    *,
    name: str,
    cron: str,
    timezone: str,
    job: dict[str, Any],
    queue: str,
    min_interval_s: float,
    now: dt.datetime | None = None,
) -> asyncpg.Record:
    """``queue``: the deployment (settings.topic_prefix) whose workers fire it; ``min_interval_s``:
    the shortest time allowed between two of its slots (settings.schedule_min_interval_s)."""
    if not name or len(name) > 200:
        raise ScheduleError("name the schedule (1 to 200 characters)")
    cron = _check_cron(cron)
    _zone(timezone)
    try:
        model: TargetModel | None = await company_model(conn, str(company_id), str((job or {}).get("target_model")))
    except (ValueError, AttributeError):
        model = None  # check_definition names what is wrong
    definition = check_definition(job, model)
    at = next_run(cron, timezone, now or dt.datetime.now(dt.UTC))
    _check_interval(cron, timezone, at, min_interval_s)
    if definition["job_type"] == "import":
        await _check_import_for_company(conn, str(company_id), definition)
    return await conn.fetchrow(
        """
        INSERT INTO crm_schedules (id, company_id, name, cron, timezone, job_definition, next_run_at, queue)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
        """,
        uuid.uuid4(),
        uuid.UUID(str(company_id)),
        name,
        cron,
        timezone,
        definition,
        at,
        queue,
    )


async def list_schedules(conn: asyncpg.Connection, company_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM crm_schedules WHERE company_id = $1 ORDER BY name, id", uuid.UUID(str(company_id))
    )
    return rows


def _id(schedule_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(schedule_id))
    except ValueError:
        return None


async def get_schedule(conn: asyncpg.Connection, company_id: str, schedule_id: str) -> asyncpg.Record:
    sid = _id(schedule_id)
    row = (
        None
        if sid is None
        else await conn.fetchrow(
            "SELECT * FROM crm_schedules WHERE company_id = $1 AND id = $2", uuid.UUID(str(company_id)), sid
        )
    )
    if row is None:
        raise NotFound(f"no schedule {schedule_id}")
    return row


async def set_active(
    conn: asyncpg.Connection, company_id: str, schedule_id: str, active: bool, now: dt.datetime | None = None
) -> asyncpg.Record:
    """Pause or resume; a resumed schedule's next run is the first slot after now (paused slots are not fired)."""
    row = await get_schedule(conn, company_id, schedule_id)
    at = next_run(row["cron"], row["timezone"], now or dt.datetime.now(dt.UTC)) if active else row["next_run_at"]
    return await conn.fetchrow(
        "UPDATE crm_schedules SET is_active = $3, next_run_at = $4, updated_at = now() "
        "WHERE company_id = $1 AND id = $2 RETURNING *",
        row["company_id"],
        row["id"],
        active,
        at,
    )


async def delete_schedule(conn: asyncpg.Connection, company_id: str, schedule_id: str) -> None:
    row = await get_schedule(conn, company_id, schedule_id)
    await conn.execute("DELETE FROM crm_schedules WHERE company_id = $1 AND id = $2", row["company_id"], row["id"])


def schedule_document(row: asyncpg.Record) -> dict[str, Any]:
    return jobs.job_document(row)  # same plain-JSON conversion (uuids and times as text)


async def _fire_export(conn: asyncpg.Connection, settings: Settings, s: asyncpg.Record, slot: dt.datetime) -> list[str]:
    d = s["job_definition"]
    company = str(s["company_id"])
    # Checked like an export over the API: refused while the company's storage is full (the output's size
    # counts once written); StorageQuotaExceeded fails the slot with the quota's message as last_error.
    limits = await company_limits(conn, settings, company)
    used = await stored_files.usage(conn, settings, company)
    what = f"the file of the scheduled export {s['name']!r} of {d['target_model']} records"
    stored_files.check_room(limits, company, used, 1, what)
    job_id = str(uuid.uuid5(_NAMESPACE, f"{s['id']}/{slot.isoformat()}"))
    await jobs.insert_job(
        conn,
        {
            "id": job_id,
            "company_id": company,
            "job_type": "export",
            "target_model": d["target_model"],
            "file_format": d["file_format"],
            "file_path": "",
            "queue": settings.topic_prefix,
            "options": {**d["options"], "schedule_id": str(s["id"]), "slot": slot.isoformat()},
        },
    )
    return [job_id]


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name arrive as lone surrogates
        return False
    return True


async def _fire_import(
    conn: asyncpg.Connection, settings: Settings, s: asyncpg.Record, slot: dt.datetime, moved: list[Moved]
) -> list[str]:
    """One import job per file in the drop folder; each file moves into the company's storage (``moved``
    lets the caller put them back if the transaction fails)."""
    d = s["job_definition"]
    company = str(s["company_id"])
    # Before looking for files: a schedule whose template went, or whose value decisions no longer fit the
    # company's picklists, says so at every slot, files or not.
    template = await _import_template(conn, s) if d.get("template_id") else None
    await _check_values(conn, company, d, template)
    mapping, rules, values = _job_values(d, template)
    store = storage.of(settings)
    dropped = await asyncio.to_thread(store.list, company, "drop/" + (d.get("folder") or ""))
    if not dropped:
        return []
    created = []
    limits = await company_limits(conn, settings, company)
    for path in sorted(PurePosixPath(f.rel) for f in dropped if not PurePosixPath(f.rel).name.startswith(".")):
        fmt = IMPORT_EXTENSIONS.get(path.suffix.lower())
        if not path.name.isprintable() or not _utf8(path.name):
            log.warning(
                "schedule %s: %r has a name that is not printable UTF-8; rename it; left in the drop folder",
                s["id"],
                path.name,
            )
            continue
        job_id = str(uuid.uuid5(_NAMESPACE, f"{s['id']}/{slot.isoformat()}/{path.name}"))
        if fmt is None:
            log.warning(
                "schedule %s: %s is not a file crmio imports (%s); left in the drop folder",
                s["id"],
                path.name,
                ", ".join(IMPORT_EXTENSIONS),
            )
            continue
        rel = f"imports/{job_id}{path.suffix.lower()}"
        # Counted in the company's storage quota once moved in; over it, the slot fails with the quota's
        # message (the schedule's last_error) and the files wait in the folder for the next slot.
        size = next(f.size for f in dropped if f.rel == str(path))
        what = f"taking the dropped file {path.name!r} ({size:,} bytes) into storage"
        await stored_files.register(conn, settings, limits, company, rel, size, what)
        await asyncio.to_thread(store.move, company, str(path), rel)
        moved.append((company, rel, str(path)))
        await jobs.insert_job(
            conn,
            {
                "id": job_id,
                "company_id": company,
                "job_type": "import",
                "target_model": d["target_model"],
                "file_format": fmt,
                "file_path": rel,
                "original_filename": path.name,
                "field_mapping": mapping,
                "validation_rules": rules,
                "value_mapping": values,
                "duplicate_handling": d["duplicate_handling"],
                "queue": settings.topic_prefix,
                "options": {**d["options"], "schedule_id": str(s["id"]), "slot": slot.isoformat()},
            },
        )
        created.append(job_id)
    return created


def _job_values(
    d: dict[str, Any], template: asyncpg.Record | None
) -> tuple[dict[str, str | None] | None, dict[str, Any] | None, dict[str, dict[str, str | None]] | None]:
    """A scheduled import's field_mapping, validation_rules and value_mapping: the definition's own mapping and
    rules, else its import template's; the template's value decisions (choice words -> picklist values) as an
    import over the API (services.api.import_spec.resolve_spec) or `crmio import --template` takes them."""
    mapping, rules, values = d.get("mapping"), d.get("validation_rules"), None
    if template is not None:
        mapping = mapping or {k: v for k, v in template["field_mapping"].items() if v} or None
        rules = rules or template["validation_rules"] or None
        values = {f: dict(pairs) for f, pairs in (template["value_mapping"] or {}).items()} or None
    return mapping, rules, values


def _unfit_template(template: asyncpg.Record | None, tid: str, model: str, named: str) -> tuple[str, bool] | None:
    """Why ``template`` cannot serve an import of ``model`` ("the import template ... {named} is inactive"), and
    whether activating it would do; None when it fits. Checked when a schedule is made and at each slot."""
    if template is None:
        return f"the import template {tid} {named} does not exist (deleted, or never created)", False
    name = f"{template['template_name']!r} ({tid})"
    if not template["is_active"]:
        return f"the import template {name} {named} is inactive", True
    if template["template_type"] != "import":
        return f"the template {name} {named} is an export template", False
    if template["target_model"] != model:
        return f"the template {name} {named} is for {template['target_model']}, the schedule imports {model}", False
    return None


async def _check_import_for_company(conn: asyncpg.Connection, company_id: str, d: dict[str, Any]) -> None:
    """What check_definition cannot see without the company: the import template the definition names (the
    company's, active, an import template of its model) and its value decisions against the company's picklists.
    ScheduleError (422) or ValueMappingError (422) says what to do; nothing is created."""
    template = None
    model = d["target_model"]
    if d.get("template_id"):
        tid = d["template_id"]
        template = await templates.get_template(conn, company_id, tid)
        unfit = _unfit_template(template, tid, model, "the job names")
        if unfit is not None:
            problem, inactive = unfit
            choose = (
                f"name an active import template of {model} (GET /api/v1/templates?template_type=import"
                f"&target_model={model} lists the company's import templates), or leave template_id out and "
                "give the job its own mapping"
            )
            activate = f"activate it (PATCH /api/v1/templates/{tid} with is_active true) or " if inactive else ""
            raise ScheduleError(f"{problem}: {activate}{choose}")
    await _check_values(conn, company_id, d, template)


async def _check_values(
    conn: asyncpg.Connection, company_id: str, d: dict[str, Any], template: asyncpg.Record | None
) -> None:
    """The job's value decisions checked against the company's picklists, as an import is checked before its job
    exists (submit_import): options.unknown_values (ValueMappingError), then the template's value_mapping."""
    options = d.get("options") or {}
    values = template["value_mapping"] if template is not None else None
    if options.get("unknown_values") is None and not values:
        return  # nothing that a picklist could refuse
    fields = await field_picklists(conn, company_id, get_model(d["target_model"]))
    value_policies(fields, None, options.get("unknown_values"), strict=bool(options.get("strict")))
    if template is not None and values:
        tid = d["template_id"]
        try:
            check_value_mapping(values, fields)
        except ValueMappingError as exc:
            raise ScheduleError(
                f"the value_mapping of the import template {template['template_name']!r} ({tid}) does not fit the "
                f"company's picklists: {exc.message}. Change the template's value_mapping "
                f"(PATCH /api/v1/templates/{tid}) or add the value to the picklist"
            ) from None


async def _import_template(conn: asyncpg.Connection, s: asyncpg.Record) -> asyncpg.Record:
    """The import template the schedule names; ScheduleError (the slot fails, its files wait) when it was
    deleted or deactivated, or does not fit (an export template, another model), saying what to do."""
    d = s["job_definition"]
    tid = d["template_id"]
    waiting = f"no file is imported and files dropped in drop/{d.get('folder') or ''} wait there"
    # A schedule cannot be edited: the way out is a new one (and deleting this one).
    recreate = (
        "create a new schedule naming another import template of "
        f"{d['target_model']} (GET /api/v1/templates) or its own mapping, then delete this one "
        f"(DELETE /api/v1/schedules/{s['id']})"
    )
    template = await templates.get_template(conn, str(s["company_id"]), tid)
    unfit = _unfit_template(template, tid, d["target_model"], "this schedule names")
    if unfit is not None:
        problem, inactive = unfit
        if inactive:
            raise ScheduleError(
                f"{problem}: {waiting}. Activate it (PATCH /api/v1/templates/{tid} with is_active true), or {recreate}"
            )
        raise ScheduleError(f"{problem}: {waiting}. To import them, {recreate}")
    assert template is not None
    return template


async def fire_due(pool: asyncpg.Pool, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Fire every due slot once (see the module doc); returns the ids of the jobs created.

    Each schedule fires in a savepoint of its own: one that fails for a reason of its own (a file
    it cannot take, a definition that no longer fits) is rolled back alone, moved to its next slot
    with the error kept on it, and the pass goes on with the other companies' schedules. A transient
    error (the database or broker away) still ends the whole pass, to be tried again.
    """
    now = now or dt.datetime.now(dt.UTC)
    created: list[str] = []
    moved: list[Moved] = []
    try:
        async with pool.acquire() as conn, conn.transaction():
            due = await conn.fetch(
                "SELECT * FROM crm_schedules WHERE is_active AND queue = $3 AND next_run_at <= $1 "
                "ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                _DUE_PER_PASS,
                settings.topic_prefix,
            )
            for s in due:
                slot = s["next_run_at"]
                own: list[Moved] = []
                try:
                    async with conn.transaction():  # a savepoint: this schedule alone
                        if s["job_definition"]["job_type"] == "export":
                            ids = await _fire_export(conn, settings, s, slot)
                        else:
                            ids = await _fire_import(conn, settings, s, slot, own)
                        await conn.execute(
                            "UPDATE crm_schedules SET last_run_at = $2, next_run_at = $3, last_job_ids = $4, "
                            "failures = 0, updated_at = now() WHERE id = $1",
                            s["id"],
                            slot,
                            next_run(s["cron"], s["timezone"], max(slot, now)),
                            ids,
                        )
                except Exception as exc:  # noqa: BLE001 - classified right below
                    await _return_files(settings, own)
                    if is_transient(exc):
                        raise
                    await _skip_failed_slot(conn, s, slot, now, exc)
                    continue
                moved += own
                log.info("schedule %s (%s) fired slot %s: %d job(s)", s["id"], s["name"], slot.isoformat(), len(ids))
                created += ids
    except BaseException:
        await _return_files(settings, moved)  # the jobs were not recorded: the files wait for the next slot
        raise
    return created


async def _return_files(settings: Settings, moved: list[Moved]) -> None:
    store = storage.of(settings)
    for company, target, source in moved:
        try:
            await asyncio.to_thread(store.move, company, target, source)
        except Exception:  # noqa: BLE001 - the others are returned all the same
            log.exception("could not return %s to the drop folder of company %s", source, company)


async def _skip_failed_slot(
    conn: asyncpg.Connection, s: asyncpg.Record, slot: dt.datetime, now: dt.datetime, exc: Exception
) -> None:
    message = exc.message if isinstance(exc, CrmioError) else f"{type(exc).__name__}: {exc}"
    log.warning("schedule %s (%s) slot %s failed and is skipped: %s", s["id"], s["name"], slot.isoformat(), message)
    await conn.execute(
        "UPDATE crm_schedules SET last_run_at = $2, next_run_at = $3, last_error = $4, last_error_at = now(), "
        "failures = failures + 1, updated_at = now() WHERE id = $1",
        s["id"],
        slot,
        next_run(s["cron"], s["timezone"], max(slot, now)),
        message[:2000],
    )
