"""The local stack: a real Kafka broker (KRaft, one node) and a real PostgreSQL cluster, started by crmio."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import grp
import hashlib
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import psutil

from services.core.errors import StackError
from services.core.settings import Settings

__all__ = [
    "Dsn",
    "StackInfo",
    "down",
    "env_lines",
    "kafka_start",
    "kafka_stop",
    "new_cluster_id",
    "parse_bootstrap",
    "parse_dsn",
    "postgres_start",
    "postgres_stop",
    "render_postgres_conf",
    "render_server_properties",
    "resolve_kafka",
    "status",
    "up",
]

log = logging.getLogger(__name__)

STACK_DIR = Path(__file__).resolve().parent  # its Maven pom and log configs ship with the package
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
KAFKA_READY_LINE = "Kafka Server started"
KAFKA_STOP_GRACE_S = 30.0
# A unix socket path longer than this does not fit in sockaddr_un (108 bytes incl. NUL).
MAX_SOCKET_PATH = 100
# Kafka's own launch flags (kafka-run-class.sh), minus GC logging.
KAFKA_JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# The format tool is a short-lived JVM: start fast rather than run fast.
KAFKA_TOOL_FLAGS = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true")

T = TypeVar("T")


@dataclass(frozen=True)
class StackInfo:
    kafka_bootstrap: str
    database_url: str
    kafka_started: bool
    postgres_started: bool


@dataclass(frozen=True)
class Dsn:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS


@dataclass(frozen=True)
class _Paths:
    """Where one state dir keeps each piece of the stack."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "stack.lock"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_props(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_log(self) -> Path:
        return self.kafka_dir / "server.log"

    @property
    def kafka_pid(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    @property
    def pg_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_log(self) -> Path:
        return self.pg_dir / "postgres.log"

    def pg_socket_dir(self, port: int) -> Path:
        inside = self.pg_dir / "run"
        if len(str(inside / f".s.PGSQL.{port}")) <= MAX_SOCKET_PATH:
            return inside
        # The state dir is too deep for a unix socket: keep the socket in a short, stable temp path.
        digest = hashlib.sha1(str(self.pg_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"crmio-pg-{digest}"


# ---------------------------------------------------------------------------------------------
# Pure helpers (unit-tested)
# ---------------------------------------------------------------------------------------------


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, never starting '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # A leading '-' would be read as a command-line flag by the storage tool.
        if not cid.startswith("-"):
            return cid


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first bootstrap server ("host:port[,host:port...]")."""
    first = bootstrap.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise StackError(f"CRMIO_KAFKA_BOOTSTRAP={bootstrap!r} is not host:port (e.g. 127.0.0.1:9092)")
    return host.strip("[]"), int(port)


def parse_dsn(dsn: str) -> Dsn:
    """Split a postgresql:// DSN into the parts the stack needs."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise StackError("CRMIO_DATABASE_URL must be a postgresql:// URL (postgresql://user:pw@host:port/db)")
    try:
        port = parts.port or 5432
    except ValueError as exc:
        raise StackError(f"CRMIO_DATABASE_URL has an invalid port: {exc}") from None
    user = unquote(parts.username or "")
    if not user:
        raise StackError("CRMIO_DATABASE_URL names no user (postgresql://user:pw@host:port/db)")
    database = unquote(parts.path.lstrip("/")) or user
    return Dsn(parts.hostname or "127.0.0.1", port, user, unquote(parts.password or ""), database)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _prop(value: str) -> str:
    """Escape a value for a Java .properties file (backslash is the escape character)."""
    if "\n" in value or "\r" in value:
        raise StackError(f"a line break cannot go into server.properties: {value!r}")
    return value.replace("\\", "\\\\")


def render_server_properties(*, host: str, port: int, controller_port: int, data_dir: Path) -> str:
    """server.properties of a one-node KRaft broker+controller tuned for a small machine."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{_join(host, controller_port)}",
        "listeners": f"PLAINTEXT://{_join(host, port)},CONTROLLER://{_join(host, controller_port)}",
        "advertised.listeners": f"PLAINTEXT://{_join(host, port)}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": _prop(str(data_dir)),
        # Topics are created explicitly (changelogs must be compacted): a typo must fail loudly.
        "auto.create.topics.enable": "false",
        "num.partitions": "6",
        # Kafka's defaults assume three brokers; with one, groups and transactions would hang.
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a crash the dead incarnation stays registered until its session expires (9 s by
        # default) and the restarted broker cannot register before: fault tests restart often.
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "4000",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        # Tests and local runs must never lose events to retention.
        "log.retention.hours": "720",
        "log.retention.bytes": "-1",
        # The cleaner's default 128 MB dedupe buffer is a sixth of the heap; compaction here is small.
        "log.cleaner.dedupe.buffer.size": "33554432",
        "delete.topic.enable": "true",
    }
    body = "\n".join(f"{k}={v}" for k, v in props.items())
    return f"# Written by stack/local.py on every start; edits are overwritten.\n{body}\n"


def _pg_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def render_postgres_conf(*, listen: str, port: int, socket_dir: Path) -> str:
    """crmio.conf, included from the cluster's postgresql.conf (fsync and durability stay default)."""
    lines = {
        "listen_addresses": _pg_quote(listen),
        "port": str(port),
        "unix_socket_directories": _pg_quote(str(socket_dir)),
        # Imports write records, ledger and indexes at once: keep them in memory, and checkpoint
        # less often (each checkpoint makes the next write of every page a full-page WAL image).
        "shared_buffers": "'1GB'",
        "max_wal_size": "'4GB'",
        "checkpoint_timeout": "'15min'",
        "max_connections": "200",
    }
    body = "\n".join(f"{k} = {v}" for k, v in lines.items())
    return f"# Written by stack/local.py on every start; edits are overwritten.\n{body}\n"


def env_lines(settings: Settings) -> list[str]:
    """Shell lines (for `eval` or an env file) that point crmio at this stack."""
    return [
        f"CRMIO_KAFKA_BOOTSTRAP={shlex.quote(settings.kafka_bootstrap)}",
        f"CRMIO_DATABASE_URL={shlex.quote(settings.dsn())}",
        f"CRMIO_SYSTEM_DATABASE_URL={shlex.quote(settings.system_dsn())}",
    ]


# ---------------------------------------------------------------------------------------------
# Processes, ports, locks
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """Serialize stack operations across processes (two test sessions, CLI and tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _alive(pid: int) -> bool:
    """True while any thread of the process runs; a fully exited zombie (nobody reaps it) is gone."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.Error:
        return False
    # The thread-group leader turns zombie first while other threads (a JVM's) still run and
    # still hold the listening sockets: the process is gone only when every thread is.
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError):
                if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    return True
    return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when the caller is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _require(binary: str, hint: str) -> str:
    found = shutil.which(binary)
    if not found:
        raise StackError(f"{binary!r} not found on PATH: {hint}")
    return found


# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------


def _kafka_major(settings: Settings) -> int:
    head = settings.kafka_version.split(".", 1)[0]
    if not head.isdigit():
        raise StackError(f"CRMIO_KAFKA_VERSION={settings.kafka_version!r} is not a version like 3.9.1")
    return int(head)


def _log_config_flag(settings: Settings) -> str:
    if _kafka_major(settings) >= 4:
        return f"-Dlog4j2.configurationFile={STACK_DIR / 'kafka' / 'log4j2.properties'}"
    return f"-Dlog4j.configuration=file:{STACK_DIR / 'kafka' / 'log4j.properties'}"


def resolve_kafka(settings: Settings) -> Path:
    """The broker's classpath dir, resolved from Maven Central once and cached across clones."""
    base = settings.cache_dir / f"kafka-{settings.kafka_version}"
    libs, marker = base / "libs", base / ".resolved"
    if marker.exists():
        return libs
    pom = STACK_DIR / "kafka" / "pom.xml"
    if not pom.exists():
        raise StackError(f"{pom} is missing: the local stack runs from a source checkout (or use docker-compose.yml)")
    mvn = _require("mvn", "Maven downloads the Kafka jars once; run stack/install.sh or apt-get install maven")
    base.mkdir(parents=True, exist_ok=True)
    with _flock(base / ".lock"):
        if marker.exists():  # another process resolved it while we waited
            return libs
        _copy_dependencies(settings, mvn, pom, base)
    return libs


def _copy_dependencies(settings: Settings, mvn: str, pom: Path, base: Path) -> None:
    staging, libs = base / "libs.partial", base / "libs"
    shutil.rmtree(staging, ignore_errors=True)
    # Build in the cache, not in the checkout, so a read-only checkout works and leaves no target/.
    shutil.copyfile(pom, base / "pom.xml")
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(base / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
        f"-Dkafka.version={settings.kafka_version}",
    ]
    if _kafka_major(settings) >= 4:
        cmd.append("-Dkafka.logging=log4j2")
    log.info("resolving Kafka %s jars with Maven into %s", settings.kafka_version, libs)
    result = subprocess.run(cmd, cwd=base, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StackError(
            f"Maven could not resolve Kafka {settings.kafka_version} (exit {result.returncode}); "
            f"check the version and access to Maven Central:\n{output}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (base / ".resolved").write_text(f"{settings.kafka_version}\n")


def _kafka_pid(paths: _Paths) -> int | None:
    """Pid of the broker this state dir started, if it still runs (guards against pid reuse)."""
    pid = _read_pid(paths.kafka_pid)
    if pid is None or not _alive(pid):
        return None
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    return pid if "kafka.Kafka" in cmdline and str(paths.kafka_props) in cmdline else None


async def _kafka_answers(bootstrap: str, timeout: float, options: Mapping[str, Any] | None = None) -> str | None:
    """None when a metadata round trip succeeds, else why not (``options``: a secure cluster's client options)."""
    from aiokafka.admin import AIOKafkaAdminClient  # deferred: aiokafka is heavy to import

    admin = AIOKafkaAdminClient(
        **{**(options or {}), "bootstrap_servers": bootstrap}, request_timeout_ms=max(1000, int(timeout * 1000))
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        meta = await asyncio.wait_for(admin.describe_cluster(), timeout)
        return None if meta.get("brokers") else "no brokers in metadata yet"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"; the reason is reported
        return f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def _wait_kafka_answers(bootstrap: str, deadline: float, what: str, options: Mapping[str, Any] | None = None) -> None:
    reason = "no attempt"
    while True:
        reason = _run_async(lambda: _kafka_answers(bootstrap, min(5.0, max(1.0, _remaining(deadline))), options))
        if reason is None:
            return
        if _remaining(deadline) <= 0:
            raise StackError(f"Kafka at {bootstrap} ({what}) did not answer a metadata request in time: {reason}")
        time.sleep(0.3)


def _wait_log_line(paths: _Paths, pid: int, offset: int, deadline: float) -> None:
    """Wait for the broker's "started" line after `offset`; fail fast if the JVM dies first."""
    while True:
        with contextlib.suppress(OSError), open(paths.kafka_log, "rb") as fh:
            fh.seek(offset)
            if KAFKA_READY_LINE.encode() in fh.read():
                return
        if not _alive(pid):
            raise StackError(f"Kafka exited during start-up; see {paths.kafka_log}:\n{_tail(paths.kafka_log)}")
        if _remaining(deadline) <= 0:
            raise StackError(
                f"Kafka did not log {KAFKA_READY_LINE!r} in time; see {paths.kafka_log}:\n{_tail(paths.kafka_log)}"
            )
        time.sleep(0.2)


def _kafka_format(
    settings: Settings,
    java: str,
    classpath: str,
    paths: _Paths,
    *,
    cluster_id: str | None = None,
    extra: Sequence[str] = (),
) -> None:
    """Format the data dir once; a restart after a stop or crash keeps it (and its topics).

    A cluster's nodes share one ``cluster_id``; ``extra``: more format arguments (SCRAM users)."""
    if (paths.kafka_data / "meta.properties").exists():
        return
    shutil.rmtree(paths.kafka_data, ignore_errors=True)  # a half-formatted leftover
    cmd = [
        java,
        *KAFKA_TOOL_FLAGS,
        _log_config_flag(settings),
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id or new_cluster_id(),
        "-c",
        str(paths.kafka_props),
        *extra,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=180)
    with open(paths.kafka_log, "a") as fh:
        fh.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed; see {paths.kafka_log}:\n{_tail(paths.kafka_log)}")


def _kafka_launch(settings: Settings, java: str, classpath: str, paths: _Paths) -> int:
    cmd = [
        java,
        *shlex.split(settings.kafka_heap),
        *KAFKA_JVM_FLAGS,
        _log_config_flag(settings),
        "-cp",
        classpath,
        "kafka.Kafka",
        str(paths.kafka_props),
    ]
    # The shell backgrounds the JVM and exits, so the broker is nobody's child: it outlives this
    # process (CLI `stack up`), never lingers as our zombie, and Ctrl-C here does not reach it.
    script = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(paths.kafka_log), *cmd],
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )
    pid_text = result.stdout.strip()
    if result.returncode != 0 or not pid_text.isdigit():
        raise StackError(f"could not launch Kafka: {result.stderr.strip() or 'no pid'}")
    paths.kafka_pid.write_text(f"{pid_text}\n")
    return int(pid_text)


def _kafka_up(settings: Settings, deadline: float) -> bool:
    """Make the broker answer; True when this call started it."""
    host, port = parse_bootstrap(settings.kafka_bootstrap)
    bootstrap = _join(host, port)
    paths = _Paths(settings.state_dir)
    if _kafka_pid(paths) is not None:
        _wait_kafka_answers(bootstrap, deadline, f"started by crmio, log {paths.kafka_log}")
        return False
    if host not in LOCAL_HOSTS or _port_open(host, port):
        # An external broker, or one already listening (another state dir, Docker): reuse it.
        _wait_kafka_answers(bootstrap, deadline, "not started from this state dir")
        return False
    if _port_open(host, port + 1):
        raise StackError(
            f"port {port + 1} (the Kafka controller listener, bootstrap port + 1) is taken; "
            f"free it or choose another CRMIO_KAFKA_BOOTSTRAP port"
        )
    _kafka_spawn(settings, paths, host, port, deadline)
    return True


def _kafka_spawn(settings: Settings, paths: _Paths, host: str, port: int, deadline: float) -> None:
    java = _require("java", "install Java 17 (apt-get install openjdk-17-jre-headless) or run stack/install.sh")
    classpath = f"{resolve_kafka(settings)}/*"
    paths.kafka_dir.mkdir(parents=True, exist_ok=True)
    paths.kafka_props.write_text(
        render_server_properties(host=host, port=port, controller_port=port + 1, data_dir=paths.kafka_data)
    )
    paths.kafka_log.touch()
    _kafka_format(settings, java, classpath, paths)
    offset = paths.kafka_log.stat().st_size
    pid = _kafka_launch(settings, java, classpath, paths)
    try:
        _wait_log_line(paths, pid, offset, deadline)
        _wait_kafka_answers(_join(host, port), deadline, f"pid {pid}, log {paths.kafka_log}")
    except StackError:
        _kafka_terminate(pid, kill=True)
        paths.kafka_pid.unlink(missing_ok=True)
        raise


def _kafka_terminate(pid: int, *, kill: bool) -> None:
    """SIGTERM (a clean, flushed shutdown) and wait; SIGKILL when asked or when it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    if _wait_gone(pid, KAFKA_STOP_GRACE_S):
        return
    log.warning("Kafka (pid %d) ignored SIGTERM for %.0f s; killing it", pid, KAFKA_STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0):
        raise StackError(f"Kafka (pid {pid}) survived SIGKILL; stop it by hand")


def _kafka_down(paths: _Paths, *, kill: bool) -> None:
    pid = _kafka_pid(paths)
    if pid is not None:
        _kafka_terminate(pid, kill=kill)
    paths.kafka_pid.unlink(missing_ok=True)


def kafka_start(settings: Settings) -> None:
    """Start the broker (keeping its data dir if one exists) and wait until it answers."""
    with _flock(_Paths(settings.state_dir).lock):
        _kafka_up(settings, time.monotonic() + settings.stack_start_timeout_s)


def kafka_stop(settings: Settings, *, kill: bool = False) -> None:
    """Stop the broker this state dir started; its data stays, so kafka_start resumes it."""
    paths = _Paths(settings.state_dir)
    with _flock(paths.lock):
        _kafka_down(paths, kill=kill)


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    name = path.parent.parent.name  # /usr/lib/postgresql/<version>/bin/postgres
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _pg_bindir(data_dir: Path) -> Path:
    """Server binaries: the cluster's own major version if it exists, else the newest >= 15."""
    wanted = None
    with contextlib.suppress(OSError):
        wanted = (data_dir / "PG_VERSION").read_text().strip()
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_version_key)
    if wanted:
        for candidate in debian:
            if candidate.parent.parent.name == wanted:
                return candidate.parent
    elif debian and _version_key(debian[-1]) >= (15,):
        return debian[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    need = f"PostgreSQL {wanted} (the cluster in {data_dir} was created by it)" if wanted else "PostgreSQL 15+"
    raise StackError(
        f"{need} server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        f"run stack/install.sh or apt-get install postgresql, or point CRMIO_DATABASE_URL at a running server"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The OS user that runs the cluster: `postgres` under root (the server refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            "running as root, but there is no `postgres` OS user to run PostgreSQL as; "
            "install the postgresql package (it creates one) or run crmio as a normal user"
        ) from None


def _as_server(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = _require("runuser", "it ships with util-linux (apt-get install util-linux)")
    return [runuser, "-u", "postgres", "--", *cmd]


def _can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    st = path.stat()
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    groups = {user.pw_gid, *(g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem)}
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _grant_traverse(target: Path, user: pwd.struct_passwd) -> None:
    """Let the server user reach `target`: add o+x (traverse, not list) to parents that lack it."""
    fixed = []
    resolved = target.resolve()
    for parent in (*reversed(resolved.parents), resolved):
        if not _can_traverse(parent, user):
            parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
            fixed.append(str(parent))
    if fixed:
        log.warning("added o+x to %s so the postgres OS user can reach %s", ", ".join(fixed), target)


def _own_dir(path: Path, user: pwd.struct_passwd | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)


def _pg_prepare_dirs(paths: _Paths, port: int) -> None:
    user = _server_user()
    paths.root.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _grant_traverse(paths.root, user)
    _own_dir(paths.pg_dir, user)
    socket_dir = paths.pg_socket_dir(port)
    if socket_dir.parent != paths.pg_dir:
        log.warning("state dir path too long for a unix socket; PostgreSQL's socket goes to %s", socket_dir)
    _own_dir(socket_dir, user)


def _pg_run(
    bindir: Path, args: list[str], *, what: str, log_path: Path, stdin: str | None = None, timeout: float = 300
) -> str:
    result = subprocess.run(
        _as_server([str(bindir / args[0]), *args[1:]]),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd="/",
    )
    if result.returncode != 0:
        raise StackError(
            f"PostgreSQL: {what} failed (exit {result.returncode}); see {log_path}:\n"
            f"{(result.stdout + result.stderr).strip()}\n{_tail(log_path, 15)}"
        )
    return result.stdout


def _pg_initdb(bindir: Path, paths: _Paths) -> None:
    if (paths.pg_data / "PG_VERSION").exists():
        return
    shutil.rmtree(paths.pg_data, ignore_errors=True)  # a half-created leftover
    superuser = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    # Local socket: peer (only the server's OS user gets the superuser); TCP: passwords.
    _pg_run(
        bindir,
        [
            "initdb",
            "-D",
            str(paths.pg_data),
            "-U",
            superuser,
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        ],
        what="initdb",
        log_path=paths.pg_log,
    )
    with open(paths.pg_data / "postgresql.conf", "a") as fh:
        fh.write("\n# crmio's settings (rewritten on every start)\ninclude_if_exists = 'crmio.conf'\n")


def _pg_write_conf(paths: _Paths, dsn: Dsn) -> None:
    conf = paths.pg_data / "crmio.conf"
    conf.write_text(render_postgres_conf(listen=dsn.host, port=dsn.port, socket_dir=paths.pg_socket_dir(dsn.port)))
    user = _server_user()
    if user is not None:
        os.chown(conf, user.pw_uid, user.pw_gid)


def _pg_pid(paths: _Paths) -> int | None:
    """Pid of this state dir's postmaster, if it runs."""
    pid = _read_pid(paths.pg_data / "postmaster.pid")
    if pid is None or not _alive(pid):
        return None
    try:
        name = psutil.Process(pid).name()
    except psutil.Error:
        return None
    return pid if "postgres" in name or "postmaster" in name else None


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _role_script(owner: Dsn, app: Dsn) -> str:
    """Idempotent: the two roles and the database.

    ``owner`` (the system DSN) owns the database and its tables, runs migrations and the
    cross-company tasks (admission, schedules, retention, API-key lookup): BYPASSRLS.
    ``app`` (the service DSN) does everything a company asks for: neither owner nor BYPASSRLS, so
    row-level security scopes every row it reads or writes to the company of its transaction.
    """
    lines = []
    for dsn, bypass in ((owner, "BYPASSRLS"), (app, "NOBYPASSRLS")):
        role, pw = _ident(dsn.user), _pg_quote(dsn.password)
        lines += [
            f"SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_pg_quote(dsn.user)}) AS need_role \\gset",
            "\\if :need_role",
            f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEROLE {bypass} PASSWORD {pw};",
            "\\else",
            f"ALTER ROLE {role} LOGIN NOSUPERUSER {bypass} PASSWORD {pw};",
            "\\endif",
        ]
    db, role = _ident(owner.database), _ident(owner.user)
    lines += [
        f"SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {_pg_quote(owner.database)}) AS need_db \\gset",
        "\\if :need_db",
        f"CREATE DATABASE {db} OWNER {role};",
        "\\else",
        f"ALTER DATABASE {db} OWNER TO {role};",
        "\\endif",
        "",
    ]
    return "\n".join(lines)


def _psql(paths: _Paths, port: int, database: str) -> list[str]:
    """psql as the server's superuser over the local socket (peer authentication), stopping at the first error."""
    socket = str(paths.pg_socket_dir(port))
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socket, "-p", str(port), "-d", database]


def _pg_ensure_role(bindir: Path, paths: _Paths, owner: Dsn, app: Dsn) -> None:
    _pg_run(
        bindir,
        [*_psql(paths, owner.port, "postgres"), "-f", "-"],
        what=f"creating roles {owner.user!r}, {app.user!r} and database {owner.database!r}",
        log_path=paths.pg_log,
        stdin=_role_script(owner, app),
        timeout=60,
    )


async def _pg_answers(dsn: str, timeout: float) -> str | None:
    """None when `SELECT 1` succeeds with the app's DSN, else why not."""
    import asyncpg  # deferred: only needed for the readiness check

    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn, timeout=timeout), timeout + 1)
    except Exception as exc:  # noqa: BLE001 - the reason is reported to the caller
        return f"{type(exc).__name__}: {exc}"
    try:
        return None if await conn.fetchval("SELECT 1") == 1 else "SELECT 1 returned something else"
    finally:
        await conn.close()


def _wait_pg_answers(settings: Settings, deadline: float, where: str) -> None:
    for url in (settings.system_dsn(), settings.dsn()):
        while True:
            reason = _run_async(lambda url=url: _pg_answers(url, min(5.0, max(1.0, _remaining(deadline)))))
            if reason is None:
                break
            # Wrong password or missing database will not fix itself: say so now.
            if "password" in reason or "does not exist" in reason or _remaining(deadline) <= 0:
                dsn = parse_dsn(url)
                raise StackError(
                    f"PostgreSQL at {_join(dsn.host, dsn.port)} ({where}) refuses crmio's DSN "
                    f"(role {dsn.user}): {reason}"
                )
            time.sleep(0.3)


def _pg_spawn(settings: Settings, paths: _Paths, dsn: Dsn, deadline: float) -> None:
    bindir = _pg_bindir(paths.pg_data)
    _pg_prepare_dirs(paths, dsn.port)
    _pg_initdb(bindir, paths)
    _pg_write_conf(paths, dsn)
    _pg_run(
        bindir,
        [
            "pg_ctl",
            "-D",
            str(paths.pg_data),
            "-l",
            str(paths.pg_log),
            "-w",
            "-t",
            str(max(5, int(_remaining(deadline)))),
            "start",
        ],
        what="pg_ctl start",
        log_path=paths.pg_log,
    )
    _pg_ensure_role(bindir, paths, dsn, parse_dsn(settings.dsn()))


def _postgres_up(settings: Settings, deadline: float) -> bool:
    """Make PostgreSQL answer crmio's DSNs; True when this call started the server."""
    dsn = parse_dsn(settings.system_dsn())
    paths = _Paths(settings.state_dir)
    if _pg_pid(paths) is not None:
        # Started earlier by crmio, perhaps by a version with fewer roles: the role script is idempotent.
        _pg_ensure_role(_pg_bindir(paths.pg_data), paths, dsn, parse_dsn(settings.dsn()))
        _wait_pg_answers(settings, deadline, f"started by crmio, log {paths.pg_log}")
        return False
    if not dsn.is_local or _port_open(dsn.host, dsn.port):
        _wait_pg_answers(settings, deadline, "not started from this state dir")
        return False
    _pg_spawn(settings, paths, dsn, deadline)
    _wait_pg_answers(settings, deadline, f"log {paths.pg_log}")
    return True


def _postgres_down(paths: _Paths, mode: Literal["fast", "immediate"]) -> None:
    if _pg_pid(paths) is None:
        return
    bindir = _pg_bindir(paths.pg_data)
    _pg_run(
        bindir,
        ["pg_ctl", "-D", str(paths.pg_data), "-m", mode, "-w", "-t", "60", "stop"],
        what=f"pg_ctl stop -m {mode}",
        log_path=paths.pg_log,
    )


def superuser_sql(settings: Settings, statements: list[str], *, database: str = "postgres") -> None:
    """Run ``statements`` as the server's superuser (the local socket): what crmio's roles may not do, for
    benchmarks and operators (bench/bench_growth.py makes its own databases and checkpoints). Needs the server
    this state dir runs."""
    paths = _Paths(settings.state_dir)
    port = parse_dsn(settings.system_dsn()).port
    commands = [arg for statement in statements for arg in ("-c", statement)]
    _pg_run(
        _pg_bindir(paths.pg_data),
        [*_psql(paths, port, database), *commands],
        what=f"running {statements[0][:60]!r} as the superuser",
        log_path=paths.pg_log,
        timeout=600,
    )


def create_database(settings: Settings, name: str) -> None:
    """Database ``name`` on the stack's server made afresh, owned by the system role: a benchmark's own,
    apart from the dev database and the tests'."""
    db, owner = _ident(name), _ident(parse_dsn(settings.system_dsn()).user)
    superuser_sql(settings, [f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db} OWNER {owner}"])


def postgres_start(settings: Settings) -> None:
    """Start (creating on first use) the local cluster, or check the server the DSN names."""
    with _flock(_Paths(settings.state_dir).lock):
        _postgres_up(settings, time.monotonic() + settings.stack_start_timeout_s)


def postgres_stop(settings: Settings, *, mode: Literal["fast", "immediate"] = "fast") -> None:
    """Stop the cluster this state dir started (`immediate` is a crash: recovery runs on start)."""
    paths = _Paths(settings.state_dir)
    with _flock(paths.lock):
        _postgres_down(paths, mode)


# ---------------------------------------------------------------------------------------------
# The whole stack
# ---------------------------------------------------------------------------------------------


def up(settings: Settings, *, kafka_up: Callable[[Settings, float], bool] | None = None) -> StackInfo:
    """Start whatever is not running yet (both in parallel) and wait until both answer.

    ``kafka_up``: what starts Kafka instead of the one broker (stack/cluster.py's several)."""
    paths = _Paths(settings.state_dir)
    deadline = time.monotonic() + settings.stack_start_timeout_s
    with _flock(paths.lock):
        with ThreadPoolExecutor(2) as pool:
            kafka = pool.submit(kafka_up or _kafka_up, settings, deadline)
            postgres = pool.submit(_postgres_up, settings, deadline)
        errors = [str(f.exception()) for f in (kafka, postgres) if f.exception() is not None]
        if errors:
            # All or nothing: a half-started stack would only be found later, holding its ports.
            if kafka.exception() is None and kafka.result():
                _kafka_down(paths, kill=False)
                shutil.rmtree(paths.kafka_data, ignore_errors=True)
            if postgres.exception() is None and postgres.result():
                _postgres_down(paths, "fast")
            raise StackError("the local stack did not start:\n- " + "\n- ".join(errors))
    host, port = parse_bootstrap(settings.kafka_bootstrap)
    return StackInfo(_join(host, port), settings.dsn(), kafka.result(), postgres.result())


def down(settings: Settings) -> None:
    """Stop what this state dir runs; Kafka's data goes (the next `up` is fresh), PostgreSQL's stays."""
    paths = _Paths(settings.state_dir)
    if not paths.root.exists():
        return
    errors = []
    with _flock(paths.lock):
        try:
            _kafka_down(paths, kill=False)
            shutil.rmtree(paths.kafka_data, ignore_errors=True)
        except StackError as exc:
            errors.append(str(exc))
        try:
            _postgres_down(paths, "fast")
        except StackError as exc:
            errors.append(str(exc))
    if errors:
        raise StackError("the local stack did not stop cleanly:\n- " + "\n- ".join(errors))


def status(settings: Settings) -> dict[str, str]:
    """One line per service: who runs it and where, or "stopped"."""
    paths = _Paths(settings.state_dir)
    host, port = parse_bootstrap(settings.kafka_bootstrap)
    dsn = parse_dsn(settings.dsn())
    return {
        "kafka": _describe(_join(host, port), _kafka_pid(paths), _port_open(host, port)),
        "postgres": _describe(_join(dsn.host, dsn.port), _pg_pid(paths), _port_open(dsn.host, dsn.port)),
    }


def _describe(where: str, pid: int | None, answering: bool) -> str:
    if pid is not None:
        return f"running at {where} (pid {pid})"
    if answering:
        return f"running at {where} (not started from this state dir)"
    return "stopped"
