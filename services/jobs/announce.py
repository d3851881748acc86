"""Announcing a new job: its request on crm.jobs.requests and its 'pending' status on crm.jobs.status."""

from __future__ import annotations

import time

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas import events
from schemas.topics import JOB_REQUESTS, JOB_STATUS
from services.core.kafka_io import publish
from services.core.settings import Settings

__all__ = ["announce_job"]


async def announce_job(producer: AIOKafkaProducer, settings: Settings, row: asyncpg.Record) -> None:
    """Request the job just recorded (``row``) and report it pending; admission starts it."""
    now = int(time.time() * 1000)
    job_id = str(row["id"])
    await publish(producer, settings, JOB_REQUESTS, job_id, events.job_request(row, requested_at=now))
    await publish(producer, settings, JOB_STATUS, job_id, events.job_status(row, "pending", at=now))
