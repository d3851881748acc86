"""Faust tables: job progress per job id, co-partitioned with crm.import.results."""

from __future__ import annotations

import faust

from schemas.topics import JOB_PROGRESS_TABLE
from streams import codecs
from streams.app import app, settings

__all__ = ["job_progress"]

# Values are schemas.progress.JobProgress; reassign after every change (t[k] = v) so the changelog sees it.
job_progress = app.Table(
    JOB_PROGRESS_TABLE,
    default=None,
    partitions=settings.job_partitions,
    extra_topic_configs={"min.insync.replicas": str(settings.kafka_min_insync_replicas)},
    schema=faust.Schema(key_type=str, key_serializer="json", value_serializer=codecs.JOB_PROGRESS),
)
