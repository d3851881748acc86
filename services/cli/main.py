"""The `crmio` command line: the local stack, migrations, the worker, the API, imports, exports,
job status and logs, API keys; job control (rollback, retry, schedules, limits, purge) in cli_control.

With --json, stdout holds exactly one JSON document; progress and messages go to stderr.
Exit codes: 0 done, 1 the job failed or was cancelled, 2 refused (bad input, limits, configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from services.cli.args import export_options, filter_arg, import_options
from services.cli.common import (
    company_of,
    err,
    exit_code,
    follow,
    json_arg,
    load_job,
    print_json,
    summary,
    with_runtime,
)
from services.cli.output import print_logs, report_job
from services.cli.remote.config import remote_settings
from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.settings import PROJECT_ROOT, Settings, get_settings
from services.jobs import log_repository
from services.jobs import repository as jobs

if TYPE_CHECKING:
    from services.core.runtime import Runtime

__all__ = ["main"]

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "leads_sample.csv"
DEMO_COMPANY = "00000000-0000-4000-8000-00000000de30"


# --- stack, migrate, worker -------------------------------------------------------------------


def cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    from stack import cluster, s3proxy
    from stack import local as stack

    if args.brokers is not None:
        settings = settings.model_copy(update={"kafka_brokers": args.brokers})
    several = settings.kafka_brokers > 1
    if args.action == "up":
        info = stack.up(settings, kafka_up=cluster.kafka_up if several else None)
        brokers = cluster.bootstrap(settings) if several else info.kafka_bootstrap
        print(f"kafka    {brokers}{'' if info.kafka_started else ' (already running)'}", file=sys.stderr)
        print(
            f"postgres {info.database_url.rsplit('@', 1)[-1]}{'' if info.postgres_started else ' (already running)'}",
            file=sys.stderr,
        )
        if args.s3:
            started = s3proxy.start(settings)
            print(
                f"s3proxy  {s3proxy.config(settings).endpoint}{'' if started else ' (already running)'}",
                file=sys.stderr,
            )
    elif args.action == "down":
        cluster.down(settings)
        stack.down(settings)
        s3proxy.stop(settings)
    elif args.action == "status":
        nodes = cluster.status(settings)
        states = {**stack.status(settings), **nodes, "s3proxy": s3proxy.status(settings)}
        if nodes:  # the first node answers on the bootstrap port: not a broker of its own
            del states["kafka"]
        for name, state in states.items():
            print(f"{name:9}{state}")
    else:
        kafka = cluster.env_lines(settings) if several else stack.env_lines(settings)[:1]
        lines = kafka + stack.env_lines(settings)[1:] + (s3proxy.env_lines(settings) if args.s3 else [])
        print("\n".join(lines))
    return 0


async def _migrate(settings: Settings) -> None:
    from schemas.topics import TOPICS
    from services.apply import partition_order
    from services.core.db import connect_pool, migrate
    from services.core.kafka_io import ensure_topics, partitions_of

    pool = await connect_pool(settings.system_dsn())  # the owner runs migrations
    try:
        applied = await migrate(pool)
        created = await ensure_topics(settings)
        for spec in TOPICS:
            if spec.ordered and settings.topic(spec.name) in created:
                await partition_order.start_topic(pool, settings.topic(spec.name), partitions_of(settings, spec))
    finally:
        await pool.close()
    print(f"migrations applied: {', '.join(applied) or 'none pending'}", file=sys.stderr)
    print(f"topics created: {', '.join(created) or 'none missing'}", file=sys.stderr)


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.serve import cmd_api as run

    return run(args, settings)


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.serve import cmd_keys as run

    return run(args, settings)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    # The worker is the streams package's own entry point; exec keeps this process (its pid, its
    # signals, its environment) without the CLI importing the Faust wiring.
    os.execv(sys.executable, [sys.executable, "-m", "streams.worker"])


# --- jobs ------------------------------------------------------------------------------------


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from services.ingest.submit import submit_import

    company = company_of(args, settings)
    options = import_options(args)

    async def run(rt: Runtime) -> int:
        mapping, rules = json_arg(args.mapping, "mapping"), json_arg(args.rules, "rules")
        values = json_arg(args.values, "values")
        if args.template:
            from services.core.errors import NotFound
            from services.jobs import templates

            async with tenant(rt.pool, company) as conn:
                template = await templates.get_template(conn, company, args.template)
            if template is None or template["template_type"] != "import" or template["target_model"] != args.model:
                raise NotFound(f"no import template {args.template} for {args.model} in company {company}")
            mapping = mapping or {k: v for k, v in template["field_mapping"].items() if v} or None
            rules = rules or template["validation_rules"] or None
            values = values or template["value_mapping"] or None
        job = await submit_import(
            settings,
            rt.pool,
            rt.sender(),
            company_id=company,
            path=Path(args.file),
            model=args.model,
            file_format=args.format,
            mapping=mapping,
            duplicates=args.duplicates,
            rules=rules,
            options=options,
            value_mapping=values,
        )
        if args.wait:
            job = await follow(rt.pool, company, job["id"], show=not args.quiet)
        return report_job(job, as_json=args.json, waited=args.wait)

    return await with_runtime(settings, run, kafka=True)


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from services.exports import submit_export

    company = company_of(args, settings)
    options = export_options(args)

    async def run(rt: Runtime) -> int:
        job = await submit_export(
            settings,
            rt.pool,
            rt.sender(),
            company_id=company,
            model=args.model,
            fields=args.fields.split(",") if args.fields else None,
            filters=[filter_arg(f) for f in args.filter],
            sort=args.sort.split(",") if args.sort else None,
            file_format=args.format,
            options=options,
        )
        if args.wait:
            job = await follow(rt.pool, company, job["id"], show=not args.quiet)
            if job["job_status"] == "completed":
                from services.cli.download import export_file

                job["file_path"] = str(export_file(settings, company, job, args.output))
        return report_job(job, as_json=args.json, waited=args.wait, file=job["file_path"])

    return await with_runtime(settings, run, kafka=True)


async def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    company = company_of(args, settings)
    if args.action == "cancel":
        return await _cancel(args, settings, company)

    async def run(rt: Runtime) -> int:
        async with tenant(rt.pool, company) as conn:
            rows, total = await jobs.list_jobs(
                conn,
                company,
                job_type=args.type,
                job_status=args.status,
                target_model=args.model,
                limit=args.limit,
                offset=args.offset,
            )
        docs = [jobs.job_document(r) for r in rows]
        if args.json:
            print_json({"total": total, "jobs": docs})
        else:
            for d in docs:
                print(
                    f"{d['id']}  {d['job_type']:6} {d['target_model']:7} {d['job_status']:9} "
                    f"{d['processed_records']}/{d['total_records']}  {d['created_at']}"
                )
        return 0

    return await with_runtime(settings, run)


async def _cancel(args: argparse.Namespace, settings: Settings, company: str) -> int:
    from services.jobs import control

    if not args.job:
        raise CrmioError("jobs cancel needs the job id")

    async def run(rt: Runtime) -> int:
        job = await control.cancel(settings, rt.pool, rt.sender(), company, args.job)
        print_json(job) if args.json else print(summary(job))
        return 0

    return await with_runtime(settings, run, kafka=True)


async def _templates(args: argparse.Namespace, settings: Settings) -> int:
    from services.core.errors import NotFound
    from services.jobs import templates

    company = company_of(args, settings)

    async def run(rt: Runtime) -> int:
        async with tenant(rt.pool, company) as conn:
            if args.action == "list":
                rows, total = await templates.list_templates(conn, company, search=args.search, limit=args.limit)
                docs: Any = {"total": total, "templates": [templates.template_document(r) for r in rows]}
            elif args.action == "create":
                if not (args.name and args.model and args.type):
                    raise CrmioError("templates create needs --name, --model and --type")
                row = await templates.create_template(
                    conn,
                    company,
                    {
                        "template_name": args.name,
                        "target_model": args.model,
                        "template_type": args.type,
                        "field_mapping": json_arg(args.mapping, "mapping") or {},
                        "validation_rules": json_arg(args.rules, "rules") or {},
                    },
                )
                docs = templates.template_document(row)
            else:
                if not args.id:
                    raise CrmioError(f"templates {args.action} needs the template id")
                row = (
                    await templates.get_template(conn, company, args.id)
                    if args.action == "show"
                    else await templates.update_template(conn, company, args.id, {"is_active": False})
                )
                if row is None:
                    raise NotFound(f"no template {args.id} for company {company}")
                docs = templates.template_document(row)
        if args.json or args.action != "list":
            print_json(docs)
        else:
            for d in docs["templates"]:
                state = "active" if d["is_active"] else "inactive"
                print(f"{d['id']}  {d['template_type']:6} {d['target_model']:7} {state:8} {d['template_name']}")
        return 0

    return await with_runtime(settings, run)


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    company = company_of(args, settings)

    async def run(rt: Runtime) -> int:
        job = await (
            follow(rt.pool, company, args.job, show=not args.quiet)
            if args.wait
            else load_job(rt.pool, company, args.job)
        )
        print_json(job) if args.json else print(summary(job))
        return exit_code(job)

    return await with_runtime(settings, run)


async def _logs(args: argparse.Namespace, settings: Settings) -> int:
    company = company_of(args, settings)

    async def run(rt: Runtime) -> int:
        await load_job(rt.pool, company, args.job)
        async with tenant(rt.pool, company) as conn:
            rows = await log_repository.list_logs(
                conn, company, args.job, level=args.level, limit=args.limit, offset=args.offset
            )
        print_logs([jobs.log_document(r) for r in rows], args.json)
        return 0

    return await with_runtime(settings, run)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Run a worker, import the bundled sample file, print the outcome and the errors, stop the worker."""
    log_path = settings.state_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    crmio = [sys.executable, "-m", "services.cli.main"]
    # Its own worker and import on this machine's database, even where the remote settings are set too.
    env = {k: v for k, v in os.environ.items() if k not in ("CRMIO_API_URL", "CRMIO_API_KEY")}
    with log_path.open("ab") as log:
        worker = subprocess.Popen([*crmio, "worker"], stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)
    try:
        print(f"worker started (pid {worker.pid}, log {log_path}); importing {SAMPLE.name}", file=sys.stderr)
        done = subprocess.run(
            [
                *crmio,
                "import",
                str(SAMPLE),
                "--company",
                DEMO_COMPANY,
                "--model",
                "lead",
                "--duplicates",
                "update",
                "--wait",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        sys.stderr.write(done.stderr)
        if done.returncode not in (0, 1):
            return done.returncode
        job = orjson.loads(done.stdout)
        print(summary(job))
        subprocess.run([*crmio, "logs", job["id"], "--company", DEMO_COMPANY, "--level", "error"], env=env)
        return 0 if job["job_status"] == "completed" else 1
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


# --- parser ----------------------------------------------------------------------------------


def _version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crmio")
    except PackageNotFoundError:  # a checkout run without installing the project
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmio", description="crmio: CRM data import and export")
    parser.add_argument("--version", action="version", version=f"crmio {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="run the local Kafka broker and PostgreSQL")
    p.add_argument("action", choices=("up", "down", "status", "env"))
    p.add_argument("--s3", action="store_true", help="also S3Proxy, a local S3 API server (up), and its settings (env)")
    p.add_argument(
        "--brokers", type=int, choices=(1, 3), help="Kafka brokers: 1 (the default) or a KRaft cluster of 3 (up, env)"
    )

    sub.add_parser("migrate", help="apply SQL migrations and create Kafka topics")
    sub.add_parser("worker", help="run a stream-processing worker")
    sub.add_parser("demo", help="import the bundled sample file with a worker of its own")

    p = sub.add_parser("api", help="serve the HTTP API")
    p.add_argument("--host", help="bind address (default: CRMIO_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: CRMIO_API_PORT, 8000)")

    p = sub.add_parser("keys", help="manage API keys: create, list, revoke")
    keys_sub = p.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
    k = keys_sub.add_parser("create", help="a new API key, printed once as the last line of stdout")
    k.add_argument("--company", required=True, help="company UUID the key belongs to")
    k.add_argument("--role", required=True, choices=("admin", "member"))
    k.add_argument("--label", help="what the key is for")
    k = keys_sub.add_parser("list", help="the company's keys: id, role, label, created, revoked (never a secret)")
    k.add_argument("--company", help="company UUID (remotely: the key's own)")
    k.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    k = keys_sub.add_parser("revoke", help="revoke a key (refused for the company's last live admin key)")
    k.add_argument("key_id", help="the key's id (from keys list)")
    k.add_argument("--company", help="company UUID the key belongs to (remotely: the key's own)")

    def job_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--company", help="company UUID (default: CRMIO_COMPANY_ID)")
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("import", help="import a CSV, Excel or JSON file")
    p.add_argument("file")
    p.add_argument("--model", required=True, choices=("lead", "contact", "account"))
    p.add_argument("--format", choices=("csv", "excel", "json"), help="declared format (default: from the extension)")
    p.add_argument("--mapping", help='JSON object: source column -> target field, e.g. {"E-mail": "email"}')
    p.add_argument("--duplicates", default="skip", choices=("skip", "update", "create_new"))
    p.add_argument("--rules", help='JSON validation rules, e.g. {"email": {"required": true}}')
    p.add_argument("--template", help="import template id: its mapping, rules and value map (unless given here)")
    p.add_argument(
        "--values",
        help='JSON value map per choice field, e.g. {"lead_source": {"Google Ads": '
        '"advertisement", "Podcast": null}} (null: leave empty)',
    )
    p.add_argument(
        "--unknown-values",
        metavar="add|map:VALUE|empty|fail",
        help="what a choice value outside the company's picklist gets: add it to the picklist, map it to "
        "VALUE, leave it empty with a warning (default), or fail the row",
    )
    p.add_argument(
        "--match",
        choices=("external_id",),
        help="match duplicates on external_id (the id another system gave each record; every row needs one) "
        "instead of email, or website then name for accounts",
    )
    p.add_argument(
        "--account-match",
        choices=("external_id", "domain", "name"),
        help="contacts: link each contact to the account with this external_id, domain or name, read from the "
        "columns mapped to account.<field> (default: the first of those the mapping gives)",
    )
    p.add_argument(
        "--missing-accounts",
        choices=("create", "warn"),
        help="contacts: create an account the row names that does not exist from its account columns (default), "
        "or import the contact without a link and warn",
    )
    p.add_argument(
        "--accept-suggestions",
        action="store_true",
        help="take the suggested column map and value map (what the preview suggests) without asking",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail a row whose optional field has a value it cannot take (default: leave the value out "
        "with a warning and import the record)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and resolve duplicates for every row, report the outcomes, write no record",
    )
    p.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="write nothing unless every row is valid (validates the whole file first)",
    )
    p.add_argument("--max-errors", type=int, help="stop the import once more rows than this have failed")
    p.add_argument("--max-error-percent", type=float, help="stop the import once more than this %% of rows failed")
    p.add_argument("--date-order", choices=("DMY", "MDY"), help="which wins for ambiguous dates such as 03/04/2024")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--encoding", help="CSV encoding (default: detected)")
    p.add_argument("--delimiter", help="CSV delimiter (default: detected)")
    p.add_argument("--wait", action="store_true", help="follow the job to its end")
    job_flags(p)

    p = sub.add_parser("export", help="export records to CSV, Excel, JSON or PDF")
    p.add_argument("--model", required=True, choices=("lead", "contact", "account"))
    p.add_argument("--format", required=True, choices=("csv", "excel", "json", "pdf"))
    p.add_argument("--fields", help="fields in order, comma-separated (default: all)")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        help="FIELD OP [VALUE], repeatable; OP: eq ne contains in between gte lte empty not_empty",
    )
    p.add_argument("--sort", help="fields, comma-separated; -field sorts descending (write --sort=-field)")
    p.add_argument("--json-style", choices=("array", "ndjson"), help="JSON exports: one array (default) or NDJSON")
    p.add_argument("--bom", action="store_true", help="CSV exports: start with a UTF-8 BOM (for Excel)")
    p.add_argument("--wait", action="store_true", help="follow the job to its end; prints the output file")
    p.add_argument(
        "--output",
        help="with --wait: write the file here (a file or a folder); remotely the default is this directory",
    )
    job_flags(p)

    p = sub.add_parser("jobs", help="list the company's jobs (newest first), or cancel one")
    p.add_argument("action", nargs="?", choices=("list", "cancel"), default="list")
    p.add_argument("job", nargs="?", help="cancel: the job id")
    p.add_argument("--type", choices=("import", "export", "rollback"))
    p.add_argument("--status", choices=jobs.JOB_STATUSES)
    p.add_argument("--model", choices=("lead", "contact", "account"))
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    job_flags(p)

    p = sub.add_parser("templates", help="list, show, create or deactivate templates")
    p.add_argument("action", choices=("list", "show", "create", "deactivate"))
    p.add_argument("id", nargs="?", help="template id (show, deactivate)")
    p.add_argument("--name", help="create: the template's name")
    p.add_argument("--model", choices=("lead", "contact", "account"), help="create: target model")
    p.add_argument("--type", choices=("import", "export"), help="create: template type")
    p.add_argument("--mapping", help="create: JSON mapping (import: column -> field)")
    p.add_argument("--rules", help="create: JSON validation rules")
    p.add_argument("--search", help="list: part of the name")
    p.add_argument("--limit", type=int, default=100)
    job_flags(p)

    p = sub.add_parser("status", help="show a job")
    p.add_argument("job")
    p.add_argument("--wait", action="store_true", help="follow the job to its end")
    job_flags(p)

    p = sub.add_parser("logs", help="show a job's logs")
    p.add_argument("job")
    p.add_argument("--level", choices=("info", "warning", "error"))
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)
    job_flags(p)

    from services.cli.control import add_parsers
    from services.cli.download import add_parsers as add_download_parsers
    from services.cli.fields import add_parsers as add_field_parsers
    from services.cli.picklists import add_parsers as add_picklist_parsers
    from services.cli.results import add_parsers as add_result_parsers

    add_parsers(sub, job_flags)
    add_result_parsers(sub, job_flags)
    add_download_parsers(sub, job_flags)
    add_picklist_parsers(sub)
    add_field_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    from services.cli.control import HANDLERS
    from services.cli.download import HANDLERS as DOWNLOAD_HANDLERS
    from services.cli.fields import HANDLERS as FIELD_HANDLERS
    from services.cli.picklists import HANDLERS as PICKLIST_HANDLERS
    from services.cli.results import HANDLERS as RESULT_HANDLERS

    args = _parser().parse_args(argv)
    settings = get_settings()
    handlers: dict[str, Callable[[argparse.Namespace, Settings], Any]] = {
        "stack": cmd_stack,
        "migrate": lambda a, s: asyncio.run(_migrate(s)) or 0,
        "worker": cmd_worker,
        "demo": cmd_demo,
        "api": cmd_api,
        "keys": cmd_keys,
        "import": lambda a, s: asyncio.run(_import(a, s)),
        "export": lambda a, s: asyncio.run(_export(a, s)),
        "jobs": lambda a, s: asyncio.run(_jobs(a, s)),
        "templates": lambda a, s: asyncio.run(_templates(a, s)),
        "status": lambda a, s: asyncio.run(_status(a, s)),
        "logs": lambda a, s: asyncio.run(_logs(a, s)),
        **HANDLERS,
        **RESULT_HANDLERS,
        **PICKLIST_HANDLERS,
        **FIELD_HANDLERS,
        **DOWNLOAD_HANDLERS,
    }
    try:
        remote = remote_settings()
        if remote is None:
            code = handlers[args.command](args, settings)
        else:  # through the HTTP API; operator commands only with the local settings given too
            from services.cli.remote.commands import dispatch

            code = dispatch(args, settings, remote, handlers[args.command])
    except CrmioError as exc:
        err(exc.message if not str(exc) else str(exc))
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
