"""The worker's own HTTP server: /healthz, /readyz and Prometheus /metrics on ``worker_http_port``.

A small aiohttp server (aiohttp comes with Faust) rather than Faust's web server: Faust's also serves its own
views (the router, table contents with ``web_tables_enabled``), picks its port differently, and cannot take a
free port and say which. This one serves three read-only paths, starts after the worker's runtime and stops
before it. It installs no signal handler, so Faust keeps SIGTERM and SIGINT.

- /healthz: 200 while the event loop answers (liveness).
- /readyz: 200 once the worker's runtime is open (database pools, producer) and the consumer group has given
  it an assignment at least once (it joined the group; the assignment may be empty when there are more
  workers than partitions); 503 before, or once the runtime closed, with what is missing.
- /metrics: services/core/worker_metrics.py, with each assigned partition's lag read from the broker now.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from faust.types import TP
from mode import Service

from services.core import worker_metrics
from streams.app import app, settings
from streams.runtime import worker_runtime

__all__ = ["WorkerHttp", "worker_http", "readiness"]

log = logging.getLogger(__name__)

_assigned_once = False


@app.on_partitions_assigned.connect
async def _on_assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
    global _assigned_once
    _assigned_once = True
    worker_metrics.rebalanced()


def readiness() -> dict[str, Any]:
    """What /readyz reports: ready, and each condition."""
    runtime_open = worker_runtime.is_open
    checks = {
        "runtime": "ok" if runtime_open else "the database pools and Kafka producer are not open yet",
        "group": "ok" if _assigned_once else "no partition assignment received from the consumer group yet",
    }
    assigned = len(app.consumer.assignment()) if _assigned_once else 0
    return {
        "ready": all(v == "ok" for v in checks.values()),
        "checks": checks,
        "assigned_partitions": assigned,
        "rebalancing": bool(app.rebalancing),
    }


async def _lag() -> dict[tuple[str, int], int]:
    """end offset - committed offset of every partition assigned to this worker (nothing committed yet: from 0)."""
    consumer = app.consumer
    assigned = consumer.assignment()
    if not assigned:
        return {}
    ends = await consumer.highwaters(*assigned)
    committed = consumer._committed_offset  # Faust keeps what it committed (and read back on assignment)
    return {(tp.topic, tp.partition): max(end - (committed.get(tp) or 0), 0) for tp, end in ends.items()}


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    state = readiness()
    return web.json_response(
        {"status": "ready" if state["ready"] else "not ready", **state}, status=200 if state["ready"] else 503
    )


async def _metrics(request: web.Request) -> web.Response:
    try:
        worker_metrics.set_lag(await asyncio.wait_for(_lag(), settings.api_probe_timeout_s))
    except Exception as exc:  # noqa: BLE001 - lag is best effort (a rebalance, the broker away); the rest counts
        log.warning("consumer lag unavailable for /metrics: %s: %s", type(exc).__name__, exc)
    return web.Response(
        body=worker_metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


class WorkerHttp(Service):
    """Serves the three paths on ``worker_http_host``:``worker_http_port`` (0: a free port, logged)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def on_start(self) -> None:
        if settings.worker_http_port is None:
            return
        web_app = web.Application()
        web_app.router.add_get("/healthz", _healthz)
        web_app.router.add_get("/readyz", _readyz)
        web_app.router.add_get("/metrics", _metrics)
        self._runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.worker_http_host, settings.worker_http_port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(
                f"the worker's HTTP server cannot listen on {settings.worker_http_host}:{settings.worker_http_port} "
                f"({exc.strerror}): set CRMIO_WORKER_HTTP_PORT to a free port, 0 for any free port, or unset it"
            ) from exc
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else settings.worker_http_port
        log.info(
            "worker HTTP server on http://%s:%d (/healthz, /readyz, /metrics)", settings.worker_http_host, self.port
        )

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


worker_http = WorkerHttp()
# After the runtime (streams/runtime.py added it first): started after it, stopped before it.
app.add_dependency(worker_http)
