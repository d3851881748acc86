"""Where an import's CPU goes: µs of CPU per row in each process, crmio against the plain upsert of the same file.

Issue 15's budget: at half the rate of a raw PostgreSQL upsert, everything crmio adds (Kafka, Avro, Faust,
cleansing, duplicates, ledger, logs, offsets) may cost about as much CPU as the upsert itself. This runs
bench/reference.py and crmio's real path (job request -> worker -> Kafka -> PostgreSQL) on the same file, in
turns, and reads each process's user + system CPU time from the kernel (psutil, /proc) before and after:

- crmio's worker process, and its split process (the worker's children);
- PostgreSQL: every process of the server (backends, WAL writer, checkpointer, autovacuum);
- the Kafka broker (the JVM whose command line runs kafka.Kafka);
- the reference: its own Python process and PostgreSQL.

With ``--profile``, py-spy samples the worker during one run and prints where its time goes, by the crmio
function (or library) each sample was in.

    .venv/bin/python -m bench.bench_cost [--rows 100000] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from bench.reference import reference_upsert
from services.core.db import connect_pool, migrate
from services.core.kafka_io import ensure_topics, producer
from services.core.settings import Settings
from services.ingest.submit import submit_import
from tests.datagen import make_leads, write_csv
from tests.integration.conftest import start_worker, stop_worker, wait_for_job

# (the processes, the processes whose reaped children count too)
Group = Callable[[], tuple[Iterable[psutil.Process], Iterable[psutil.Process]]]


def _cpu(procs: Iterable[psutil.Process], reaped_by: Iterable[psutil.Process] = ()) -> dict[int, float]:
    """CPU seconds of each process; for those in ``reaped_by``, of the children they reaped too (a PostgreSQL
    backend that ended, a split process gone), keyed by the negative pid."""
    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:  # gone meanwhile: its parent reaped it (counted there) or it is lost to both readings
            pass
    for p in reaped_by:
        try:
            t = p.cpu_times()
            out[-p.pid] = t.children_user + t.children_system
        except psutil.Error:
            pass
    return out


def _postmaster() -> list[psutil.Process]:
    servers = _postgres()
    pids = {q.pid for q in servers}
    found = []
    for p in servers:
        try:
            if p.ppid() not in pids:
                found.append(p)
        except psutil.Error:  # a backend that ended meanwhile, not the postmaster
            pass
    return found


def _postgres() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster")]


def _broker() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "java" and "kafka.Kafka" in " ".join(p.info["cmdline"] or ()):
            found.append(p)
    return found


class Meter:
    """CPU seconds spent by each group of processes between start() and stop()."""

    def __init__(self, groups: dict[str, Group]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self.before = {name: _cpu(*group()) for name, group in self.groups.items()}

    def stop(self) -> dict[str, float]:
        spent = {}
        for name, group in self.groups.items():
            now = _cpu(*group())
            # A process that started meanwhile counts from zero; one that ended is not counted.
            spent[name] = sum(t - self.before[name].get(pid, 0.0) for pid, t in now.items())
        return spent


async def crmio_run(
    base: Settings, path: Path, rows: int, workdir: Path, profile: bool
) -> tuple[float, dict[str, float], Path | None]:
    run = uuid.uuid4().hex[:8]
    settings = base.model_copy(
        update={"topic_prefix": f"c{run}", "app_id": f"crmio-cost-{run}", "storage_dir": workdir / "storage"}
    )
    pool = await connect_pool(settings.system_dsn())
    spy: subprocess.Popen[bytes] | None = None
    flame = workdir / f"worker-{run}.txt" if profile else None
    try:
        await migrate(pool)
        await ensure_topics(settings)
        proc = start_worker(settings, workdir / f"worker-{run}.log")
        worker = psutil.Process(proc.pid)
        meter = Meter(
            {
                "worker": lambda: ([worker], []),
                "split process": lambda: (worker.children(recursive=True), [worker]),
                "PostgreSQL": lambda: (_postgres(), _postmaster()),
                "Kafka broker": lambda: (_broker(), []),
            }
        )
        try:
            if flame is not None:
                spy = subprocess.Popen(
                    [
                        _py_spy(),
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--output",
                        str(flame),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            company = str(uuid.uuid4())
            meter.start()
            started = time.perf_counter()
            async with producer(settings) as prod:
                job = await submit_import(
                    settings, pool, prod, company_id=company, path=path, model="lead", duplicates="update"
                )
            job = await wait_for_job(pool, company, job["id"], timeout_s=3600)
            elapsed = time.perf_counter() - started
            spent = meter.stop()
        finally:
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its file on SIGINT
                spy.wait(timeout=60)
            stop_worker(proc)
    finally:
        await pool.close()
    assert job["job_status"] == "completed" and job["processed_records"] == rows, job
    return elapsed, spent, flame


async def reference_run(base: Settings, path: Path) -> tuple[float, dict[str, float]]:
    me = psutil.Process(os.getpid())
    meter = Meter({"reference (Python)": lambda: ([me], []), "PostgreSQL": lambda: (_postgres(), _postmaster())})
    meter.start()
    seconds, _ = await reference_upsert(base.system_dsn(), path, "csv")
    return seconds, meter.stop()


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(os.sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy (or run without --profile)")
    return found


_ENTRY = ("streams.worker.", "services.cli.main.")  # the process's entry points: everything runs under them
_LIBRARIES = (
    "faust",
    "mode",
    "aiokafka",
    "kafka",
    "asyncpg",
    "fastavro",
    "orjson",
    "asyncio",
    "concurrent",
    "threading",
)


def _where(frame: str) -> str:
    """The bucket a stack frame belongs to: a crmio module's function, or the library (else file) it is in."""
    name, _, location = frame.partition(" (")
    path = location.split(":")[0]
    for ours in ("services/", "streams/", "schemas/"):
        if ours in path:
            module = path[path.index(ours) :].removesuffix(".py").replace("/", ".")
            return f"{module}.{name}"
    for lib in _LIBRARIES:
        if f"/{lib}/" in path:
            return lib
    return Path(path).name or "other"


def profile_table(flame: Path, top: int = 25) -> list[tuple[str, float]]:
    """Self time by bucket: each sample is charged to the innermost crmio function of its stack when the
    innermost frame is in a library crmio calls (so asyncpg's encode under batch.py counts as batch.py),
    else to the innermost frame's library (the event loop, Faust's machinery)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in flame.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        buckets = [_where(f) for f in stack.split(";")]
        ours = [b for b in buckets if b.startswith(("services.", "streams.", "schemas.")) and not b.startswith(_ENTRY)]
        counts[ours[-1] if ours else buckets[-1]] += int(n)
        total += int(n)
    return [(name, 100 * n / total) for name, n in counts.most_common(top)] if total else []


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="py-spy the worker during the last run")
    args = parser.parse_args()
    base = Settings()
    rows = args.rows
    per_row: dict[str, list[float]] = collections.defaultdict(list)
    ratios = []
    flame = None
    with tempfile.TemporaryDirectory(prefix="crmio-cost-") as tmp:
        workdir = Path(tmp)
        path = write_csv(make_leads(rows, seed=rows, stored=0), workdir / "leads.csv")
        for i in range(args.runs):
            ref_s, ref_cpu = await reference_run(base, path)
            s, cpu, flame = await crmio_run(base, path, rows, workdir, args.profile and i == args.runs - 1)
            ratios.append(ref_s / s)
            for name, seconds in ref_cpu.items():
                per_row[f"reference: {name}"].append(seconds / rows * 1e6)
            for name, seconds in cpu.items():
                per_row[f"crmio: {name}"].append(seconds / rows * 1e6)
            print(
                f"run {i + 1}: crmio {rows / s:,.0f} rows/s, reference {rows / ref_s:,.0f} rows/s, "
                f"ratio {ref_s / s:.2f}",
                flush=True,
            )
        print(f"\nCPU per row, {rows:,} leads, update mode, median of {args.runs} (min-max):")
        totals: dict[str, list[float]] = collections.defaultdict(list)
        for name, values in per_row.items():
            print(f"  {name:32} {statistics.median(values):7.1f} µs  ({min(values):.1f}-{max(values):.1f})")
            side = name.split(":")[0]
            for i, v in enumerate(values):
                if len(totals[side]) <= i:
                    totals[side].append(0.0)
                totals[side][i] += v
        for side, values in totals.items():
            print(
                f"  {side + ': all processes':32} {statistics.median(values):7.1f} µs  ({min(values):.1f}-{max(values):.1f})"
            )
        print(
            f"  rate ratio crmio / reference: median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        )
        if flame is not None and flame.exists():
            print("\nworker time by where it was spent (py-spy, % of samples):")
            for name, share in profile_table(flame):
                print(f"  {share:5.1f} %  {name}")


if __name__ == "__main__":
    asyncio.run(main())
