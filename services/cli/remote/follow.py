"""Following a job over the API to its end with a progress bar, and printing it as the local CLI does."""

from __future__ import annotations

import argparse
import time
from typing import Any

from services.cli.output import JobBar, is_final, report_job
from services.cli.remote.session import Remote

__all__ = ["follow", "report"]


def follow(remote: Remote, job_id: str, show: bool) -> dict[str, Any]:
    """Ask for the job every api_poll_interval_s until it is final, drawing a progress bar on stderr."""
    with JobBar(show) as bar:
        while True:
            job: dict[str, Any] = remote.api.call("GET", f"/jobs/{job_id}")
            bar.update(job)
            if is_final(job):
                return job
            time.sleep(remote.settings.api_poll_interval_s)


def report(remote: Remote, job: dict[str, Any], args: argparse.Namespace) -> int:
    """A new job (import, rollback, retry): its id at once, or with --wait followed to its summary; --json: the job."""
    if args.wait:
        job = follow(remote, str(job["id"]), show=not args.quiet)
    return report_job(job, as_json=args.json, waited=args.wait)
