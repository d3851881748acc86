"""Tenant isolation, the acceptance check of issue 17: while tenant A runs an attack, tenant B's import
and /healthz are timed against the same figures measured unloaded in the same invocation.

    .venv/bin/python -m bench.bench_isolation [--rows 10000] [--runs 3]

Needs the running stack; starts its own worker and `crmio api` process on topics of its own (as
bench/load.py does), with `schedule_min_interval_s` = 1 s so a poison schedule fires every second.
Creates two companies with an admin key each. B's import goes through the API as a client would:
upload the CSV, create the import job, poll GET /api/v1/jobs/{id} until it is final; its time is
that whole span. /healthz is polled every 50 ms by a separate process (its own interpreter, so the
bench's own work never delays a probe), and its latencies are reported over B's runs.

The attacks (A keeps each going, back to back and one job at a time, until B's runs are done):

- rule-preview: the preview of an upload of 'aaa…a!' titles (40 a's) with the rule `(a+)+$`,
  POSTed by 4 clients at once, again and again;
- rule-import: an import of those rows with that rule;
- padded-cells: an import of a file whose phone and date cells hold about 128 KiB of spaces;
- poison-schedules: two import schedules firing every second, one on a drop folder holding a file
  whose name is not UTF-8, one whose template was deleted after the schedule was made;
- 600-pending: 600 import jobs created over the API before B starts; A's running limit (2) keeps
  the rest pending.

Prints one row per attack: B's time as a ratio to the unloaded median (median, min, max of the runs),
/healthz p50 / p99 / max, and whether both are within the target (every run's ratio <= 2, /healthz
max < 200 ms); then what A's requests and jobs came to (HTTP statuses, job outcomes). Cleans up at
the end (A's unfinished jobs cancelled, its schedules deleted). tests/integration/test_tenant_stall.py
runs the same attacks and asserts behaviour, not speed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.load import api_process
from services.core.db import connect_pool
from services.core.kafka_io import ensure_topics
from services.core.settings import Settings
from services.jobs import keys, schedules
from tests.datagen import LeadFile, expected, make_leads, write_csv
from tests.integration.conftest import start_worker, stop_worker

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackLog",
    "HealthProbe",
    "Tenant",
    "import_through_api",
    "make_attack",
    "new_tenant",
]

RATIO_TARGET = 2.0
HEALTH_TARGET_MS = 200.0
PROBE_INTERVAL_S = 0.05
RULE = {"title": {"regex": "(a+)+$"}}
RULE_CELL = "a" * 40 + "!"
FINAL = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Tenant:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_tenant(pool: asyncpg.Pool, label: str) -> Tenant:
    """A new company and an admin key of it (what `crmio keys create --role admin` does)."""
    company = str(uuid.uuid4())
    async with pool.acquire() as conn:
        key, _ = await keys.create_key(conn, company, "admin", label)
    return Tenant(company, key)


# --------------------------------------------------------------------------- /healthz, from its own process


def _probe(url: str, interval_s: float, ready: Any, stop: Any, out: Any) -> None:
    """Poll ``url`` every ``interval_s`` until ``stop`` is set; put ([latency ms], [failure]) on ``out``."""
    latencies: list[float] = []
    failures: list[str] = []
    with httpx.Client(timeout=5) as client:
        client.get(url)  # the connection is open before the first measured probe
        ready.set()
        while not stop.is_set():
            started = time.perf_counter()
            try:
                r = client.get(url)
                if r.status_code != 200 or r.json() != {"status": "ok"}:
                    failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            elapsed = time.perf_counter() - started
            latencies.append(elapsed * 1000)
            stop.wait(max(0.0, interval_s - elapsed))
    out.put((latencies, failures))


class HealthProbe:
    """/healthz polled from a separate process while the block runs: ``latencies_ms`` and ``failures``."""

    def __init__(self, base_url: str, interval_s: float = PROBE_INTERVAL_S) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._stop = ctx.Event(), ctx.Event()
        self._out = ctx.Queue()
        self._proc = ctx.Process(
            target=_probe, args=(f"{base_url}/healthz", interval_s, self._ready, self._stop, self._out), daemon=True
        )
        self.latencies_ms: list[float] = []
        self.failures: list[str] = []

    async def __aenter__(self) -> HealthProbe:
        self._proc.start()
        if not await asyncio.to_thread(self._ready.wait, 60):
            raise RuntimeError("the /healthz probe did not start")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self.latencies_ms, self.failures = await asyncio.to_thread(self._out.get, True, 30)
        await asyncio.to_thread(self._proc.join, 10)

    def figures(self) -> dict[str, float]:
        lat = self.latencies_ms
        q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0] if lat else 0.0] * 99
        return {"probes": len(lat), "p50_ms": q[49], "p99_ms": q[98], "max_ms": max(lat, default=0.0)}


# --------------------------------------------------------------------------- requests of a tenant


async def upload(client: httpx.AsyncClient, tenant: Tenant, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        r = await client.post(
            "/api/v1/uploads", headers=tenant.auth, files={"file": (path.name, f, "text/csv")}, timeout=600
        )
    if r.status_code != 201:
        raise RuntimeError(f"upload of {path.name} answered {r.status_code}: {r.text[:500]}")
    doc: dict[str, Any] = r.json()
    return doc


async def import_through_api(
    client: httpx.AsyncClient, tenant: Tenant, path: Path, *, poll_s: float = 0.1, timeout_s: float = 600
) -> tuple[float, dict[str, Any]]:
    """Upload ``path``, import it (columns mapped from the headers, duplicates updated), poll until it is
    final: (seconds from the upload's start, the job's final document)."""
    started = time.monotonic()
    up = await upload(client, tenant, path)
    r = await client.post(
        "/api/v1/jobs",
        headers=tenant.auth,
        json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "duplicate_handling": "update"},
    )
    if r.status_code != 201:
        raise RuntimeError(f"B's import was refused: {r.status_code} {r.text[:500]}")
    job_id = r.json()["id"]
    while time.monotonic() - started < timeout_s:
        r = await client.get(f"/api/v1/jobs/{job_id}", headers=tenant.auth)
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        if doc["job_status"] in FINAL:
            return time.monotonic() - started, doc
        await asyncio.sleep(poll_s)
    raise RuntimeError(f"B's import {job_id} did not finish within {timeout_s} s")


def exact(doc: dict[str, Any], lf: LeadFile) -> bool:
    """Whether B's finished job has the oracle's counts (tests/datagen.py, update mode)."""
    want = expected(lf, "update")[1]
    got = {k: doc[f"{k}_records"] for k in ("created", "updated", "skipped")} | {"failed": doc["error_records"]}
    return doc["job_status"] == "completed" and doc["total_records"] == len(lf.rows) and got == want


# --------------------------------------------------------------------------- attack files


def _write(path: Path, header: list[str], rows: Any) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def rule_file(path: Path, rows: int) -> Path:
    """Titles of 40 a's and a '!': `(a+)+$` backtracks for days on each in Python's re."""
    return _write(
        path,
        ["First Name", "Last Name", "E-mail", "Title"],
        ([f"Eve{i}", "Attacker", f"eve{i}@a.example", RULE_CELL] for i in range(1, rows + 1)),
    )


PADDED_MAPPING = {"First Name": "first_name", "Last Name": "last_name", "E-mail": "email", "Phone": "phone"}
PADDED_MAPPING |= {"Converted": "converted_date"}


def padded_file(path: Path, rows: int, cell_chars: int) -> Path:
    """Phone and date cells padded with spaces to ``cell_chars`` (128 KiB is the readers' field limit)."""
    phone = "1" + " " * (cell_chars - 4) + "ext"
    date = "2024-01-01" + " " * (cell_chars - 11) + "x"
    return _write(
        path,
        ["First Name", "Last Name", "E-mail", "Phone", "Converted"],
        ([f"Pad{i}", "Attacker", f"pad{i}@a.example", phone, date] for i in range(1, rows + 1)),
    )


# --------------------------------------------------------------------------- attacks


@dataclass
class AttackLog:
    """What one attack's requests and jobs came to."""

    statuses: Counter[int] = field(default_factory=Counter)  # HTTP status of every attack request
    server_errors: list[str] = field(default_factory=list)  # 5xx answers and broken connections
    jobs: list[str] = field(default_factory=list)  # A's job ids
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)  # A's job id -> its last document
    cancelled: set[str] = field(default_factory=set)  # A's jobs cleanup cancelled (pending, or running too long)
    ended_alone: set[str] = field(default_factory=set)  # A's other jobs: they ended on their own
    notes: list[str] = field(default_factory=list)

    def record(self, r: httpx.Response, what: str) -> httpx.Response:
        self.statuses[r.status_code] += 1
        if r.status_code >= 500:
            self.server_errors.append(f"{what}: {r.status_code} {r.text[:300]}")
        return r

    def outcomes(self) -> Counter[str]:
        return Counter(d["job_status"] for d in self.finals.values())


class Attack:
    """One attack by tenant A: ``setup`` before B's import, ``run`` while it goes (until ``stop``), ``cleanup``
    after: A's pending jobs are cancelled and its running ones left to end on their own (a cancelled
    import's runner may keep its worker job slot until its split gives up, which would slow whatever
    is measured next), then every job of the attack is recorded in ``log.finals``."""

    name = ""
    what = ""
    head_start_s = 0.0  # how long the attack runs before B's imports start

    def __init__(
        self,
        settings: Settings,
        tenant: Tenant,
        workdir: Path,
        *,
        scale: float = 1.0,
        in_flight: int = 2,
        repeat: bool = True,
    ) -> None:
        """``scale``: of the attack's files; ``in_flight``: A's attack imports at once (A's running limit
        is 2); ``repeat``: each is created again when it ends, until ``stop`` (else once)."""
        self.settings, self.tenant, self.workdir = settings, tenant, workdir
        self.scale, self.in_flight, self.repeat = scale, in_flight, repeat
        self.log = AttackLog()
        self.since = dt.datetime.now(dt.UTC)  # A's jobs from here on are this attack's

    async def setup(self, client: httpx.AsyncClient) -> None:
        pass

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        await stop.wait()

    async def cleanup(self, client: httpx.AsyncClient, settle_s: float = 120) -> None:
        pending = await self.listed(client, job_status="pending")
        await self.cancel(client, [j["id"] for j in pending])
        deadline = time.monotonic() + settle_s
        while (running := await self.listed(client, job_status="running")) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if running:
            self.log.notes.append(f"{len(running)} job(s) still running {settle_s:g} s after the attack: cancelled")
        await self.cancel(client, [j["id"] for j in running])
        self.log.finals = {j["id"]: j for j in await self.listed(client)}
        self.log.ended_alone = set(self.log.finals) - self.log.cancelled

    async def cancel(self, client: httpx.AsyncClient, job_ids: list[str]) -> None:
        """Cancel A's jobs, 8 requests at once (one that ended meanwhile answers 409)."""
        gate = asyncio.Semaphore(8)

        async def one(job_id: str) -> None:
            async with gate:
                if (await self.post(client, f"/api/v1/jobs/{job_id}/cancel", {})).status_code == 200:
                    self.log.cancelled.add(job_id)

        await asyncio.gather(*(one(j) for j in job_ids))

    async def post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            r = await client.post(path, headers=self.tenant.auth, json=body)
        except httpx.HTTPError as exc:
            self.log.server_errors.append(f"POST {path}: {type(exc).__name__}: {exc}")
            raise
        return self.log.record(r, f"POST {path}")

    async def jobs_back_to_back(self, client: httpx.AsyncClient, stop: asyncio.Event, body: dict[str, Any]) -> None:
        """``in_flight`` loops, each creating the import ``body`` and waiting for it to end (again until
        ``stop`` if ``repeat``)."""
        await asyncio.gather(*(self._one_after_another(client, stop, body) for _ in range(self.in_flight)))

    async def _one_after_another(self, client: httpx.AsyncClient, stop: asyncio.Event, body: dict[str, Any]) -> None:
        while not stop.is_set():
            r = await self.post(client, "/api/v1/jobs", body)
            if r.status_code != 201:
                self.log.notes.append(f"job refused: {r.status_code} {r.text[:300]}")
                await asyncio.sleep(1)
                continue
            job_id = r.json()["id"]
            self.log.jobs.append(job_id)
            while not stop.is_set():
                got = self.log.record(await client.get(f"/api/v1/jobs/{job_id}", headers=self.tenant.auth), "GET job")
                if got.json()["job_status"] in FINAL:
                    break
                await asyncio.sleep(0.2)
            if not self.repeat:
                return

    async def listed(self, client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
        """This attack's jobs of A as GET /api/v1/jobs lists them (every page)."""
        out: list[dict[str, Any]] = []
        while True:
            r = await client.get(
                "/api/v1/jobs",
                headers=self.tenant.auth,
                params={**params, "created_from": self.since.isoformat(), "limit": 500, "offset": len(out)},
            )
            page = self.log.record(r, "GET jobs").json()
            out += page["items"]
            if not page["items"] or len(out) >= page["total"]:
                return out


class RulePreview(Attack):
    name = "rule-preview"
    what = "preview with rule (a+)+$ on 40-char 'a…a!' titles, 4 clients back to back"
    clients = 4

    async def setup(self, client: httpx.AsyncClient) -> None:
        rows = max(200, int(3000 * self.scale))
        self.upload = await upload(client, self.tenant, rule_file(self.workdir / "rule-preview.csv", rows))

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        body = {"target_model": "lead", "validation_rules": RULE, "rows": 200}
        self.previews: list[dict[str, Any]] = []

        async def loop() -> None:
            while not stop.is_set():
                r = await self.post(client, f"/api/v1/uploads/{self.upload['id']}/preview", body)
                if r.status_code == 200 and len(self.previews) < 3:
                    self.previews.append(r.json())

        await asyncio.gather(*(loop() for _ in range(self.clients)))


class RuleImport(Attack):
    name = "rule-import"
    what = "import of 'a…a!' titles with rule (a+)+$, back to back"

    async def setup(self, client: httpx.AsyncClient) -> None:
        self.rows = max(200, int(5000 * self.scale))
        self.upload = await upload(client, self.tenant, rule_file(self.workdir / "rule-import.csv", self.rows))

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        body = {"job_type": "import", "upload_id": self.upload["id"], "target_model": "lead", "validation_rules": RULE}
        await self.jobs_back_to_back(client, stop, body)


class PaddedCells(Attack):
    name = "padded-cells"
    what = "import of phone and date cells padded with ~128 KiB of spaces, back to back"

    async def setup(self, client: httpx.AsyncClient) -> None:
        self.rows = max(20, int(200 * self.scale))
        cell = self.settings.max_field_bytes - 8  # within the readers' field limit, so the file is read
        path = padded_file(self.workdir / "padded.csv", self.rows, cell)
        self.log.notes.append(f"padded file: {self.rows} rows, {path.stat().st_size / 2**20:.0f} MiB")
        self.upload = await upload(client, self.tenant, path)

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        body = {
            "job_type": "import",
            "upload_id": self.upload["id"],
            "target_model": "lead",
            "mapping": PADDED_MAPPING,
        }
        await self.jobs_back_to_back(client, stop, body)


class BigImports(Attack):
    name = "big-imports"
    what = "imports of a 300,000-row file, back to back: not an attack, a neighbour's legitimate bulk load"
    head_start_s = 3.0  # B's imports start while A's rows are flowing

    async def setup(self, client: httpx.AsyncClient) -> None:
        self.rows = max(20_000, int(300_000 * self.scale))
        path = _write(
            self.workdir / "big.csv",
            ["First Name", "Last Name", "E-mail", "Company"],
            ([f"Bulk{i}", "Load", f"bulk{i}@a.example", f"Bulk Co {i % 977}"] for i in range(1, self.rows + 1)),
        )
        self.upload = await upload(client, self.tenant, path)

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        body = {"job_type": "import", "upload_id": self.upload["id"], "target_model": "lead"}
        await self.jobs_back_to_back(client, stop, body)


class PoisonSchedules(Attack):
    name = "poison-schedules"
    what = "two import schedules every second: a non-UTF-8 file name; a deleted template"

    async def setup(self, client: httpx.AsyncClient) -> None:
        # What an SFTP drop would leave in A's drop folders (the API has no way to drop files).
        bad = schedules.drop_folder(self.settings, self.tenant.id, "badname")
        bad.mkdir(parents=True, exist_ok=True)
        self.bad_name = bad / os.fsdecode(b"leads-\xff\xfe.csv")  # not UTF-8
        self.bad_name.write_text("First Name,Last Name,E-mail\nEve,Bad,eve@bad.example\n")
        orphan = schedules.drop_folder(self.settings, self.tenant.id, "orphan")
        orphan.mkdir(parents=True, exist_ok=True)
        self.waiting = orphan / "waiting.csv"
        self.waiting.write_text("First Name,Last Name,E-mail\nEve,Orphan,eve@orphan.example\n")
        r = await self.post(
            client,
            "/api/v1/templates",
            {
                "template_name": f"soon gone {uuid.uuid4().hex[:6]}",
                "target_model": "lead",
                "template_type": "import",
                "field_mapping": {"First Name": "first_name", "Last Name": "last_name", "E-mail": "email"},
            },
        )
        template = r.json()["id"]
        every_second = "* * * * * *"
        self.schedules = []
        for name, job in (
            ("bad file name", {"job_type": "import", "target_model": "lead", "folder": "badname"}),
            (
                "deleted template",
                {"job_type": "import", "target_model": "lead", "folder": "orphan", "template_id": template},
            ),
        ):
            r = await self.post(client, "/api/v1/schedules", {"name": name, "cron": every_second, "job": job})
            if r.status_code != 201:
                raise RuntimeError(f"schedule {name!r} refused: {r.status_code} {r.text[:300]}")
            self.schedules.append(r.json()["id"])
        r = await client.delete(f"/api/v1/templates/{template}", headers=self.tenant.auth)
        self.log.record(r, "DELETE template")

    async def state(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        out = []
        for sid in self.schedules:
            r = self.log.record(await client.get(f"/api/v1/schedules/{sid}", headers=self.tenant.auth), "GET schedule")
            out.append(r.json())
        return out

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        self.before = await self.state(client)
        await stop.wait()
        # However short the run was, each schedule has fired a few slots since it was read (bounded).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.after = await self.state(client)
            if all(self.fired_since(b, a) for b, a in zip(self.before, self.after, strict=True)):
                break
            await asyncio.sleep(0.5)
        self.log.jobs += [j["id"] for j in await self.listed(client)]  # a fired schedule's jobs (none expected)

    @staticmethod
    def fired_since(before: dict[str, Any], after: dict[str, Any]) -> bool:
        """Whether the schedule fired a slot between the two reads of it."""
        return bool(after["last_run_at"]) and (before["last_run_at"] or "") < after["last_run_at"]

    async def cleanup(self, client: httpx.AsyncClient, settle_s: float = 120) -> None:
        for sid in self.schedules:
            r = await client.delete(f"/api/v1/schedules/{sid}", headers=self.tenant.auth)
            self.log.record(r, "DELETE schedule")
        await super().cleanup(client, settle_s)


class PendingJobs(Attack):
    name = "600-pending"
    what = "600 import jobs queued over the API (A may run 2 at once)"
    count = 600

    async def setup(self, client: httpx.AsyncClient) -> None:
        path = _write(
            self.workdir / "tiny.csv",
            ["First Name", "Last Name", "E-mail"],
            ([f"Q{i}", "Queue", f"q{i}@a.example"] for i in range(5)),
        )
        up = await upload(client, self.tenant, path)
        body = {"job_type": "import", "upload_id": up["id"], "target_model": "lead", "duplicate_handling": "update"}
        gate = asyncio.Semaphore(8)  # the API lets one key have 16 requests at once
        started = time.monotonic()

        async def create() -> None:
            async with gate:
                r = await self.post(client, "/api/v1/jobs", body)
                if r.status_code == 201:
                    self.log.jobs.append(r.json()["id"])

        await asyncio.gather(*(create() for _ in range(self.count)))
        self.log.notes.append(f"{len(self.log.jobs)} jobs created in {time.monotonic() - started:.1f} s")

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        await stop.wait()
        r = await client.get("/api/v1/jobs", headers=self.tenant.auth, params={"job_status": "pending", "limit": 1})
        self.pending_at_end = self.log.record(r, "GET jobs").json()["total"]
        self.log.notes.append(f"{self.pending_at_end} still pending when B's runs ended")


ATTACKS: dict[str, type[Attack]] = {
    a.name: a for a in (RulePreview, RuleImport, PaddedCells, BigImports, PoisonSchedules, PendingJobs)
}


def make_attack(name: str, settings: Settings, tenant: Tenant, workdir: Path, **kwargs: Any) -> Attack:
    """The attack ``name`` by ``tenant`` (keyword arguments: see Attack)."""
    return ATTACKS[name](settings, tenant, workdir, **kwargs)


# --------------------------------------------------------------------------- the bench


@dataclass
class Row:
    attack: str
    seconds: list[float]
    exact: list[bool]
    health: dict[str, float]
    health_failures: list[str]
    log: AttackLog | None = None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _b_runs(
    client: httpx.AsyncClient, url: str, b: Tenant, files: list[tuple[LeadFile, Path]], attack: str
) -> Row:
    seconds, exacts = [], []
    async with HealthProbe(url) as probe:
        for lf, path in files:
            took, doc = await import_through_api(client, b, path)
            seconds.append(took)
            exacts.append(exact(doc, lf))
            _say(f"  {attack}: B's import {took:.2f} s, {doc['job_status']}, exact: {exacts[-1]}")
    return Row(attack, seconds, exacts, probe.figures(), probe.failures)


async def run_bench(rows: int, runs: int, in_flight: int, only: list[str]) -> tuple[list[Row], float]:
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = Settings().model_copy(
            update={
                "topic_prefix": f"iso{run}",
                "app_id": f"crmio-iso-{run}",
                "storage_dir": workdir / "storage",
                "schedule_min_interval_s": 1.0,
            }
        )
        await ensure_topics(settings)
        pool = await connect_pool(settings.system_dsn(), max_size=2)
        worker = start_worker(settings, workdir / "worker.log")
        api, url = api_process(settings, workdir / "api.log")
        out: list[Row] = []
        try:
            a, b = await new_tenant(pool, "bench A (attacker)"), await new_tenant(pool, "bench B")
            seeds = iter(range(50_000, 60_000))

            def b_files(n: int) -> list[tuple[LeadFile, Path]]:
                made = []
                for _ in range(n):
                    seed = next(seeds)
                    lf = make_leads(rows, seed=seed)
                    made.append((lf, write_csv(lf, workdir / f"b-{seed}.csv")))
                return made

            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                _say("warm-up: one unmeasured import of B")
                warm = make_leads(1000, seed=1)
                await import_through_api(client, b, write_csv(warm, workdir / "warm.csv"))
                _say("unloaded reference")
                out.append(await _b_runs(client, url, b, b_files(runs), "none"))
                for name in only:
                    attack = make_attack(name, settings, a, workdir, in_flight=in_flight)
                    files = b_files(runs)
                    _say(f"{name}: setting up")
                    await attack.setup(client)
                    stop = asyncio.Event()
                    task = asyncio.create_task(attack.run(client, stop))
                    try:
                        await asyncio.sleep(attack.head_start_s)
                        row = await _b_runs(client, url, b, files, name)
                    finally:
                        stop.set()
                        await task
                        await attack.cleanup(client)
                    row.log = attack.log
                    out.append(row)
                    if isinstance(attack, PoisonSchedules):
                        attack.log.notes.append(_schedules_note(attack))
        finally:
            api.terminate()
            api.wait(30)
            stop_worker(worker)
            await pool.close()
        return out, statistics.median(out[0].seconds)


def _schedules_note(attack: PoisonSchedules) -> str:
    parts = []
    for before, after in zip(attack.before, attack.after, strict=True):
        parts.append(
            f"{after['name']}: last run {before['last_run_at']} -> {after['last_run_at']}, "
            f"failures {after['failures']}, last_error {after['last_error']!r}"
        )
    files = (
        f"bad name still in its folder: {attack.bad_name.exists()}; waiting file still there: {attack.waiting.exists()}"
    )
    return "; ".join([*parts, files])


def table(out: list[Row], reference: float) -> list[str]:
    lines = [
        "| attack by A | B's import, s (median) | ratio median | min | max | /healthz p50 | p99 | max | probes "
        "| B exact | within target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in out:
        ratios = [s / reference for s in row.seconds]
        h = row.health
        ok = max(ratios) <= RATIO_TARGET and h["max_ms"] < HEALTH_TARGET_MS and not row.health_failures
        lines.append(
            f"| {row.attack} | {statistics.median(row.seconds):.2f} | {statistics.median(ratios):.2f} "
            f"| {min(ratios):.2f} | {max(ratios):.2f} | {h['p50_ms']:.1f} ms | {h['p99_ms']:.1f} ms "
            f"| {h['max_ms']:.1f} ms | {h['probes']:.0f} | {'yes' if all(row.exact) else '**no**'} "
            f"| {'yes' if ok else '**no**'} |"
        )
    return lines


def details(out: list[Row]) -> list[str]:
    lines = []
    for row in out:
        if row.log is None:
            continue
        log = row.log
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(log.statuses.items()))
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(log.outcomes().items())) or "none"
        messages = sorted({str(d.get("message")) for d in log.finals.values() if d["job_status"] == "failed"})
        lines.append(
            f"- {row.attack}: A's requests {statuses}; A's jobs {len(log.jobs)} ({outcomes})"
            + (f"; failed with: {messages[0][:200]!r}" if messages else "")
            + (f"; {'; '.join(log.notes)}" if log.notes else "")
            + (f"; SERVER ERRORS: {log.server_errors[:3]}" if log.server_errors else "")
            + (f"; /healthz FAILURES: {row.health_failures[:3]}" if row.health_failures else "")
        )
    return lines


async def main_async(args: argparse.Namespace) -> None:
    started = time.monotonic()
    out, reference = await run_bench(args.rows, args.runs, args.in_flight, args.attacks or list(ATTACKS))
    command = " ".join(["python -m bench.bench_isolation", *sys.argv[1:]])
    print(
        f"Produced by `{command}` on {dt.date.today().isoformat()} in {time.monotonic() - started:.0f} s: "
        f"B imports {args.rows:,} leads {args.runs} times per row; unloaded median {reference:.2f} s "
        f"(the reference of every ratio); /healthz polled every {PROBE_INTERVAL_S * 1000:.0f} ms; "
        f"{os.cpu_count()} cores.\n"
    )
    print("\n".join(table(out, reference)))
    print()
    print("\n".join(details(out)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows of B's import")
    parser.add_argument("--runs", type=int, default=3, help="B's imports per row of the table")
    parser.add_argument("--in-flight", type=int, default=2, help="A's attack imports at once (its running limit: 2)")
    parser.add_argument("attacks", nargs="*", choices=[[], *ATTACKS], help="attacks to run (default: all)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
