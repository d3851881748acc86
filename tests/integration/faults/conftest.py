"""Fault-suite fixtures: a topic namespace of its own (so no other worker of the session consumes it),
killable worker subprocesses with the product's session timeout, and the results file the table script reads."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.core.kafka_io import ensure_topics
from services.core.settings import Settings
from tests.datagen import LeadFile, make_leads, write_csv
from tests.integration.conftest import start_worker, stop_worker

# The product's default, not a test's: the suite measures the stalls a deployment gets.
SESSION_TIMEOUT_S = float(Settings.model_fields["worker_session_timeout_s"].default)
RESULTS = Path(__file__).resolve().parents[3] / "var" / "reliability" / "faults.jsonl"
ROWS = 200_000
START_AT = 0.25  # the fault strikes once this share of the rows is applied


@pytest.fixture(scope="module")
def lead_file() -> LeadFile:
    return make_leads(ROWS, seed=31, stored=2000)


@pytest.fixture(scope="module")
def lead_csv(lead_file: LeadFile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(lead_file, tmp_path_factory.mktemp("faults") / "leads.csv")


@pytest.fixture(scope="session")
def fault_settings(settings: Settings) -> Settings:
    run = uuid.uuid4().hex[:8]
    return settings.model_copy(
        update={
            "topic_prefix": f"f{run}",
            "app_id": f"crmio-faults-{run}",
        }
    )


@pytest_asyncio.fixture(scope="session")
async def fault_topics(fault_settings: Settings, pool: object) -> Settings:
    await ensure_topics(fault_settings)
    return fault_settings


class Workers:
    """The fault test's workers: started, killed, frozen and stopped by the test."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings, self.logs = settings, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = start_worker(self.settings, self.logs / f"worker{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    async def start_async(self) -> subprocess.Popen[bytes]:
        return await asyncio.to_thread(self.start)

    def signal(self, proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        os.kill(proc.pid, sig)

    def diagnose(self, lines: int = 60, about: str | None = None) -> str:
        """What a stalled run's workers were doing: each live one dumps its consumer, agents and tasks
        (streams.diagnostics, SIGUSR1), then the tail of every worker's log (and its lines naming ``about``,
        a job id), for the failure message."""
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(2)  # the dump is written by the worker's loop; this test cannot poll for it
        parts = []
        for log in sorted(self.logs.glob("worker*.log")):
            text = log.read_text(errors="replace").splitlines()
            if about:
                named = [line for line in text if about in line][-lines:]
                parts.append(f"--- {log.name} (last {len(named)} lines naming {about}) ---\n" + "\n".join(named))
            tail = text[-lines:]
            parts.append(f"--- {log.name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)  # a frozen worker cannot handle SIGTERM
            stop_worker(proc)


@pytest.fixture
def workers(fault_topics: Settings, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(fault_topics, tmp_path)
    yield w
    w.stop_all()
