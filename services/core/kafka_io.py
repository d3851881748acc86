"""Plain aiokafka access for processes that are not Faust workers (CLI, API, tests): topics and producing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas import avro
from schemas.topics import JOB_PROGRESS_TABLE, TOPICS, TopicSpec, changelog_topic
from services.core.errors import StackError
from services.core.kafka_security import client_options, unreachable
from services.core.settings import Settings

__all__ = ["ensure_topics", "producer", "publish", "partitions_of", "topic_configs"]


def partitions_of(settings: Settings, spec: TopicSpec) -> int:
    return settings.record_partitions if spec.partitions == "records" else settings.job_partitions


async def ensure_topics(settings: Settings) -> list[str]:
    """Create crmio's topics that do not exist yet (compacted where declared); returns those created."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise StackError(unreachable(settings)) from exc
    try:
        existing = set(await admin.list_topics())
        specs = [(settings.topic(spec.name), partitions_of(settings, spec), spec.compacted) for spec in TOPICS] + [
            (changelog_topic(settings.app_id, JOB_PROGRESS_TABLE), settings.job_partitions, True)
        ]
        wanted = [
            NewTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=settings.kafka_replication_factor,
                topic_configs=topic_configs(settings, compacted=compacted),
            )
            for name, partitions, compacted in specs
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them first
        return [t.name for t in wanted]
    finally:
        await admin.close()


def topic_configs(settings: Settings, *, compacted: bool) -> dict[str, str]:
    """A topic's configs: with acks=all, a write succeeds once min.insync.replicas replicas have it."""
    configs = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    if compacted:
        configs["cleanup.policy"] = "compact"
    return configs


@asynccontextmanager
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    try:
        await asyncio.wait_for(p.start(), timeout=30)
    except (TimeoutError, KafkaConnectionError) as exc:
        await p.stop()
        raise StackError(unreachable(settings)) from exc
    try:
        yield p
    finally:
        await p.stop()


async def publish(p: AIOKafkaProducer, settings: Settings, spec: TopicSpec, key: str, value: Mapping[str, Any]) -> None:
    """Send one Avro event and wait until the broker has it."""
    await p.send_and_wait(settings.topic(spec.name), avro.encode(spec.schema, value), key=key.encode())
