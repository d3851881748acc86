"""Jobs over the API: import (upload, then the job), export (and its download), status, logs, the job list, cancel."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from services.cli.args import export_options, filter_arg, import_options
from services.cli.common import json_arg
from services.cli.output import exit_code, print_json, print_logs, report_job, summary
from services.cli.remote.follow import follow, report
from services.cli.remote.session import Remote
from services.cli.remote.uploads import upload
from services.core.errors import CrmioError

__all__ = ["import_job", "export_job", "download", "status", "logs", "jobs", "import_body"]


def import_body(args: argparse.Namespace, upload_id: str) -> dict[str, Any]:
    """POST /api/v1/jobs's import body from `crmio import`'s flags."""
    options = import_options(args)
    policy = options.pop("error_policy", None)
    body: dict[str, Any] = {
        "job_type": "import",
        "upload_id": upload_id,
        "target_model": args.model,
        "duplicate_handling": args.duplicates,
        "mapping": json_arg(args.mapping, "mapping"),
        "validation_rules": json_arg(args.rules, "rules"),
        "value_mapping": json_arg(args.values, "values"),
        "template_id": args.template,
        "error_policy": policy,
        "options": options,
    }
    return {k: v for k, v in body.items() if v is not None}


def import_job(args: argparse.Namespace, remote: Remote) -> int:
    body = import_body(args, "")  # flags checked before the file travels
    doc = upload(remote, args.file, declared=args.format, model=args.model, sheet=args.sheet)
    body["upload_id"] = doc["id"]
    return report(remote, remote.api.call("POST", "/jobs", json=body), args)


def export_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_type": "export",
        "target_model": args.model,
        "file_format": args.format,
        "fields": args.fields.split(",") if args.fields else None,
        "filters": [filter_arg(f) for f in args.filter] or None,
        "sort": args.sort.split(",") if args.sort else None,
        "options": export_options(args) or None,
    }
    return {k: v for k, v in body.items() if v is not None}


def export_job(args: argparse.Namespace, remote: Remote) -> int:
    """Start an export; with --wait follow it and download its file (to --output or this directory)."""
    job: dict[str, Any] = remote.api.call("POST", "/jobs", json=export_body(args))
    if args.wait:
        job = follow(remote, str(job["id"]), show=not args.quiet)
        if job["job_status"] == "completed":
            job["file_path"] = str(_fetch(remote, job, args.output))
    return report_job(job, as_json=args.json, waited=args.wait, file=job.get("file_path"))


def _fetch(remote: Remote, job: dict[str, Any], output: str | None) -> Path:
    fallback = f"{job['target_model']}s-{str(job['id'])[:8]}.{_EXT.get(job['file_format'], 'dat')}"
    return remote.api.download(f"/jobs/{job['id']}/download", output=output, fallback=fallback)


_EXT = {"csv": "csv", "excel": "xlsx", "json": "json", "pdf": "pdf"}


def download(args: argparse.Namespace, remote: Remote) -> int:
    """A completed export's file, to --output or this directory."""
    job: dict[str, Any] = remote.api.call("GET", f"/jobs/{args.job}")
    path = _fetch(remote, job, args.output).resolve()
    if args.json:
        print_json({"job_id": job["id"], "path": str(path), "bytes": path.stat().st_size})
    else:
        print(path)
    return 0


def status(args: argparse.Namespace, remote: Remote) -> int:
    job = follow(remote, args.job, show=not args.quiet) if args.wait else remote.api.call("GET", f"/jobs/{args.job}")
    print_json(job) if args.json else print(summary(job))
    return exit_code(job)


def logs(args: argparse.Namespace, remote: Remote) -> int:
    params = {"level": args.level, "limit": args.limit, "offset": args.offset}
    print_logs(remote.api.call("GET", f"/jobs/{args.job}/logs", params=params)["items"], args.json)
    return 0


def jobs(args: argparse.Namespace, remote: Remote) -> int:
    """`crmio jobs [list]` with its filters, or `crmio jobs cancel JOB`."""
    if args.action == "cancel":
        if not args.job:
            raise CrmioError("jobs cancel needs the job id")
        job = remote.api.call("POST", f"/jobs/{args.job}/cancel")
        print_json(job) if args.json else print(summary(job))
        return 0
    if args.type == "rollback":
        raise CrmioError("the API lists imports and exports only: leave out --type, or use --type import|export")
    params = {
        "job_type": args.type,
        "job_status": args.status,
        "target_model": args.model,
        "limit": args.limit,
        "offset": args.offset,
    }
    page = remote.api.call("GET", "/jobs", params=params)
    if args.json:
        print_json({"total": page["total"], "jobs": page["items"]})
    else:
        for d in page["items"]:
            print(
                f"{d['id']}  {d['job_type']:6} {d['target_model']:7} {d['job_status']:9} "
                f"{d['processed_records']}/{d['total_records']}  {_when(d['created_at'])}"
            )
    return 0


def _when(iso: str) -> str:
    """An ISO time as the local CLI prints a datetime."""
    return str(dt.datetime.fromisoformat(iso))
