"""`crmio download JOB [--output PATH]`: a completed export's file, copied out of storage (remotely: downloaded)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.core.errors import NotFound
from services.core.settings import Settings

if TYPE_CHECKING:
    from services.core.runtime import Runtime

__all__ = ["add_parsers", "export_file", "HANDLERS"]

_EXT = {"csv": ".csv", "json": ".json", "pdf": ".pdf", "excel": ".xlsx"}


def export_file(settings: Settings, company: str, job: dict[str, Any], output: str | None) -> Path:
    """The stored file of a completed export; with ``output`` (a file or a folder), a copy there. Without one,
    the local folder's own file, or (object storage) a copy in this directory."""
    from services.core import storage

    if job["job_type"] != "export" or job["job_status"] != "completed":
        raise NotFound(f"job {job['id']} has no file to download: only a completed export has one")
    stored = storage.of(settings).file(company, job["file_path"])
    if output is None and stored.path is not None:
        return stored.path
    name = job["original_filename"] or f"{job['target_model']}s-{str(job['id'])[:8]}{_EXT.get(job['file_format'], '')}"
    target = Path(output or ".")
    target = target / Path(name).name if target.is_dir() else target
    stored.storage.download(company, stored.rel, target)
    return target


async def _download(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import common as cli

    company = cli.company_of(args, settings)

    async def run(rt: Runtime) -> int:
        job = await cli.load_job(rt.pool, company, args.job)
        path = export_file(settings, company, job, args.output or ".")
        if args.json:
            cli.print_json({"job_id": job["id"], "path": str(path.resolve()), "bytes": path.stat().st_size})
        else:
            print(path.resolve())
        return 0

    return int(await cli.with_runtime(settings, run))


def add_parsers(sub: Any, job_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("download", help="write a completed export's file (default: its name, in this directory)")
    p.add_argument("job", help="the export job's id")
    p.add_argument("--output", help="a file or folder to write it to (default: this directory)")
    job_flags(p)


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], Any]] = {
    "download": lambda a, s: asyncio.run(_download(a, s)),
}
