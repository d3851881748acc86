"""What every local `crmio` command shares: the company, JSON arguments, a database pool, following a job
(output: services/cli/output.py, re-exported here)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from services.cli.output import JobBar, err, exit_code, is_final, print_json, summary
from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.settings import Settings
from services.jobs import repository as jobs

if TYPE_CHECKING:
    from services.core.runtime import Runtime

T = TypeVar("T")

__all__ = ["print_json", "err", "json_arg", "company_of", "with_runtime", "load_job", "follow", "summary", "exit_code"]


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
    with JobBar(show) as bar:
        while True:
            job = await load_job(pool, company, job_id)
            bar.update(job)
            if is_final(job):
                return job
            await asyncio.sleep(0.25)
