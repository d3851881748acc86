"""crmio's registry client against a real HTTP server speaking the Confluent Schema Registry API
(tests/registry_server.py): registration, ids in the frame, writer schemas fetched by id and kept, errors."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Iterator

import pytest
from fastavro import parse_schema, schemaless_writer

from schemas import avro
from services.core import schema_registry
from services.core.errors import ConfigurationError, TransientError
from services.core.settings import Settings
from streams.codecs import AvroCodec, Undecodable, decoded
from tests.registry_server import RegistryServer
from tests.unit.test_avro import SAMPLES


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with RegistryServer(first_id=1001) as server:
        yield server
    avro.use(avro.STATIC)


def _settings(url: str | None, **extra: object) -> Settings:
    return Settings(schema_registry_url=url, topic_prefix=f"unit{uuid.uuid4().hex[:8]}", **extra)  # type: ignore[arg-type]


def test_without_a_registry_the_static_ids_frame_events() -> None:
    assert schema_registry.install(_settings(None)) is avro.STATIC
    framed = avro.encode("job_status", SAMPLES["job_status"])
    assert int.from_bytes(framed[1:5], "big") == 4
    assert avro.SCHEMA_IDS == {1: "job_request.v1", 2: "record_batch.v1", 3: "import_result.v1", 4: "job_status.v1", 5: "job_request.v2"}  # fmt: skip


def test_schemas_are_registered_and_their_ids_frame_events(registry: RegistryServer) -> None:
    settings = _settings(registry.url)
    schema_registry.install(settings)
    state = registry.state
    subject = f"{settings.topic_prefix}.jobs.requests-value"
    assert state.compatibility[subject] == "FULL_TRANSITIVE"
    assert [json.loads(state.texts[i]) for i in state.subjects[subject]] == [
        json.loads(avro.schema_text(sid)) for sid in avro.versions("job_request")
    ]
    for name in avro.LATEST:
        subj = schema_registry.subject(settings, name)
        latest_id = state.subjects[subj][-1]
        assert latest_id > 1000
        framed = avro.encode(name, SAMPLES[name])
        assert int.from_bytes(framed[1:5], "big") == latest_id
        assert avro.decode(name, framed) == SAMPLES[name]
    # A v1 request framed with the registry's id of v1 reads as the latest version.
    v1_id = state.subjects[subject][0]
    v1 = {k: v for k, v in SAMPLES["job_request"].items() if k != "admitted"}
    buf = io.BytesIO()
    buf.write(b"\x00" + v1_id.to_bytes(4, "big"))
    schemaless_writer(buf, avro.schema(1), v1)
    assert avro.decode("job_request", buf.getvalue()) == {**v1, "admitted": False}
    # Another process registering the same schemas gets the same ids.
    again = schema_registry.RegistryFraming(schema_registry.RegistryClient(registry.url), {"job_request": subject})
    assert again.writer_id("job_request") == state.subjects[subject][-1]
    again.client.close()


def _newer_status_event(registry: RegistryServer, settings: Settings) -> tuple[int, bytes]:
    """A job status event framed with a version another system registered after this process started."""
    v3 = json.loads(avro.schema_text(avro.LATEST["job_status"]))
    v3["fields"].append({"name": "region", "type": ["null", "string"], "default": None})
    client = schema_registry.RegistryClient(registry.url)
    v3_id = client.register(schema_registry.subject(settings, "job_status"), json.dumps(v3))
    client.close()
    buf = io.BytesIO()
    buf.write(b"\x00" + v3_id.to_bytes(4, "big"))
    schemaless_writer(buf, parse_schema(v3), {**SAMPLES["job_status"], "region": "eu"})
    return v3_id, buf.getvalue()


def test_a_writer_schema_registered_later_is_fetched_by_id_once(registry: RegistryServer) -> None:
    settings = _settings(registry.url)
    framing = schema_registry.install(settings)
    v3_id, event = _newer_status_event(registry, settings)
    before = registry.state.calls["GET /schemas/ids/{id}"]
    for _ in range(3):
        assert avro.decode("job_status", event) == SAMPLES["job_status"]  # resolved to our version
    assert registry.state.calls["GET /schemas/ids/{id}"] == before + 1
    assert framing.writer_id("job_status") != v3_id  # crmio still writes its own latest version


def test_an_id_the_registry_does_not_know_is_refused(registry: RegistryServer) -> None:
    schema_registry.install(_settings(registry.url))
    with pytest.raises(ConfigurationError, match="HTTP 404, Schema not found"):
        avro.decode("job_status", b"\x00" + (999_999).to_bytes(4, "big") + b"\x02")


def test_an_incompatible_schema_is_refused_naming_the_rule(registry: RegistryServer) -> None:
    settings = _settings(registry.url)
    schema_registry.install(settings)
    breaking = json.loads(avro.schema_text(avro.LATEST["job_status"]))
    breaking["fields"].append({"name": "region", "type": "string"})  # no default: v1 data has none
    client = schema_registry.RegistryClient(registry.url)
    with pytest.raises(ConfigurationError, match="HTTP 409.*FULL_TRANSITIVE"):
        client.register(schema_registry.subject(settings, "job_status"), json.dumps(breaking))
    client.close()


def test_an_unreachable_registry_names_the_setting() -> None:
    with RegistryServer() as server:
        url = server.url
    with pytest.raises(TransientError, match="CRMIO_SCHEMA_REGISTRY_URL"):
        schema_registry.install(_settings(url, schema_registry_timeout_s=1.0))
    avro.use(avro.STATIC)


def test_basic_auth_is_sent_and_a_refusal_names_the_setting() -> None:
    with RegistryServer(basic_auth="key:secret") as server:
        with pytest.raises(ConfigurationError, match="CRMIO_SCHEMA_REGISTRY_BASIC_AUTH"):
            schema_registry.install(_settings(server.url, schema_registry_basic_auth="key:wrong"))
        schema_registry.install(_settings(server.url, schema_registry_basic_auth="key:secret"))
        assert int.from_bytes(avro.encode("record_batch", SAMPLES["record_batch"])[1:5], "big") >= 1001
    avro.use(avro.STATIC)


async def test_an_event_the_registry_could_not_resolve_is_read_again_once_it_answers(registry: RegistryServer) -> None:
    """A writer schema registered by a newer crmio while the registry is down: the agent's event is not dropped
    (streams.codecs.decoded reads it again until the registry answers)."""
    settings = _settings(registry.url)
    framing = schema_registry.install(settings)
    assert isinstance(framing, schema_registry.RegistryFraming)
    v3_id, event = _newer_status_event(registry, settings)

    with RegistryServer() as gone:
        dead = gone.url
    framing.client._http.base_url = dead  # the registry is down
    value = AvroCodec("job_status")._loads(event)
    assert isinstance(value, Undecodable) and value.transient and "not reachable" in value.error

    async def registry_back() -> None:
        await asyncio.sleep(0.5)
        framing.client._http.base_url = registry.url

    back = asyncio.create_task(registry_back())
    assert await decoded(value, first_delay_s=0.05, max_delay_s=0.2) == SAMPLES["job_status"]
    await back
    # Not Avro at all is not transient: it stays an Undecodable the agent logs and drops.
    garbage = AvroCodec("job_status")._loads(b"\x07garbage")
    assert isinstance(garbage, Undecodable) and not garbage.transient
    assert await decoded(garbage) is garbage
