"""Prometheus metrics: request latency (middleware), jobs by status, records/s and consumer lag (read at scrape time)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.settings import Settings
from services.jobs import repository as jobs
from services.jobs.repository import JOB_STATUSES

__all__ = ["Metrics", "LatencyMiddleware"]

log = logging.getLogger(__name__)


class Metrics:
    """One registry per app, so several apps in one process (tests) never clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "crmio_http_request_duration_seconds",
            "HTTP request latency, to the end of the response body",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.jobs = Gauge(
            "crmio_jobs", "Jobs by type and status (all companies)", ["job_type", "job_status"], registry=self.registry
        )
        self.rate = Gauge(
            "crmio_records_per_second",
            "Records per second summed over running jobs",
            ["job_type"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "crmio_consumer_lag",
            "Messages the worker group has not committed yet, per topic",
            ["topic"],
            registry=self.registry,
        )

    async def refresh(
        self, settings: Settings, pool: asyncpg.Pool, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer | None
    ) -> None:
        """Read the current figures from PostgreSQL (and Kafka offsets for the lag)."""
        async with pool.acquire() as conn:
            counts = await jobs.job_counts(conn)
            rates = await jobs.running_rates(conn)
        for job_type in ("import", "export"):
            for status in JOB_STATUSES:
                self.jobs.labels(job_type, status).set(0)
            self.rate.labels(job_type).set(0)
        for r in counts:
            self.jobs.labels(r["job_type"], r["job_status"]).set(r["n"])
        for r in rates:
            self.rate.labels(r["job_type"]).set(float(r["r"]))
        if consumer is not None:
            try:
                await asyncio.wait_for(self._refresh_lag(settings, admin, consumer), settings.api_probe_timeout_s)
            except Exception as exc:  # noqa: BLE001 - lag is best effort; the other figures still count
                log.warning("consumer lag unavailable: %s: %s", type(exc).__name__, exc)

    async def _refresh_lag(self, settings: Settings, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
        # The Faust worker's consumer group is named after the app id; lag = end offset - committed offset.
        committed = await admin.list_consumer_group_offsets(settings.app_id)
        mine = {tp: meta.offset for tp, meta in committed.items() if tp.topic.startswith(settings.topic_prefix + ".")}
        ends = await consumer.end_offsets(list(mine)) if mine else {}
        per_topic: dict[str, int] = {}
        for tp, offset in mine.items():
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(ends.get(tp, offset) - max(offset, 0), 0)
        for topic, lag in per_topic.items():
            self.lag.labels(topic).set(lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LatencyMiddleware:
    """Times every HTTP request by its route template (never the raw path: ids would explode the labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], name, str(status["code"])).observe(
                time.perf_counter() - started
            )
