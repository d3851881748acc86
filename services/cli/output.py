"""What a `crmio` command prints, local or remote: one JSON document, a job's summary line, its exit code, a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import orjson

from services.jobs.repository import FINAL_STATUSES

__all__ = ["print_json", "err", "summary", "exit_code", "is_final", "JobBar", "report_job", "print_logs"]


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    sys.stdout.flush()


def err(message: str) -> None:
    print(f"crmio: {message}", file=sys.stderr)


def summary(job: Mapping[str, Any]) -> str:
    return (
        f"job {job['id']}: {job['job_status']} - {job['total_records']} rows, {job['success_records']} ok "
        f"({job['created_records']} created, {job['updated_records']} updated, {job['skipped_records']} skipped), "
        f"{job['error_records']} errors"
        + (f", {job['warning_records']} with warnings" if job.get("warning_records") else "")
        + (f" - {job['message']}" if job.get("message") else "")
    )


def exit_code(job: Mapping[str, Any]) -> int:
    return 0 if job["job_status"] in ("completed", "pending", "running") else 1


def report_job(job: Mapping[str, Any], *, as_json: bool, waited: bool, file: str | None = None) -> int:
    """A job a command made or followed: the document (--json), its summary once followed (or the ``file`` a
    completed export was downloaded to), or its id; the exit code."""
    if as_json:
        print_json(job)
    elif waited:
        print(file if file and job["job_status"] == "completed" else summary(job))
    else:
        print(job["id"])
    return exit_code(job)


def print_logs(docs: list[dict[str, Any]], as_json: bool) -> None:
    """A job's log lines: level and message each, or the documents (--json)."""
    if as_json:
        print_json(docs)
        return
    for d in docs:
        print(f"{d['log_level']:7} {d['message']}")


def is_final(job: Mapping[str, Any]) -> bool:
    return job["job_status"] in FINAL_STATUSES


class JobBar:
    """A job's live progress bar on stderr: status, rows processed of the total, ok and errors, time elapsed."""

    def __init__(self, show: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("ok {task.fields[ok]}  errors {task.fields[err]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not show,
            transient=False,
        )
        self._task = self._progress.add_task("pending", total=None, ok=0, err=0)

    def __enter__(self) -> JobBar:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, job: Mapping[str, Any]) -> None:
        self._progress.update(
            self._task,
            description=job["job_status"],
            completed=job["processed_records"],
            total=job["total_records"] or None,
            ok=job["success_records"],
            err=job["error_records"],
        )
