"""The job-control commands of `crmio`: rollback, retry, schedules, limits and purge (wired into services/cli/main.py)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.output import report_job
from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.settings import Settings

if TYPE_CHECKING:
    from services.core.runtime import Runtime

__all__ = ["add_parsers", "HANDLERS"]


def _cli() -> Any:
    from services.cli import common as cli

    return cli


async def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    from services.jobs import control

    cli = _cli()
    company = cli.company_of(args, settings)

    async def run(rt: Runtime) -> int:
        job = await control.rollback(settings, rt.pool, rt.sender(), company, args.job, force=args.force)
        return await _report(cli, rt.pool, company, job, args)

    return int(await cli.with_runtime(settings, run, kafka=True))


async def _retry(args: argparse.Namespace, settings: Settings) -> int:
    from services.jobs import control

    cli = _cli()
    company = cli.company_of(args, settings)
    mapping = cli.json_arg(args.mapping, "mapping")

    async def run(rt: Runtime) -> int:
        job = await control.retry(
            settings,
            rt.pool,
            rt.sender(),
            company,
            args.job,
            mapping=mapping,
            file=Path(args.file) if args.file else None,
            file_format=args.format,
        )
        return await _report(cli, rt.pool, company, job, args)

    return int(await cli.with_runtime(settings, run, kafka=True))


async def _report(cli: Any, pool: Any, company: str, job: dict[str, Any], args: argparse.Namespace) -> int:
    if args.wait:
        job = await cli.follow(pool, company, job["id"], show=not args.quiet)
    return report_job(job, as_json=args.json, waited=args.wait)


async def _schedules(args: argparse.Namespace, settings: Settings) -> int:
    from services.jobs import schedules

    cli = _cli()
    company = cli.company_of(args, settings)

    async def run(rt: Runtime) -> int:
        async with tenant(rt.pool, company) as conn:
            if args.action == "list":
                docs: Any = [schedules.schedule_document(r) for r in await schedules.list_schedules(conn, company)]
                if not args.json:
                    for d in docs:
                        state = "active" if d["is_active"] else "paused"
                        print(
                            f"{d['id']}  {state:6} {d['cron']!r:20} {d['timezone']:16} next {d['next_run_at']}  {d['name']}"
                        )
                    return 0
            elif args.action == "create":
                if not (args.name and args.cron and args.job):
                    raise CrmioError("schedules create needs --name, --cron and --job (JSON)")
                row = await schedules.create_schedule(
                    conn,
                    company,
                    name=args.name,
                    cron=args.cron,
                    timezone=args.tz,
                    job=cli.json_arg(args.job, "job"),
                    queue=settings.topic_prefix,
                    min_interval_s=settings.schedule_min_interval_s,
                )
                docs = schedules.schedule_document(row)
            else:
                if not args.id:
                    raise CrmioError(f"schedules {args.action} needs the schedule id")
                if args.action == "delete":
                    await schedules.delete_schedule(conn, company, args.id)
                    docs = {"deleted": args.id}
                else:
                    row = await schedules.set_active(conn, company, args.id, args.action == "resume")
                    docs = schedules.schedule_document(row)
        cli.print_json(docs)
        return 0

    return int(await cli.with_runtime(settings, run))


async def _limits(args: argparse.Namespace, settings: Settings) -> int:
    from services.jobs import limits, stored_files

    cli = _cli()
    company = cli.company_of(args, settings)
    values = {name: getattr(args, name) for name in limits.LIMIT_NAMES if getattr(args, name, None) is not None}
    values = {k: (None if v == 0 else v) for k, v in values.items()}  # 0 resets to the default

    async def run(rt: Runtime) -> int:
        async with rt.system.acquire() as conn:
            if args.action == "set":
                if not values:
                    raise CrmioError(
                        "limits set needs at least one of --"
                        + ", --".join(n.replace("_", "-") for n in limits.LIMIT_NAMES)
                    )
                lim = await limits.set_company_limits(conn, settings, company, values)
            else:
                lim = await limits.company_limits(conn, settings, company)
            used = await stored_files.usage(conn, settings, company)
        cli.print_json({"company_id": company, **lim.document(), "storage_used_bytes": used})
        return 0

    return int(await cli.with_runtime(settings, run))


async def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from services.jobs.retention import purge

    cli = _cli()
    now = dt.datetime.fromisoformat(args.now) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)

    async def run(rt: Runtime) -> int:
        summaries = await purge(rt.system, settings, now, [args.company] if args.company else None)
        if args.json:
            cli.print_json(summaries)
        else:
            for s in summaries:
                print(
                    f"{s['company_id']}: {s['jobs_purged']} jobs, {s['logs_purged']} logs, {s['uploads_purged']} "
                    f"uploads, {s['files_purged']} files ({s['bytes_purged']} bytes)"
                )
        return 0

    return int(await cli.with_runtime(settings, run))


def add_parsers(sub: Any, job_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("rollback", help="roll back an import: remove what it created, restore what it updated")
    p.add_argument("job", help="the import job's id")
    p.add_argument("--force", action="store_true", help="also revert records changed after the import")
    p.add_argument("--wait", action="store_true", help="follow the rollback job to its end")
    job_flags(p)

    p = sub.add_parser("retry", help="import only the failed rows of a finished import again")
    p.add_argument("job", help="the import job's id")
    p.add_argument(
        "--file", help="a fixed file (e.g. the corrected errors.csv); default: the job's file, failed rows only"
    )
    p.add_argument("--format", choices=("csv", "excel", "json"), help="--file's format (default: from its extension)")
    p.add_argument("--mapping", help="JSON object: a corrected mapping (default: the job's)")
    p.add_argument("--wait", action="store_true", help="follow the new job to its end")
    job_flags(p)

    p = sub.add_parser("schedules", help="list, create, pause, resume or delete schedules")
    p.add_argument("action", choices=("list", "create", "pause", "resume", "delete"))
    p.add_argument("id", nargs="?", help="schedule id (pause, resume, delete)")
    p.add_argument("--name", help="create: the schedule's name")
    p.add_argument("--cron", help="create: five fields (minute hour day month weekday), or six with seconds last")
    p.add_argument("--tz", default="UTC", help="create: IANA time zone of the cron expression (default UTC)")
    p.add_argument(
        "--job",
        help='create: JSON job definition, e.g. {"job_type": "export", "target_model": "lead", '
        '"file_format": "csv", "filters": [...]} or {"job_type": "import", '
        '"target_model": "lead", "folder": "leads"}',
    )
    job_flags(p)

    p = sub.add_parser("limits", help="show or set a company's limits and retention (operator)")
    p.add_argument("action", choices=("show", "set"), nargs="?", default="show")
    p.add_argument("--max-running-jobs", dest="max_running_jobs", type=int)
    p.add_argument("--max-file-bytes", dest="max_file_bytes", type=int)
    p.add_argument("--max-rows", dest="max_rows", type=int)
    p.add_argument("--job-retention-days", dest="job_retention_days", type=int)
    p.add_argument("--file-retention-days", dest="file_retention_days", type=int)
    p.add_argument(
        "--max-storage-bytes",
        dest="max_storage_bytes",
        type=int,
        help="bytes the company may keep in storage: uploads, job and export files (0: the default)",
    )
    job_flags(p)

    p = sub.add_parser("purge", help="purge jobs, logs and files past their retention now (workers do it daily)")
    p.add_argument("--now", help="purge as of this ISO time instead of now (e.g. to check a retention setting)")
    p.add_argument("--company", help="only this company (default: every company)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], Any]] = {
    "rollback": lambda a, s: asyncio.run(_rollback(a, s)),
    "retry": lambda a, s: asyncio.run(_retry(a, s)),
    "schedules": lambda a, s: asyncio.run(_schedules(a, s)),
    "limits": lambda a, s: asyncio.run(_limits(a, s)),
    "purge": lambda a, s: asyncio.run(_purge(a, s)),
}
