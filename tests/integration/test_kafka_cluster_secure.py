"""crmio on a secure 3-broker cluster: every Kafka client over SASL_SSL with SCRAM-SHA-512 (issue 16 item 2).

The test's own cluster (tests/integration/kafka_cluster.py: CA and broker certificate made with openssl and
keytool, SCRAM users added when the nodes are formatted) on ports 19392-19397. Through it: crmio's admin
client creates the topics (replication 3, min.insync.replicas 2), the CLI's producer publishes the job, a
real worker (Faust's consumer and producer) and its split process (its own producer) run a 5,000-row
import in update mode, and the API's lag consumer reads the end offsets. A wrong password is refused.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from schemas.topics import IMPORT_RECORDS, JOB_PROGRESS_TABLE, changelog_topic
from services.core.errors import StackError
from services.core.kafka_io import ensure_topics, producer
from services.core.kafka_security import client_options
from services.core.runtime import open_runtime
from services.core.settings import Settings
from services.ingest.submit import submit_import
from tests.datagen import expected, make_leads, write_csv
from tests.integration.conftest import start_worker, stop_worker, wait_for_job
from tests.integration.kafka_cluster import own_cluster
from tests.integration.test_import_pipeline import seed, stored_state

pytestmark = pytest.mark.integration

PORT = 19392
ROWS = 5_000


@pytest.fixture(scope="module")
def secure(settings: Settings) -> Iterator[Settings]:
    run = uuid.uuid4().hex[:8]
    with own_cluster(settings, PORT, secure=True) as cluster_settings:
        yield cluster_settings.model_copy(update={"topic_prefix": f"s{run}", "app_id": f"crmio-secure-{run}"})


async def _topic_state(settings: Settings, topic: str) -> tuple[set[int], str | None]:
    """(replica counts of the topic's partitions, its min.insync.replicas), once every broker knows the new topic."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + 15
        while True:
            (described,) = await admin.describe_topics([topic])
            (configs,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            entries = {e[0]: e[1] for e in configs.resources[0][4]}
            replicas = {len(p["replicas"]) for p in described["partitions"]}
            if (replicas and "min.insync.replicas" in entries) or time.monotonic() > deadline:
                return replicas, entries.get("min.insync.replicas")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def test_every_client_works_over_sasl_ssl_with_scram(
    secure: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    created = await ensure_topics(secure)
    records = secure.topic(IMPORT_RECORDS.name)
    assert records in created
    # The aggregator table's changelog too: a topic Faust made at start was not yet known to every broker.
    assert changelog_topic(secure.app_id, JOB_PROGRESS_TABLE) in created
    assert await _topic_state(secure, records) == ({3}, "2")

    company = str(uuid.uuid4())
    lead_file = make_leads(ROWS, seed=5, stored=200)
    await seed(pool, company, lead_file)
    want_state, want = expected(lead_file, "update")
    worker = start_worker(secure, tmp_path / "worker.log")
    try:
        async with producer(secure) as prod:
            job = await submit_import(
                secure,
                pool,
                prod,
                company_id=company,
                path=write_csv(lead_file, tmp_path / "leads.csv"),
                model="lead",
                duplicates="update",
            )
        done = await wait_for_job(pool, company, job["id"], timeout_s=180)
    finally:
        stop_worker(worker)
    assert done["job_status"] == "completed", done
    assert (done["created_records"], done["updated_records"]) == (want["created"], want["updated"])
    assert await stored_state(pool, company) == want_state

    async with open_runtime(secure, admin=True, pool_size=(1, 1)) as runtime:
        admin, offsets = runtime.kafka_admin()
        ends = await offsets.end_offsets([TopicPartition(records, p) for p in range(secure.record_partitions)])
        assert sum(ends.values()) >= ROWS // secure.rows_per_event
        assert secure.app_id in {g[0] for g in await admin.list_consumer_groups()}


async def test_a_wrong_password_is_refused(secure: Settings, caplog: pytest.LogCaptureFixture) -> None:
    wrong = secure.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    admin = AIOKafkaAdminClient(**client_options(wrong), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()
    assert "SaslAuthenticationFailed" in caplog.text  # each broker refused the credentials, not the connection
    with pytest.raises(StackError, match="CRMIO_KAFKA_SASL_PASSWORD"):  # what crmio's commands say
        await ensure_topics(wrong)
