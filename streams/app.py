"""The Faust application object and its settings; agents and tables import it from here."""

from __future__ import annotations

import faust

from services.core import logs
from services.core.settings import get_settings
from streams import broker, codecs

__all__ = ["app", "settings"]

settings = get_settings()
codecs.register()

app = faust.App(
    settings.app_id,
    broker=broker.broker_urls(settings),
    broker_credentials=broker.credentials(settings),
    store=settings.worker_store,
    autodiscover=False,
    datadir=str(settings.state_dir / "faust" / settings.app_id),
    origin="streams",
    # Tables and their source topics share this partition count (co-partitioning).
    topic_partitions=settings.job_partitions,
    topic_replication_factor=settings.kafka_replication_factor,
    topic_allow_declare=True,
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    stream_wait_empty=False,
    producer_linger_ms=5,
    producer_max_request_size=4 * 1024 * 1024,
    # Memory stays flat in the file size only if the worker does not run far ahead: Faust
    # buffers up to this many decoded events per stream (default 4096 record batches: ~800 MB;
    # 128 keeps the worker busy and costs about 25 MB).
    stream_buffer_maxsize=128,
    consumer_max_fetch_size=2 * 1024 * 1024,
    broker_session_timeout=settings.worker_session_timeout_s,
    broker_heartbeat_interval=settings.worker_session_timeout_s / 10,
    logging_config=logs.logging_config(settings),  # CRMIO_LOG_FORMAT=json; None keeps Faust's own lines
)
