"""Kafka as a cluster without a broker: client security options from the settings, Faust's credentials and
broker URLs, and the server.properties of a cluster's nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials

from services.core.errors import StackError
from services.core.kafka_io import topic_configs
from services.core.kafka_security import client_options, unreachable
from services.core.settings import Settings
from stack import cluster
from streams import broker


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def _ca(tmp_path: Path) -> Path:
    # Any PEM the ssl module loads as a CA will do: the system's bundle, copied.
    import ssl

    bundle = ssl.get_default_verify_paths().cafile
    assert bundle, "no system CA bundle to copy"
    ca = tmp_path / "ca.pem"
    ca.write_bytes(Path(bundle).read_bytes())
    return ca


def test_plaintext_by_default() -> None:
    s = Settings(kafka_bootstrap="127.0.0.1:9092", kafka_security_protocol="PLAINTEXT", kafka_min_insync_replicas=1)
    assert client_options(s) == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert broker.credentials(s) is None
    assert topic_configs(s, compacted=True) == {"min.insync.replicas": "1", "cleanup.policy": "compact"}


def test_sasl_ssl_with_scram_reaches_aiokafka_and_faust(tmp_path: Path) -> None:
    s = Settings(
        kafka_bootstrap="10.0.0.1:9093,10.0.0.2:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="crmio-worker",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile=_ca(tmp_path),
        kafka_min_insync_replicas=2,
    )
    options = client_options(s)
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "crmio-worker",
        "s3cret",
    )
    assert options["ssl_context"].check_hostname
    creds = broker.credentials(s)
    assert isinstance(creds, SASLCredentials)
    assert (creds.protocol.value, creds.mechanism.value, creds.username) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "crmio-worker",
    )
    assert creds.ssl_context is not None
    assert broker.broker_urls(s) == "kafka://10.0.0.1:9093;kafka://10.0.0.2:9093"
    assert topic_configs(s, compacted=False) == {"min.insync.replicas": "2"}


def test_tls_alone_gives_faust_ssl_credentials(tmp_path: Path) -> None:
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=_ca(tmp_path), kafka_ssl_check_hostname=False)
    assert isinstance(broker.credentials(s), SSLCredentials)
    assert not client_options(s)["ssl_context"].check_hostname
    assert "sasl_mechanism" not in client_options(s)


def test_misconfigurations_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="CRMIO_KAFKA_SASL_USERNAME"):
        client_options(Settings(kafka_security_protocol="SASL_PLAINTEXT"))
    with pytest.raises(StackError, match="CRMIO_KAFKA_SSL_CAFILE"):
        client_options(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "missing.pem"))
    with pytest.raises(StackError, match="CRMIO_KAFKA_SSL_KEYFILE"):
        client_options(Settings(kafka_security_protocol="SSL", kafka_ssl_certfile=_ca(tmp_path)))


def test_an_unreachable_secure_cluster_names_the_settings_to_check(tmp_path: Path) -> None:
    plain = unreachable(Settings(kafka_bootstrap="h:9092", kafka_security_protocol="PLAINTEXT"))
    assert plain == "Kafka at h:9092 is not reachable; start it with `crmio stack up` or set CRMIO_KAFKA_BOOTSTRAP"
    secure = unreachable(Settings(kafka_bootstrap="h:9093", kafka_security_protocol="SASL_SSL"))
    assert "refused this client's login" in secure
    assert "CRMIO_KAFKA_SASL_PASSWORD" in secure and "CRMIO_KAFKA_SSL_CAFILE" in secure


def test_a_node_of_three(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:29092", kafka_brokers=3)
    nodes = cluster.nodes(s)
    assert [(n.port, n.controller_port) for n in nodes] == [(29092, 29093), (29094, 29095), (29096, 29097)]
    assert cluster.bootstrap(s) == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    props = _props(cluster.render_node_properties(nodes[1], nodes, None))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29094,CONTROLLER://127.0.0.1:29095"
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
    assert (props["offsets.topic.replication.factor"], props["transaction.state.log.min.isr"]) == ("3", "2")
    assert props["log.dirs"] == str(tmp_path / "cluster" / "node2" / "kafka" / "data")
    assert cluster.env_lines(s)[1:] == ["CRMIO_KAFKA_REPLICATION_FACTOR=3", "CRMIO_KAFKA_MIN_INSYNC_REPLICAS=2"]


def test_a_secure_node_listens_for_sasl_ssl_only(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:29092", kafka_brokers=3)
    nodes = cluster.nodes(s)
    security = cluster.Security(tmp_path / "k.p12", tmp_path / "t.p12", "pw", {"broker": "bpw", "app": "apw"}, "broker")
    props = _props(cluster.render_node_properties(nodes[0], nodes, security))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert 'username="broker" password="bpw";' in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert cluster._scram_args(security) == [
        "--add-scram",
        "SCRAM-SHA-512=[name=broker,password=bpw]",
        "--add-scram",
        "SCRAM-SHA-512=[name=app,password=apw]",
    ]
