"""Composition root of the worker: the app with every agent and table, and its entry point."""

from __future__ import annotations

import sys
from pathlib import Path

from services.core import collector
from streams import diagnostics, observability, tables  # noqa: F401 - tables, SIGUSR1 dump, HTTP server
from streams.agents import import_records, import_results, job_requests  # noqa: F401 - registers the agents
from streams.app import app, settings

__all__ = ["app", "run"]


def run() -> None:
    """Run a Faust worker in this process until it is stopped (SIGTERM/SIGINT)."""
    collector.for_row_streams()
    Path(app.conf.datadir).mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.worker_log_level, "--without-web"]
    app.main()


if __name__ == "__main__":
    run()
