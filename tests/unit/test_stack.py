"""The stack manager's pure parts: broker config, cluster ids, DSN parsing, env lines. Starts nothing."""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path

import pytest

from services.core.errors import StackError
from services.core.settings import Settings
from stack import local as stack


def _props(text: str) -> dict[str, str]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def test_server_properties_single_node_kraft(tmp_path: Path) -> None:
    props = _props(
        stack.render_server_properties(host="127.0.0.1", port=19092, controller_port=19093, data_dir=tmp_path / "data")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_server_properties_one_broker_settings(tmp_path: Path) -> None:
    props = _props(stack.render_server_properties(host="127.0.0.1", port=9092, controller_port=9093, data_dir=tmp_path))
    assert props["auto.create.topics.enable"] == "false"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.network.threads"] == props["num.io.threads"] == "2"
    assert props["num.partitions"] == "6"
    assert int(props["log.retention.hours"]) >= 168


def test_server_properties_no_trailing_comments_and_escaped_paths() -> None:
    text = stack.render_server_properties(
        host="127.0.0.1", port=9092, controller_port=9093, data_dir=Path("/tmp/a\\b c")
    )
    # Java properties allow no comment after a value.
    assert all("#" not in ln for ln in text.splitlines() if not ln.startswith("#"))
    assert "log.dirs=/tmp/a\\\\b c" in text.splitlines()
    with pytest.raises(StackError):
        stack.render_server_properties(host="127.0.0.1", port=9092, controller_port=9093, data_dir=Path("/tmp/a\nb"))


def test_server_properties_brackets_ipv6() -> None:
    props = _props(stack.render_server_properties(host="::1", port=9092, controller_port=9093, data_dir=Path("/d")))
    assert props["listeners"] == "PLAINTEXT://[::1]:9092,CONTROLLER://[::1]:9093"


def test_cluster_id_format() -> None:
    ids = {stack.new_cluster_id() for _ in range(500)}
    assert len(ids) == 500
    for cid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid), cid
        assert not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


@pytest.mark.parametrize(
    ("bootstrap", "expected"),
    [
        ("127.0.0.1:9092", ("127.0.0.1", 9092)),
        ("localhost:19192,other:9092", ("localhost", 19192)),
        ("[::1]:9092", ("::1", 9092)),
    ],
)
def test_parse_bootstrap(bootstrap: str, expected: tuple[str, int]) -> None:
    assert stack.parse_bootstrap(bootstrap) == expected


@pytest.mark.parametrize("bootstrap", ["127.0.0.1", "kafka:", ":9092", "host:port"])
def test_parse_bootstrap_rejects_garbage(bootstrap: str) -> None:
    with pytest.raises(StackError, match="host:port"):
        stack.parse_bootstrap(bootstrap)


def test_parse_dsn_defaults_and_escapes() -> None:
    dsn = stack.parse_dsn("postgresql://crmio:p%40ss%27w@127.0.0.1:55432/crmio")
    assert dsn == stack.Dsn("127.0.0.1", 55432, "crmio", "p@ss'w", "crmio")
    assert dsn.is_local
    remote = stack.parse_dsn("postgres://app@db.example.com/")
    assert (remote.port, remote.database, remote.password, remote.is_local) == (5432, "app", "", False)


@pytest.mark.parametrize("dsn", ["mysql://a:b@h/d", "postgresql://h:5432/d", "postgresql://u@h:notaport/d"])
def test_parse_dsn_rejects(dsn: str) -> None:
    with pytest.raises(StackError, match="CRMIO_DATABASE_URL"):
        stack.parse_dsn(dsn)


def test_default_settings_point_at_local_stack() -> None:
    defaults = Settings.model_fields
    assert stack.parse_bootstrap(defaults["kafka_bootstrap"].default) == ("127.0.0.1", 9092)
    dsn = stack.parse_dsn(defaults["database_url"].default.get_secret_value())
    assert (dsn.host, dsn.port) == ("127.0.0.1", 55432)  # never the system PostgreSQL on 5432


def test_env_lines_are_shell_safe() -> None:
    s = Settings(
        kafka_bootstrap="127.0.0.1:19192",
        database_url="postgresql://crmio_app:it's $HOME`x`@127.0.0.1:55532/crmio",
        system_database_url='postgresql://crmio:"a b"@127.0.0.1:55532/crmio',
    )
    lines = stack.env_lines(s)
    assert lines[0] == "CRMIO_KAFKA_BOOTSTRAP=127.0.0.1:19192"
    parsed = dict(shlex.split(line)[0].split("=", 1) for line in lines)
    assert parsed == {
        "CRMIO_KAFKA_BOOTSTRAP": "127.0.0.1:19192",
        "CRMIO_DATABASE_URL": "postgresql://crmio_app:it's $HOME`x`@127.0.0.1:55532/crmio",
        "CRMIO_SYSTEM_DATABASE_URL": 'postgresql://crmio:"a b"@127.0.0.1:55532/crmio',
    }


def test_env_lines_default_unquoted() -> None:
    assert stack.env_lines(Settings(kafka_bootstrap="127.0.0.1:9092")) == [
        "CRMIO_KAFKA_BOOTSTRAP=127.0.0.1:9092",
        "CRMIO_DATABASE_URL=postgresql://crmio_app:crmio_app@127.0.0.1:55432/crmio",
        "CRMIO_SYSTEM_DATABASE_URL=postgresql://crmio:crmio@127.0.0.1:55432/crmio",
    ]


def test_role_script_makes_the_service_role_subject_to_row_level_security() -> None:
    script = stack._role_script(
        stack.parse_dsn("postgresql://crmio:pw@127.0.0.1:5/crmio"),
        stack.parse_dsn("postgresql://crmio_app:pw2@127.0.0.1:5/crmio"),
    )
    assert 'CREATE ROLE "crmio_app" LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS' in script
    assert 'CREATE ROLE "crmio" LOGIN NOSUPERUSER NOCREATEROLE BYPASSRLS' in script
    assert 'CREATE DATABASE "crmio" OWNER "crmio"' in script


def test_postgres_conf_keeps_durability(tmp_path: Path) -> None:
    conf = stack.render_postgres_conf(listen="127.0.0.1", port=55532, socket_dir=tmp_path / "it's")
    assert "port = 55532" in conf
    assert "listen_addresses = '127.0.0.1'" in conf
    assert "shared_buffers = '1GB'" in conf and "max_wal_size = '4GB'" in conf
    assert "max_connections = 200" in conf
    assert f"unix_socket_directories = '{tmp_path}/it''s'" in conf
    # Crash tests need real durability.
    assert "fsync" not in conf and "synchronous_commit" not in conf and "full_page_writes" not in conf


def test_status_of_an_empty_state_dir_is_stopped(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1", database_url="postgresql://u:p@127.0.0.1:2/d")
    assert stack.status(s) == {"kafka": "stopped", "postgres": "stopped"}
    stack.down(s)  # nothing runs: a no-op
    assert stack.status(s) == {"kafka": "stopped", "postgres": "stopped"}


def test_stack_info_is_frozen() -> None:
    info = stack.StackInfo("127.0.0.1:9092", "postgresql://x", True, False)
    with pytest.raises(AttributeError):
        info.kafka_started = False  # type: ignore[misc]
