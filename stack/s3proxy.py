"""The local object storage: S3Proxy (an S3 API server; Maven Central's org.gaul:s3proxy) on its filesystem
backend, for `crmio stack up --s3` and the tests. Resolved once like the Kafka broker (stack/s3/pom.xml, one
jar cached in ~/.cache/crmio), started in the background so it outlives the CLI, its objects kept in
<state_dir>/s3proxy/data across restarts; the bucket crmio uses is created on start.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from services.core.errors import StackError
from services.core.settings import Settings
from stack.local import LOCAL_HOSTS, STACK_DIR, _alive, _flock, _port_open, _read_pid, _require, _tail, _wait_gone

__all__ = ["S3ProxyConfig", "config", "render_properties", "resolve_s3proxy", "start", "stop", "status", "env_lines"]

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_ACCESS_KEY = "crmio"
DEFAULT_SECRET = "crmio-local-secret"
MAIN_CLASS = "org.gaul.s3proxy.Main"


@dataclass(frozen=True)
class S3ProxyConfig:
    endpoint: str
    host: str
    port: int
    access_key: str
    secret: str
    bucket: str
    root: Path  # <state_dir>/s3proxy

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def properties(self) -> Path:
        return self.root / "s3proxy.conf"

    @property
    def log(self) -> Path:
        return self.root / "s3proxy.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "s3proxy.pid"


def config(settings: Settings) -> S3ProxyConfig:
    """Where the local S3Proxy listens and which keys it takes: the s3 settings when they name a local
    endpoint, else the defaults (http://127.0.0.1:9000, crmio / crmio-local-secret)."""
    endpoint = settings.s3_endpoint_url or DEFAULT_ENDPOINT
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS or not parts.port:
        raise StackError(
            f"CRMIO_S3_ENDPOINT_URL={endpoint!r}: the local S3Proxy listens on http://127.0.0.1:PORT; "
            "unset it (the default is http://127.0.0.1:9000) or point crmio at your own object storage"
        )
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else DEFAULT_SECRET
    return S3ProxyConfig(
        endpoint=endpoint,
        host=parts.hostname,
        port=parts.port,
        access_key=settings.s3_access_key_id or DEFAULT_ACCESS_KEY,
        secret=secret,
        bucket=settings.s3_bucket,
        root=settings.state_dir / "s3proxy",
    )


def _prop(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise StackError(f"a line break cannot go into s3proxy.conf: {value!r}")
    return value.replace("\\", "\\\\")


def render_properties(cfg: S3ProxyConfig) -> str:
    """s3proxy.conf: signature v2 or v4 with crmio's keys, the filesystem backend under the state dir."""
    props = {
        "s3proxy.endpoint": f"http://{cfg.host}:{cfg.port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": cfg.access_key,
        "s3proxy.credential": cfg.secret,
        "jclouds.provider": "filesystem",
        "jclouds.identity": cfg.access_key,
        "jclouds.credential": cfg.secret,
        "jclouds.filesystem.basedir": str(cfg.data),
    }
    body = "\n".join(f"{k}={_prop(v)}" for k, v in props.items())
    return f"# Written by stack/s3proxy.py on every start; edits are overwritten.\n{body}\n"


def resolve_s3proxy(settings: Settings) -> Path:
    """The S3Proxy jar's dir, resolved from Maven Central once and cached across clones."""
    base = settings.cache_dir / f"s3proxy-{settings.s3proxy_version}"
    libs, marker = base / "libs", base / ".resolved"
    if marker.exists():
        return libs
    pom = STACK_DIR / "s3" / "pom.xml"
    mvn = _require("mvn", "Maven downloads S3Proxy once; run stack/install.sh or apt-get install maven")
    base.mkdir(parents=True, exist_ok=True)
    with _flock(base / ".lock"):
        if marker.exists():
            return libs
        staging = base / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copyfile(pom, base / "pom.xml")
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(base / "pom.xml"),
            "dependency:copy-dependencies",
            "-DexcludeTransitive=true",
            f"-DoutputDirectory={staging}",
            f"-Ds3proxy.version={settings.s3proxy_version}",
        ]
        result = subprocess.run(cmd, cwd=base, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(staging.glob("s3proxy-*.jar")):
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise StackError(
                f"Maven could not resolve S3Proxy {settings.s3proxy_version} (exit {result.returncode}); "
                f"check CRMIO_S3PROXY_VERSION and access to Maven Central:\n{output}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        marker.write_text(f"{settings.s3proxy_version}\n")
    return libs


def _pid(cfg: S3ProxyConfig) -> int | None:
    """Pid of the S3Proxy this state dir started, if it still runs (guards against pid reuse)."""
    pid = _read_pid(cfg.pid_file)
    if pid is None or not _alive(pid):
        return None
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    return pid if MAIN_CLASS in cmdline and str(cfg.properties) in cmdline else None


def _client(cfg: S3ProxyConfig):  # type: ignore[no-untyped-def]  # boto3's S3 client
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=cfg.endpoint,
        aws_access_key_id=cfg.access_key,
        aws_secret_access_key=cfg.secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2),
    )


def _answers(cfg: S3ProxyConfig) -> str | None:
    """None when S3Proxy lists its buckets with crmio's keys, else why not."""
    try:
        _client(cfg).list_buckets()
    except Exception as exc:  # noqa: BLE001 - the reason is reported to the caller
        return f"{type(exc).__name__}: {exc}"
    return None


def _ensure_bucket(cfg: S3ProxyConfig) -> None:
    client = _client(cfg)
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if cfg.bucket not in names:
        client.create_bucket(Bucket=cfg.bucket)


def _launch(settings: Settings, cfg: S3ProxyConfig) -> int:
    java = _require("java", "install Java 17 (apt-get install openjdk-17-jre-headless) or run stack/install.sh")
    classpath = f"{resolve_s3proxy(settings)}/*"
    cmd = [java, *shlex.split(settings.s3proxy_heap), "-cp", classpath, MAIN_CLASS, "--properties", str(cfg.properties)]
    # Backgrounded by a shell that exits: S3Proxy is nobody's child and outlives `crmio stack up`.
    script = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(cfg.log), *cmd],
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )
    pid_text = result.stdout.strip()
    if result.returncode != 0 or not pid_text.isdigit():
        raise StackError(f"could not launch S3Proxy: {result.stderr.strip() or 'no pid'}")
    cfg.pid_file.write_text(f"{pid_text}\n")
    return int(pid_text)


def _wait_ready(cfg: S3ProxyConfig, pid: int | None, deadline: float) -> None:
    reason = _answers(cfg)
    while reason is not None:
        if pid is not None and not _alive(pid):
            raise StackError(f"S3Proxy exited during start-up; see {cfg.log}:\n{_tail(cfg.log)}")
        if time.monotonic() > deadline:
            raise StackError(f"S3Proxy at {cfg.endpoint} did not answer in time ({reason}); see {cfg.log}")
        time.sleep(0.3)
        reason = _answers(cfg)


def start(settings: Settings) -> bool:
    """Start S3Proxy (or check the one answering at the endpoint) and create the bucket; True when started."""
    cfg = config(settings)
    deadline = time.monotonic() + settings.stack_start_timeout_s
    cfg.root.mkdir(parents=True, exist_ok=True)
    with _flock(cfg.root / "s3proxy.lock"):
        started = False
        pid = _pid(cfg)
        if pid is None and not _port_open(cfg.host, cfg.port):
            cfg.data.mkdir(parents=True, exist_ok=True)
            cfg.properties.write_text(render_properties(cfg))
            pid, started = _launch(settings, cfg), True
        try:
            _wait_ready(cfg, pid, deadline)
            _ensure_bucket(cfg)
        except Exception as exc:
            if started and pid is not None:
                _terminate(pid)
                cfg.pid_file.unlink(missing_ok=True)
            if isinstance(exc, StackError):
                raise
            raise StackError(f"S3Proxy at {cfg.endpoint} refuses crmio's keys or bucket: {exc}") from None
    return started


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, 15.0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0)


def _local(settings: Settings) -> S3ProxyConfig | None:
    """The local S3Proxy's config, or None when the settings point crmio at object storage elsewhere."""
    try:
        return config(settings)
    except StackError:
        return None


def stop(settings: Settings) -> None:
    """Stop the S3Proxy this state dir started; its objects stay."""
    cfg = _local(settings)
    if cfg is None or not cfg.root.exists():
        return
    with _flock(cfg.root / "s3proxy.lock"):
        pid = _pid(cfg)
        if pid is not None:
            _terminate(pid)
        cfg.pid_file.unlink(missing_ok=True)


def status(settings: Settings) -> str:
    cfg = _local(settings)
    if cfg is None:
        return f"not local (CRMIO_S3_ENDPOINT_URL={settings.s3_endpoint_url})"
    pid = _pid(cfg)
    if pid is not None:
        return f"running at {cfg.endpoint} (pid {pid})"
    if _port_open(cfg.host, cfg.port):
        return f"running at {cfg.endpoint} (not started from this state dir)"
    return "stopped"


def env_lines(settings: Settings) -> list[str]:
    """Shell lines that point crmio's storage at the local S3Proxy."""
    cfg = config(settings)
    return [
        "CRMIO_STORAGE_BACKEND=s3",
        f"CRMIO_S3_ENDPOINT_URL={shlex.quote(cfg.endpoint)}",
        f"CRMIO_S3_BUCKET={shlex.quote(cfg.bucket)}",
        f"CRMIO_S3_ACCESS_KEY_ID={shlex.quote(cfg.access_key)}",
        f"CRMIO_S3_SECRET_ACCESS_KEY={shlex.quote(cfg.secret)}",
        "CRMIO_S3_PATH_STYLE=true",
    ]
