"""`crmio results JOB --kind success|errors --format csv|excel [--output PATH]`: write an import's
result file (wired into services/cli/main.py like cli_control)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.core.settings import Settings

if TYPE_CHECKING:
    from services.core.runtime import Runtime

__all__ = ["add_parsers", "HANDLERS"]


async def _results(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import common as cli
    from services.result_files import open_result

    company = cli.company_of(args, settings)

    async def run(rt: Runtime) -> int:
        result = await open_result(settings, rt.pool, company, args.job, args.kind, args.format)
        path = Path(args.output) if args.output else Path.cwd() / result.filename
        # Written beside the target and renamed: an interrupted run never leaves half a file under the name.
        partial = path.with_name(f".{path.name}.partial")
        try:
            lines = await result.write_to(partial)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        if args.json:
            cli.print_json(
                {"job_id": args.job, "kind": args.kind, "format": args.format, "path": str(path), "rows": lines}
            )
        else:
            print(path)
        return 0

    return int(await cli.with_runtime(settings, run))


def add_parsers(sub: Any, job_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("results", help="write an import's result file: success rows or error rows (CSV or Excel)")
    p.add_argument("job", help="the import job's id")
    p.add_argument(
        "--kind",
        choices=("success", "errors"),
        default="success",
        help="success: row, outcome, record id, match key; errors: every original column of each "
        "failed or warned row, with what is wrong (default: success)",
    )
    p.add_argument(
        "--format",
        choices=("csv", "excel"),
        default="csv",
        help="csv (default) or excel (.xlsx, offending cells highlighted)",
    )
    p.add_argument("--output", help="where to write it (default: <file name>-<kind>.<ext> in this directory)")
    job_flags(p)


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], Any]] = {
    "results": lambda a, s: asyncio.run(_results(a, s)),
}
