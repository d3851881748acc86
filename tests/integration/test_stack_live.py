"""The local stack for real: up, round trips to Kafka and PostgreSQL, crash-restarts, down, processes gone.

Runs in its own temporary state dir on non-default ports, so it never touches a stack on 9092/55432.
Missing Java, Maven or PostgreSQL binaries FAIL it (StackError says what to install); nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.core.errors import StackError
from services.core.settings import Settings
from stack import local as stack

pytestmark = pytest.mark.integration

KAFKA_PORT = 19192
PG_PORT = 55532


def _pid(line: str) -> int:
    match = re.search(r"\(pid (\d+)\)", line)
    assert match, f"expected a pid in status line {line!r}"
    return int(match.group(1))


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _gone(pid: int) -> bool:
    """No thread of `pid` runs (an unreaped zombie counts as gone; its leader dies first, so check all)."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return False
        return all(psutil.Process(t.id).status() == psutil.STATUS_ZOMBIE for t in psutil.Process(pid).threads())
    except psutil.NoSuchProcess:
        return True


@dataclass(frozen=True)
class Live:
    settings: Settings
    error: str | None


@pytest.fixture(scope="module")
def stack_up() -> Iterator[Live]:
    """Starts the stack once for the module; a failure is kept so that every test FAILS with it."""
    # Not under pytest's temp root: pytest resets that to 0700, which locks the postgres OS user out.
    state_dir = Path(tempfile.mkdtemp(prefix="live-stack-", dir=Settings().state_dir))
    s = Settings(
        state_dir=state_dir,
        kafka_bootstrap=f"127.0.0.1:{KAFKA_PORT}",
        database_url=f"postgresql://crmio_app:app%27pw@127.0.0.1:{PG_PORT}/crmio_live",
        system_database_url=f"postgresql://crmio:l1ve%27pw@127.0.0.1:{PG_PORT}/crmio_live",
        stack_start_timeout_s=180,
    )
    taken = [port for port in (KAFKA_PORT, KAFKA_PORT + 1, PG_PORT) if _listening(port)]
    error = f"ports {taken} are taken; this test needs them free" if taken else None
    if error is None:
        try:
            info = stack.up(s)
        except StackError as exc:
            error = f"the local stack did not start (stack/install.sh installs what is missing):\n{exc.message}"
        else:
            assert info == stack.StackInfo(f"127.0.0.1:{KAFKA_PORT}", s.dsn(), True, True)
    yield Live(s, error)
    stack.down(s)
    shutil.rmtree(state_dir, ignore_errors=True)


def running(stack_up: Live) -> Settings:
    """The stack's settings; FAILS the calling test (a fixture error would read as ERROR) when it is down."""
    if stack_up.error:
        pytest.fail(stack_up.error, pytrace=False)
    return stack_up.settings


async def _cluster(bootstrap: str) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
        return await admin.describe_cluster()
    finally:
        await admin.close()


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
        await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_kafka_answers_describe_cluster(stack_up: Live) -> None:
    live = running(stack_up)
    meta = await _cluster(live.kafka_bootstrap)
    assert [(b["node_id"], b["host"], b["port"]) for b in meta["brokers"]] == [(1, "127.0.0.1", KAFKA_PORT)]


async def test_postgres_answers_as_owner_not_superuser(stack_up: Live) -> None:
    live = running(stack_up)
    app = await asyncpg.connect(live.dsn())
    try:  # the service role: neither superuser, nor owner, nor exempt from row-level security
        role = await app.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
        assert await app.fetchval("SELECT current_user") == "crmio_app"
    finally:
        await app.close()
    conn = await asyncpg.connect(live.system_dsn())
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        )
        assert owner == "crmio"
        assert await conn.fetchval("SHOW max_connections") == "200"
        assert await conn.fetchval("SHOW fsync") == "on"
        await conn.execute("CREATE TABLE live_probe (id int PRIMARY KEY)")  # the app role can migrate
        await conn.execute("DROP TABLE live_probe")
    finally:
        await conn.close()


def test_up_again_reuses_everything(stack_up: Live) -> None:
    live = running(stack_up)
    before = stack.status(live)
    info = stack.up(live)
    assert (info.kafka_started, info.postgres_started) == (False, False)
    assert stack.status(live) == before
    assert before["kafka"].startswith(f"running at 127.0.0.1:{KAFKA_PORT} (pid ")


async def test_kafka_crash_restart_keeps_topics(stack_up: Live) -> None:
    live = running(stack_up)
    topic = f"live-{uuid.uuid4().hex[:8]}"
    await _create_topic(live.kafka_bootstrap, topic)
    pid = _pid(stack.status(live)["kafka"])
    stack.kafka_stop(live, kill=True)
    assert _gone(pid)
    assert not _listening(KAFKA_PORT)
    assert stack.status(live)["kafka"] == "stopped"
    await asyncio.to_thread(stack.kafka_start, live)
    assert topic in await _topics(live.kafka_bootstrap)


async def test_postgres_crash_restart_keeps_data(stack_up: Live) -> None:
    live = running(stack_up)
    conn = await asyncpg.connect(live.system_dsn())
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS live_crash (v text); INSERT INTO live_crash VALUES ('kept')")
    finally:
        await conn.close()
    stack.postgres_stop(live, mode="immediate")
    assert stack.status(live)["postgres"] == "stopped"
    stack.postgres_start(live)
    conn = await asyncpg.connect(live.system_dsn())
    try:
        assert await conn.fetchval("SELECT v FROM live_crash") == "kept"
        await conn.execute("DROP TABLE live_crash")
    finally:
        await conn.close()


def test_down_stops_everything(stack_up: Live) -> None:
    live = running(stack_up)
    state = stack.status(live)
    pids = [_pid(state["kafka"]), _pid(state["postgres"])]
    stack.down(live)
    assert all(_gone(pid) for pid in pids), [p for p in pids if not _gone(p)]
    assert not any(_listening(port) for port in (KAFKA_PORT, KAFKA_PORT + 1, PG_PORT))
    assert stack.status(live) == {"kafka": "stopped", "postgres": "stopped"}
    assert not (Path(live.state_dir) / "kafka" / "data").exists()  # the next up starts a fresh broker
    stack.down(live)  # idempotent
