"""What every `crmio` command shares: the company, JSON arguments and output, a database pool, following a job."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.settings import Settings
from services.jobs import repository as jobs

if TYPE_CHECKING:
    from services.core.runtime import Runtime

T = TypeVar("T")

__all__ = ["print_json", "err", "json_arg", "company_of", "with_runtime", "load_job", "follow", "summary", "exit_code"]


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    sys.stdout.flush()


def err(message: str) -> None:
    print(f"crmio: {message}", file=sys.stderr)


def json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CrmioError(f"--{what} is not valid JSON: {exc}") from None


def company_of(args: argparse.Namespace, settings: Settings) -> str:
    company = args.company or settings.company_id
    if not company:
        raise CrmioError("name the company with --company UUID (or set CRMIO_COMPANY_ID)")
    return company


async def with_runtime(settings: Settings, fn: Callable[[Runtime], Awaitable[T]], *, kafka: bool = False) -> T:
    """Run one command with the process's Runtime: small pools, and a Kafka producer when it sends events."""
    from services.core.runtime import open_runtime

    async with open_runtime(settings, producer=kafka, pool_size=(1, 2)) as runtime:
        return await fn(runtime)


async def load_job(pool: Any, company: str, job_id: str) -> dict[str, Any]:
    async with tenant(pool, company) as conn:
        row = await jobs.require_job(conn, company, job_id)
    return jobs.job_document(row)


async def follow(pool: Any, company: str, job_id: str, show: bool) -> dict[str, Any]:
    """Poll the job until it is final, drawing a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ok {task.fields[ok]}  errors {task.fields[err]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=False,
    ) as bar:
        task = bar.add_task("pending", total=None, ok=0, err=0)
        while True:
            job = await load_job(pool, company, job_id)
            total = job["total_records"] or None
            bar.update(
                task,
                description=job["job_status"],
                completed=job["processed_records"],
                total=total,
                ok=job["success_records"],
                err=job["error_records"],
            )
            if job["job_status"] in jobs.FINAL_STATUSES:
                return job
            await asyncio.sleep(0.25)


def summary(job: dict[str, Any]) -> str:
    return (
        f"job {job['id']}: {job['job_status']} - {job['total_records']} rows, {job['success_records']} ok "
        f"({job['created_records']} created, {job['updated_records']} updated, {job['skipped_records']} skipped), "
        f"{job['error_records']} errors"
        + (f", {job['warning_records']} with warnings" if job.get("warning_records") else "")
        + (f" - {job['message']}" if job.get("message") else "")
    )


def exit_code(job: dict[str, Any]) -> int:
    return 0 if job["job_status"] in ("completed", "pending", "running") else 1
