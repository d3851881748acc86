"""A 3-broker KRaft cluster of a test's own (stack/cluster.py) on its own ports and state dir, optionally secure:
clients over SASL_SSL with SCRAM-SHA-512, a CA and broker certificate made here with openssl and keytool.

The shared stack (Kafka 9092, PostgreSQL 55432) is never touched: the cluster's nodes are started and
stopped by the fixture that asked for it; PostgreSQL stays the session's.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.core.errors import StackError
from services.core.settings import Settings
from stack import cluster

CLIENT_USER = "crmio-worker"
BROKER_USER = "broker"


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _run(cmd: list[str], cwd: Path) -> None:
    tool = shutil.which(cmd[0])
    if tool is None:
        pytest.fail(f"{cmd[0]} is not on PATH: the secure cluster's certificates need openssl and keytool (Java 17)")
    result = subprocess.run([tool, *cmd[1:]], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}"


def make_security(folder: Path) -> tuple[cluster.Security, Path, str]:
    """A CA, one certificate for every broker (IP 127.0.0.1), the stores the brokers read, and SCRAM users.
    Returns the brokers' Security, the CA's PEM file for clients and the client user's password."""
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=crmio test CA"]
        + ["-keyout", "ca.key", "-out", "ca.pem"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "broker.key"]
        + ["-out", "broker.csr"],
        ["openssl", "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
        + ["-days", "2", "-extfile", "san.ext", "-out", "broker.pem"],
        ["openssl", "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem"]
        + ["-name", "broker", "-out", "broker.p12", "-passout", f"pass:{password}"],
        ["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", "trust.p12"]
        + ["-storetype", "PKCS12", "-storepass", password],
    ):
        _run(cmd, folder)
    users = {BROKER_USER: secrets.token_urlsafe(12), CLIENT_USER: secrets.token_urlsafe(12)}
    security = cluster.Security(folder / "broker.p12", folder / "trust.p12", password, users, BROKER_USER)
    return security, folder / "ca.pem", users[CLIENT_USER]


@contextlib.contextmanager
def own_cluster(base: Settings, port: int, *, secure: bool) -> Iterator[Settings]:
    """Start the cluster; yields the settings a crmio process uses on it (client security included)."""
    taken = [p for p in range(port, port + 6) if _listening(p)]
    if taken:
        pytest.fail(f"ports {taken} are taken; the test's own Kafka cluster needs {port}-{port + 5} free")
    # Not under pytest's temp root (reset to 0700 by pytest); beside the stack's own state, like test_stack_live.
    state = Path(tempfile.mkdtemp(prefix="cluster-", dir=base.state_dir))
    settings = base.model_copy(
        update={
            "state_dir": state,
            "kafka_bootstrap": f"127.0.0.1:{port}",
            "kafka_brokers": 3,
            "stack_start_timeout_s": 180.0,
        }
    )
    security = None
    if secure:
        security, ca, password = make_security(state / "tls")
        settings = settings.model_copy(
            update={
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_sasl_username": CLIENT_USER,
                "kafka_sasl_password": SecretStr(password),
                "kafka_ssl_cafile": ca,
            }
        )
    try:
        try:
            cluster.kafka_up(settings, time.monotonic() + settings.stack_start_timeout_s, security)
        except StackError as exc:
            pytest.fail(f"the test's Kafka cluster did not start (stack/install.sh installs Java and Kafka):\n{exc}")
        yield settings.model_copy(
            update={
                "kafka_bootstrap": cluster.bootstrap(settings),
                "kafka_replication_factor": 3,
                "kafka_min_insync_replicas": 2,
            }
        )
    finally:
        cluster.down(settings)
        shutil.rmtree(state, ignore_errors=True)
