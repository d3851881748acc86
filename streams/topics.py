"""Faust bindings of the topics declared in schemas/topics.py: the data-flow map of crmio.

crm.jobs.requests --(split)--> crm.import.records --(validate+apply)--> crm.import.results
    --(aggregate)--> crm.jobs.status (compacted)
"""

from __future__ import annotations

from faust import TopicT

from schemas.topics import IMPORT_RECORDS, IMPORT_RESULTS, JOB_REQUESTS, JOB_STATUS, TopicSpec
from streams.app import app, settings
from streams.codecs import codec_name

__all__ = ["job_requests", "import_records", "import_results", "job_status"]


def _bind(spec: TopicSpec) -> TopicT:
    return app.topic(
        settings.topic(spec.name),
        partitions=settings.record_partitions if spec.partitions == "records" else settings.job_partitions,
        key_serializer="raw",
        value_serializer=codec_name(spec.schema),
        compacting=spec.compacted or None,
        replicas=settings.kafka_replication_factor,
        config={"min.insync.replicas": str(settings.kafka_min_insync_replicas)},
    )


job_requests = _bind(JOB_REQUESTS)
import_records = _bind(IMPORT_RECORDS)
import_results = _bind(IMPORT_RESULTS)
job_status = _bind(JOB_STATUS)
