"""Every Kafka topic of crmio, declared once: logical name, value schema, key, partitions, cleanup.

streams/topics.py binds these to the Faust app; the CLI and API producers and the migration
command (which creates the topics) read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "TopicSpec",
    "TOPICS",
    "JOB_REQUESTS",
    "IMPORT_RECORDS",
    "IMPORT_RESULTS",
    "JOB_STATUS",
    "JOB_PROGRESS_TABLE",
    "changelog_topic",
]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str  # logical name; the full name is "<prefix>.<name>"
    schema: str  # Avro schema name in schemas/avro
    key: str  # what the key holds
    partitions: Literal["jobs", "records"]  # which partition-count setting applies
    compacted: bool = False
    # Handled strictly in offset order, none passed over (services/apply/partition_order.py).
    ordered: bool = False


JOB_REQUESTS = TopicSpec("jobs.requests", "job_request", "job id", "jobs", ordered=True)
# Keyed by the duplicate-match key of the run's rows: every row that could duplicate another
# lands on one partition, in file order.
IMPORT_RECORDS = TopicSpec("import.records", "record_batch", "duplicate-match partition", "records", ordered=True)
# Same partition count as the aggregator table's changelog (Faust requires co-partitioning).
IMPORT_RESULTS = TopicSpec("import.results", "import_result", "job id", "jobs")
JOB_STATUS = TopicSpec("jobs.status", "job_status", "job id", "jobs", compacted=True)

TOPICS: tuple[TopicSpec, ...] = (JOB_REQUESTS, IMPORT_RECORDS, IMPORT_RESULTS, JOB_STATUS)

# The aggregator's table (streams/tables.py), co-partitioned with IMPORT_RESULTS. Faust names its changelog
# "<app id>-<table>-changelog"; crmio creates it with the topics (compacted), because on a cluster a broker may
# not know yet a topic Faust creates while it starts: Faust then reads 0 partitions and its agent crashes
# (PartitionsMismatch), seen on the local 3-broker cluster.
JOB_PROGRESS_TABLE = "job-progress"


def changelog_topic(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"
