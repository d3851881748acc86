"""Connections one client or one key can hold (issue 17), against `crmio api` in its own process, as deployed:
request headers within request_header_timeout_s however slowly they trickle in (slowloris), a cap on
connections (503), and at most max_requests_per_key requests and open event streams per key (429)."""

from __future__ import annotations

import asyncio
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from services.core.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import worker_env
from tests.integration.test_api import new_company

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 3.0
PER_KEY = 3
READ_TIMEOUT_S = 2.0  # the body read timeout: event streams must outlive it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def api_process(settings: Settings, log_path: Path, **env: str) -> AsyncIterator[str]:
    """`crmio api` on a free port with these CRMIO_* settings; yields its base URL, stops it on exit."""
    port = _free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "api", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env={**worker_env(settings), **{f"CRMIO_{k.upper()}": v for k, v in env.items()}},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the API did not start; its log:\n{log_path.read_text()[-3000:]}")
                await asyncio.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest_asyncio.fixture(scope="module")
async def api_url(
    settings: Settings, pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    log = tmp_path_factory.mktemp("api") / "api.log"
    async with api_process(
        settings,
        log,
        request_header_timeout_s=str(HEADER_TIMEOUT_S),
        max_requests_per_key=str(PER_KEY),
        request_read_timeout_s=str(READ_TIMEOUT_S),
        sse_keepalive_s="0.5",
    ) as url:
        yield url


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def slowloris(
    url: str, *, interval_s: float = 1.0, first: bytes = b"", give_up_s: float = 30
) -> tuple[float, bytes]:
    """A client that sends ``first`` at once, then a request's headers one byte per ``interval_s`` and never
    ends them. Returns the seconds from its first byte until the server closed the connection, and what
    the server answered; gives up (returns ``give_up_s``) if the server holds on."""
    host, port = _host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    answer = b""
    started = time.monotonic()
    try:
        if first:
            writer.write(first)
            answer += await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 5)
            started = time.monotonic()  # the previous response ended: the next headers' deadline starts
        trickle = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000
        for byte in trickle:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                chunk = await asyncio.wait_for(reader.read(65536), interval_s)
            except TimeoutError:
                chunk = None  # the server is still waiting for more
            except ConnectionError:
                break
            if chunk is not None:
                answer += chunk
                if not chunk:
                    break  # closed by the server
                try:
                    answer += await asyncio.wait_for(reader.read(), 5)
                except ConnectionError:
                    pass  # the server closes with our unread bytes in its buffer, so the rest may end in a reset
                break
            if time.monotonic() - started > give_up_s:
                return give_up_s, answer
        return time.monotonic() - started, answer
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def _healthz_latencies(url: str, stop: asyncio.Event) -> list[float]:
    out: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            r = await client.get("/healthz")
            out.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
            await asyncio.sleep(0.05)
    return out


async def test_a_slowloris_client_is_cut_off_at_the_header_deadline(api_url: str) -> None:
    stop = asyncio.Event()
    latencies = asyncio.create_task(_healthz_latencies(api_url, stop))
    try:
        took, answer = await slowloris(api_url)
        # Keep-alive: after a response, the next request's headers get the same deadline from its end.
        again, answer_again = await slowloris(api_url, first=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        stop.set()
        seen = await latencies
    for seconds, body in ((took, answer), (again, answer_again)):
        assert HEADER_TIMEOUT_S - 0.5 <= seconds <= HEADER_TIMEOUT_S + 1.5, seconds
        assert b"408 Request Timeout" in body and b"connection: close" in body, body
        assert b"request headers did not arrive within 3 s" in body and b"x-frame-options: DENY" in body
    # Another client is served promptly all along.
    assert len(seen) > 20 and max(seen) < 0.5, (len(seen), max(seen))
    print(f"\nslowloris cut off after {took:.2f} s (deadline {HEADER_TIMEOUT_S:g} s); keep-alive {again:.2f} s")


async def test_200_slowloris_connections_leave_healthz_prompt_and_are_all_cut_off(api_url: str) -> None:
    stop = asyncio.Event()
    latencies = asyncio.create_task(_healthz_latencies(api_url, stop))
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(slowloris(api_url) for _ in range(200)))
        all_closed = time.monotonic() - started
    finally:
        stop.set()
        seen = await latencies
    took = sorted(seconds for seconds, _ in results)
    assert all(b"408 Request Timeout" in body for _, body in results)
    assert took[-1] <= HEADER_TIMEOUT_S + 1.5, took[-10:]
    p50, p99 = statistics.median(seen), statistics.quantiles(seen, n=100, method="inclusive")[98]
    assert p99 < 0.25 and max(seen) < 0.5, (p50, p99, max(seen))
    print(
        f"\n200 slowloris connections: cut off after {took[0]:.2f}-{took[-1]:.2f} s (all gone {all_closed:.2f} s); "
        f"/healthz meanwhile ({len(seen)} requests) p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {max(seen) * 1000:.1f} ms"
    )


async def test_past_the_connection_cap_new_requests_get_503_until_idle_connections_are_cut_off(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with api_process(
        settings, tmp_path / "api.log", api_max_connections="10", request_header_timeout_s=str(HEADER_TIMEOUT_S)
    ) as url:
        host, port = _host_port(url)
        idle = [await asyncio.open_connection(host, port) for _ in range(10)]  # they send nothing at all
        try:
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                full = await client.get("/healthz")
                assert full.status_code == 503, full.text
                # The idle connections are cut off at the header deadline: the server serves again.
                for reader, _ in idle:
                    assert b"408 Request Timeout" in await asyncio.wait_for(reader.read(), HEADER_TIMEOUT_S + 2)
                assert (await client.get("/healthz")).status_code == 200
        finally:
            for _, writer in idle:
                writer.close()
                try:
                    await writer.wait_closed()
                except ConnectionError:
                    pass


async def test_one_key_holds_at_most_n_requests_and_another_key_is_served(api_url: str, pool: asyncpg.Pool) -> None:
    a, b = await new_company(pool), await new_company(pool)
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client, AsyncExitStack() as streams:
        for _ in range(PER_KEY):
            stream = await streams.enter_async_context(client.stream("GET", "/api/v1/events", headers=a.auth()))
            assert stream.status_code == 200
        # The streams stay open past the body read timeout (before, the middleware ended every stream once
        # it had waited that long for the client to go away) and hold their slots.
        await asyncio.sleep(READ_TIMEOUT_S + 1)
        refused = await client.get("/api/v1/jobs", headers=a.auth())
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        error = refused.json()
        assert error["code"] == "TooManyRequests"
        assert f"already has {PER_KEY} requests or event streams open" in error["detail"]
        assert "close an event stream" in error["detail"]
        assert refused.headers["x-content-type-options"] == "nosniff"
        # The same company's other key, and another company's key, are served, streams included.
        assert (await client.get("/api/v1/jobs", headers=a.auth("member"))).status_code == 200
        assert (await client.get("/api/v1/jobs", headers=b.auth())).status_code == 200
        async with client.stream("GET", "/api/v1/events", headers=b.auth()) as other:
            assert other.status_code == 200
        assert (await client.get("/healthz")).status_code == 200  # no key: not counted

        # Closing the streams frees the slots.
        await streams.aclose()
        closed_at = time.monotonic()
        deadline = closed_at + 5
        while (status := (await client.get("/api/v1/jobs", headers=a.auth())).status_code) == 429:
            assert time.monotonic() < deadline, "closed streams still hold their key's slots after 5 s"
            await asyncio.sleep(0.1)
        assert status == 200
        print(f"\na key's slots free {(time.monotonic() - closed_at) * 1000:.0f} ms after its streams closed")
        # All of them: PER_KEY streams of that key open again.
        async with AsyncExitStack() as again:
            for _ in range(PER_KEY):
                s = await again.enter_async_context(client.stream("GET", "/api/v1/events", headers=a.auth()))
                assert s.status_code == 200
