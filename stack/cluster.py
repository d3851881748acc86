"""A local Kafka cluster: several KRaft nodes, each a broker and a controller (`crmio stack up --brokers 3`).

Node i (1-based) of a cluster listens on the bootstrap port + 2(i-1) and its controller one above, keeps its
state in <state dir>/cluster/node<i>/ and runs with ``kafka_cluster_heap``; its topics are replicated
``min(nodes, 3)`` times and a write needs ``nodes - 1`` in-sync replicas (one broker may be down). Tests
make the cluster secure (``Security``: clients over SASL_SSL with SCRAM-SHA-512, brokers among themselves
too); ``crmio stack up`` runs it in plaintext. One broker stays stack/local.py's, unchanged.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from services.core.errors import StackError
from services.core.kafka_security import client_options
from services.core.settings import Settings
from stack import local

__all__ = [
    "Security",
    "bootstrap",
    "down",
    "env_lines",
    "kafka_up",
    "node_start",
    "node_stop",
    "nodes",
    "render_node_properties",
    "status",
]

SCRAM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Security:
    """A secure cluster: TLS files (PKCS12) and the SCRAM users created when the nodes are formatted."""

    keystore: Path  # the brokers' key and certificate chain
    truststore: Path  # the CA that signed them
    store_password: str
    users: dict[str, str]  # name -> password; inter_broker_user is one of them
    inter_broker_user: str


@dataclass(frozen=True)
class _Node:
    index: int  # node.id, 1-based
    host: str
    port: int
    controller_port: int
    paths: local._Paths


def nodes(settings: Settings) -> list[_Node]:
    host, port = local.parse_bootstrap(settings.kafka_bootstrap)
    root = settings.state_dir / "cluster"
    return [
        _Node(i, host, port + 2 * (i - 1), port + 2 * (i - 1) + 1, local._Paths(root / f"node{i}"))
        for i in range(1, settings.kafka_brokers + 1)
    ]


def bootstrap(settings: Settings) -> str:
    """Every node's client address: what CRMIO_KAFKA_BOOTSTRAP lists for the cluster."""
    return ",".join(local._join(n.host, n.port) for n in nodes(settings))


def render_node_properties(node: _Node, all_nodes: list[_Node], security: Security | None) -> str:
    """The one broker's server.properties (local.render_server_properties), made a node of the cluster."""
    base = local.render_server_properties(
        host=node.host, port=node.port, controller_port=node.controller_port, data_dir=node.paths.kafka_data
    )
    props = dict(line.split("=", 1) for line in base.splitlines() if line and not line.startswith("#"))
    count = len(all_nodes)
    replicas, min_isr = str(min(count, 3)), str(max(1, min(count, 3) - 1))
    props.update(
        {
            "node.id": str(node.index),
            "controller.quorum.voters": ",".join(
                f"{n.index}@{local._join(n.host, n.controller_port)}" for n in all_nodes
            ),
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
        }
    )
    if security is not None:
        listener = f"SASL_SSL://{local._join(node.host, node.port)}"
        user = security.inter_broker_user
        props.update(
            {
                "listeners": f"{listener},CONTROLLER://{local._join(node.host, node.controller_port)}",
                "advertised.listeners": listener,
                "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name": "SASL_SSL",
                "sasl.enabled.mechanisms": SCRAM,
                "sasl.mechanism.inter.broker.protocol": SCRAM,
                f"listener.name.sasl_ssl.{SCRAM.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="{user}" password="{security.users[user]}";'
                ),
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": local._prop(str(security.keystore)),
                "ssl.keystore.password": security.store_password,
                "ssl.key.password": security.store_password,
                "ssl.truststore.type": "PKCS12",
                "ssl.truststore.location": local._prop(str(security.truststore)),
                "ssl.truststore.password": security.store_password,
            }
        )
    body = "\n".join(f"{k}={v}" for k, v in props.items())
    return f"# Written by stack/cluster.py on every start; edits are overwritten.\n{body}\n"


def _scram_args(security: Security | None) -> list[str]:
    args: list[str] = []
    for name, password in (security.users if security else {}).items():
        args += ["--add-scram", f"{SCRAM}=[name={name},password={password}]"]
    return args


def _node_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"kafka_heap": settings.kafka_cluster_heap})


def _launch(settings: Settings, node: _Node, all_nodes: list[_Node], cluster_id: str, security: Security | None) -> int:
    java = local._require("java", "install Java 17 (apt-get install openjdk-17-jre-headless) or run stack/install.sh")
    classpath = f"{local.resolve_kafka(settings)}/*"
    paths = node.paths
    paths.kafka_dir.mkdir(parents=True, exist_ok=True)
    paths.kafka_props.write_text(render_node_properties(node, all_nodes, security))
    paths.kafka_log.touch()
    local._kafka_format(settings, java, classpath, paths, cluster_id=cluster_id, extra=_scram_args(security))
    offset = paths.kafka_log.stat().st_size
    pid = local._kafka_launch(_node_settings(settings), java, classpath, paths)
    (paths.kafka_dir / "log.offset").write_text(f"{pid} {offset}\n")
    return pid


def _wait_started(node: _Node, deadline: float) -> None:
    pid_offset = (node.paths.kafka_dir / "log.offset").read_text().split()
    local._wait_log_line(node.paths, int(pid_offset[0]), int(pid_offset[1]), deadline)


def kafka_up(settings: Settings, deadline: float, security: Security | None = None) -> bool:
    """Start the nodes that are not running (all at once: a KRaft quorum needs a majority to start) and wait
    until the cluster answers with every broker; True when this call started any."""
    all_nodes = nodes(settings)
    down_nodes = [n for n in all_nodes if local._kafka_pid(n.paths) is None]
    for n in down_nodes:
        for port in (n.port, n.controller_port):
            if local._port_open(n.host, port):
                raise StackError(
                    f"port {port} (node {n.index} of the cluster) is taken; free it or choose another "
                    "CRMIO_KAFKA_BOOTSTRAP port (a cluster uses the port and the five above it)"
                )
    cluster_id = _cluster_id(settings)
    started = []
    try:
        for n in down_nodes:
            started.append(n)
            _launch(settings, n, all_nodes, cluster_id, security)
        for n in down_nodes:
            _wait_started(n, deadline)
        _wait_brokers(settings, len(all_nodes), deadline)
    except StackError:
        for n in started:
            local._kafka_down(n.paths, kill=True)
        raise
    return bool(down_nodes)


def _cluster_id(settings: Settings) -> str:
    """The id every node is formatted with, kept so that a node formatted later joins the same cluster."""
    path = settings.state_dir / "cluster" / "cluster.id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(local.new_cluster_id() + "\n")
    return path.read_text().strip()


def _wait_brokers(settings: Settings, want: int, deadline: float) -> None:
    """Every node registered as a broker: topics of replication factor 3 can be created."""
    options = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    while True:
        local._wait_kafka_answers(bootstrap(settings), deadline, "the local cluster", options)
        have = local._run_async(lambda: _broker_count(settings))
        if have >= want:
            return
        if local._remaining(deadline) <= 0:
            raise StackError(f"only {have} of the cluster's {want} brokers registered in time; see their server.log")
        time.sleep(0.3)


async def _broker_count(settings: Settings) -> int:
    from aiokafka.admin import AIOKafkaAdminClient  # deferred: aiokafka is heavy to import

    admin = AIOKafkaAdminClient(**{**client_options(settings), "bootstrap_servers": bootstrap(settings)})
    try:
        await admin.start()
        return len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()


def node_stop(settings: Settings, index: int, *, kill: bool = False) -> None:
    """Stop (or SIGKILL) one node; its data stays, so node_start brings it back into the cluster."""
    node = nodes(settings)[index - 1]
    with local._flock(local._Paths(settings.state_dir).lock):
        local._kafka_down(node.paths, kill=kill)


def node_start(settings: Settings, index: int, security: Security | None = None) -> None:
    """Start one stopped node again on its data and wait until the cluster lists every broker."""
    all_nodes = nodes(settings)
    node = all_nodes[index - 1]
    deadline = time.monotonic() + settings.stack_start_timeout_s
    with local._flock(local._Paths(settings.state_dir).lock):
        if local._kafka_pid(node.paths) is None:
            _launch(settings, node, all_nodes, _cluster_id(settings), security)
            _wait_started(node, deadline)
        _wait_brokers(settings, len(all_nodes), deadline)


def _found(settings: Settings) -> Iterator[local._Paths]:
    for props in sorted((settings.state_dir / "cluster").glob("node*/kafka/server.properties")):
        yield local._Paths(props.parent.parent)


def down(settings: Settings) -> None:
    """Stop every node this state dir runs (whatever kafka_brokers says now); the cluster's data goes."""
    found = list(_found(settings))
    with local._flock(local._Paths(settings.state_dir).lock), ThreadPoolExecutor(max(1, len(found))) as pool:
        list(pool.map(lambda p: local._kafka_down(p, kill=False), found))
    shutil.rmtree(settings.state_dir / "cluster", ignore_errors=True)


def status(settings: Settings) -> dict[str, str]:
    out = {}
    for paths in _found(settings):
        pid = local._kafka_pid(paths)
        props = dict(
            line.split("=", 1) for line in paths.kafka_props.read_text().splitlines() if "=" in line and line[0] != "#"
        )
        where = props["advertised.listeners"].split("://", 1)[1]
        out[f"kafka{paths.root.name.removeprefix('node')}"] = local._describe(where, pid, False)
    return out


def env_lines(settings: Settings) -> list[str]:
    """The settings that point crmio at the cluster: every node, replication 3, two in-sync replicas."""
    count = len(nodes(settings))
    return [
        f"CRMIO_KAFKA_BOOTSTRAP={bootstrap(settings)}",
        f"CRMIO_KAFKA_REPLICATION_FACTOR={min(count, 3)}",
        f"CRMIO_KAFKA_MIN_INSYNC_REPLICAS={max(1, min(count, 3) - 1)}",
    ]
