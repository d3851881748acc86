"""With CRMIO_SCHEMA_REGISTRY_URL set, an import runs end to end through a real worker on the real broker with
every event framed by the registry's ids, and a Java consumer (plain Apache Avro, examples/java-status-consumer)
follows the job on the status topic by fetching the writer schema from the registry by the id in each event.

The registry is tests/registry_server.py (docs/events.md says why no registry product runs here). The test has
topics and a worker of its own: the session's worker reads the static ids, not these.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import avro
from schemas.topics import TOPICS
from services.core import schema_registry
from services.core.kafka_io import ensure_topics
from services.core.runtime import open_runtime
from services.core.settings import PROJECT_ROOT, Settings
from services.ingest.submit import submit_import
from tests.integration.conftest import start_worker, stop_worker, wait_for_job
from tests.registry_server import RegistryServer

pytestmark = pytest.mark.integration

JAVA_PROJECT = PROJECT_ROOT / "examples" / "java-status-consumer"
CSV = "First Name,Last Name,Email\nAda,Lovelace,ada@example.com\nGrace,Hopper,grace@example.com\nAlan,,alan@x.example\n"


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryServer]:
    with RegistryServer(first_id=1001) as server:
        yield server
    avro.use(avro.STATIC)  # what this process framed with the registry's ids ends with the test


def java_consumer(settings: Settings) -> list[str]:
    """The example consumer's classpath, built with Maven once per version of its sources (cached)."""
    sources = sorted(p for p in JAVA_PROJECT.rglob("*") if p.is_file() and "target" not in p.parts)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    built = settings.cache_dir / "java-status-consumer" / digest
    if not (built / "consumer.jar").is_file():
        work = built.with_name(f"{digest}.build")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(JAVA_PROJECT, work)
        command = ["mvn", "-q", "-B", "package", "dependency:copy-dependencies", "-DincludeScope=runtime"]
        try:
            done = subprocess.run([*command, "-DoutputDirectory=lib"], cwd=work, capture_output=True, timeout=600)
        except FileNotFoundError:
            pytest.fail("Maven (mvn) is not installed: stack/install.sh installs it; apt-get install maven", False)
        if done.returncode != 0:
            pytest.fail(
                f"Maven could not build {JAVA_PROJECT} (it needs org.apache.avro:avro and "
                f"org.apache.kafka:kafka-clients from Maven Central):\n{done.stdout.decode()[-3000:]}",
                pytrace=False,
            )
        shutil.copytree(work / "lib", built / "lib", dirs_exist_ok=True)
        shutil.copy(next((work / "target").glob("java-status-consumer-*.jar")), built / "consumer.jar")
        shutil.rmtree(work)
    return ["java", "-cp", f"{built / 'consumer.jar'}:{built / 'lib'}/*", "io.crmio.examples.StatusConsumer"]


async def frames(settings: Settings, topic: str, key: bytes | None = None) -> list[tuple[int, bytes]]:
    """(schema id, value) of every event on the topic so far (of this key, where given)."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    out = []
    try:
        for records in (await consumer.getmany(timeout_ms=3000)).values():
            out += [(int.from_bytes(r.value[1:5], "big"), r.value) for r in records if key in (None, r.key)]
    finally:
        await consumer.stop()
    return out


async def test_an_import_frames_every_event_with_the_registrys_ids(
    settings: Settings, pool: asyncpg.Pool, registry: RegistryServer, tmp_path: Path
) -> None:
    ours = settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix}reg",
            "app_id": f"{settings.app_id}-registry",
            "schema_registry_url": registry.url,
        }
    )
    await ensure_topics(ours)
    java = java_consumer(ours)  # built (or found cached) while nothing else waits on it
    worker = start_worker(ours, tmp_path / "worker.log")
    try:
        company = str(uuid.uuid4())
        source = tmp_path / "leads.csv"
        source.write_text(CSV, encoding="utf-8")
        async with open_runtime(ours, producer=True, pool_size=(1, 2)) as runtime:
            job = await submit_import(ours, pool, runtime.sender(), company_id=company, path=source, model="lead")
            done = await wait_for_job(pool, company, job["id"], timeout_s=90)
            assert (done["job_status"], done["success_records"], done["error_records"]) == ("completed", 2, 1)

            state = registry.state
            ids = {spec.name: state.subjects[f"{ours.topic(spec.name)}-value"][-1] for spec in TOPICS}
            assert all(i >= 1001 for i in ids.values()) and len(set(ids.values())) == len(ids)
            assert state.compatibility[schema_registry.subject(ours, "job_status")] == "FULL_TRANSITIVE"
            for spec in TOPICS:  # the CLI's request, the split's records, the worker's results and statuses
                found = await frames(ours, spec.name, None if spec.name == "import.records" else job["id"].encode())
                assert found and {sid for sid, _ in found} == {ids[spec.name]}, spec.name
                decoded = [avro.decode(spec.schema, value) for _, value in found]
                assert all(event["job_id"] == job["id"] for event in decoded if spec.name != "import.records")
            statuses = [avro.decode("job_status", v) for _, v in await frames(ours, "jobs.status", job["id"].encode())]
            assert statuses[-1]["job_status"] == "completed" and statuses[-1]["processed_records"] == 3
    finally:
        stop_worker(worker)

    # Another system's Java consumer: the writer schema by id from the registry, its own copy as reader.
    reader = avro._DIR / f"{avro.SCHEMA_IDS[avro.LATEST['job_status']]}.avsc"
    started = time.monotonic()
    run = subprocess.run(
        [*java, ours.kafka_bootstrap, ours.topic("jobs.status"), registry.url, str(reader), job["id"], "60"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    lines: list[dict[str, Any]] = [json.loads(line) for line in run.stdout.decode().splitlines()]
    assert {line["schema_id"] for line in lines} == {ids["jobs.status"]}
    final = lines[-1]["status"]
    assert (final["job_status"], final["total_records"], final["success_records"], final["error_records"]) == (
        "completed", 3, 2, 1,
    )  # fmt: skip
    assert registry.state.calls["GET /schemas/ids/{id}"] >= 1 and time.monotonic() - started < 60
