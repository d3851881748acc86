"""The one typed, frozen settings object. The environment (CRMIO_*) is read here and nowhere else."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A checkout (pyproject.toml beside the packages) keeps its state in var/ as before; an installed package
# (a wheel in a venv or an image) has no folder of its own to write in, so its state and files default to
# the user's state directory. Deployments set CRMIO_STATE_DIR and CRMIO_STORAGE_DIR.
_DEFAULT_STATE_DIR = (
    PROJECT_ROOT / "var" if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.home() / ".local" / "state" / "crmio"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMIO_", frozen=True, extra="ignore", populate_by_name=True)

    # --- infrastructure -------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Every topic crmio creates (and Faust's changelog) gets these; a cluster of three brokers takes 3 and 2, so
    # that acks=all survives one broker down. One broker: 1 and 1.
    kafka_replication_factor: int = 1
    kafka_min_insync_replicas: int = 1
    # How every Kafka client (Faust, producers, consumers, admin) connects: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT
    # or SASL_SSL, the SASL mechanism and user, and TLS files (PEM): the CA that signed the brokers' certificates
    # (unset: the system's CAs), a client certificate and key only where the brokers ask for one (mutual TLS).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True
    # Brokers `crmio stack up` runs locally (KRaft, each broker also a controller): 1, or 3 for a cluster
    # (`--brokers 3`: ports bootstrap, +2, +4, controllers one above each), each with kafka_cluster_heap.
    kafka_brokers: int = 1
    kafka_cluster_heap: str = "-Xms128m -Xmx384m"
    # The service's role: row-level security scopes it to the company of each transaction.
    database_url: SecretStr = SecretStr("postgresql://crmio_app:crmio_app@127.0.0.1:55432/crmio")
    # The owner (BYPASSRLS): migrations and the cross-company tasks (admission, schedules,
    # retention, API-key lookup, metrics, operator commands).
    system_database_url: SecretStr = SecretStr("postgresql://crmio:crmio@127.0.0.1:55432/crmio")
    # Where the local stack keeps its state (PostgreSQL cluster, Kafka data, logs, pid files).
    state_dir: Path = _DEFAULT_STATE_DIR
    # Uploaded and exported files live here, one folder per company.
    storage_dir: Path = _DEFAULT_STATE_DIR / "storage"
    # Resolved Kafka jars are cached here across clones.
    cache_dir: Path = Path.home() / ".cache" / "crmio"
    # A Confluent-compatible schema registry (Confluent's, Apicurio's /apis/ccompat/v7, Karapace): when set, each
    # process registers crmio's schemas under "<topic>-value" (FULL_TRANSITIVE) and frames events with the
    # registry's ids (services/core/schema_registry.py); unset, the static ids of schemas/avro.py.
    schema_registry_url: str | None = None
    # "key:secret" where the registry asks for HTTP basic auth (Confluent Cloud: an API key and its secret).
    schema_registry_basic_auth: SecretStr | None = None
    schema_registry_timeout_s: float = 5.0
    kafka_version: str = "3.9.1"
    kafka_heap: str = "-Xms256m -Xmx768m"
    stack_start_timeout_s: float = 120.0

    # Where uploaded and exported files live (docs/architecture.md, Storage): "local", the folder above that every
    # API process and worker shares; or "s3", one bucket of S3-compatible object storage (AWS S3, MinIO, Ceph,
    # GCS interoperability; `crmio stack up --s3` runs S3Proxy locally), each process with a local folder of its own.
    storage_backend: Literal["local", "s3"] = "local"
    # None: AWS S3 itself (the region's endpoint); else the server's URL, e.g. http://127.0.0.1:9000.
    s3_endpoint_url: str | None = None
    s3_bucket: str = "crmio"
    s3_region: str = "us-east-1"
    # None: boto3's own chain (AWS_* variables, a profile, an instance or pod role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # The bucket in the URL's path, not its host name: S3Proxy, MinIO and Ceph usually need it.
    s3_path_style: bool = False
    # Every key starts with it ("" or ending in "/"): several deployments or test sessions in one bucket.
    s3_prefix: str = ""
    # Files larger than the threshold go up in parts of this size (parallel; an aborted upload leaves nothing).
    s3_multipart_threshold_bytes: int = 16 * 1024 * 1024
    s3_multipart_part_bytes: int = 8 * 1024 * 1024
    s3_connect_timeout_s: float = 5.0
    s3_read_timeout_s: float = 60.0
    s3_max_attempts: int = 3
    # The local S3Proxy of `crmio stack up --s3` (Maven Central's org.gaul:s3proxy, Java 17).
    s3proxy_version: str = "4.1.0"
    s3proxy_heap: str = "-Xms64m -Xmx256m"
    # Local scratch files with the s3 backend: uploads as they arrive, exports as they are written, a .xls, .ods
    # or .xlsb spilled for its reader. Each is removed when done; a dead process's are swept as processes start.
    scratch_dir: Path = Path(tempfile.gettempdir()) / "crmio-scratch"

    # --- Faust worker ---------------------------------------------------------------------
    app_id: str = "crmio"
    # Prefix of every topic name; tests use a unique one per session.
    topic_prefix: str = "crm"
    record_partitions: int = 6
    job_partitions: int = 3
    worker_store: str = "memory://"
    worker_log_level: str = "info"
    # How long the group waits for a silent worker before its partitions go to the others; heartbeats go at a
    # tenth of it. A killed worker's rows stall about this long (docs/reliability.md): 6 s is the brokers' least
    # (group.min.session.timeout.ms); Faust's 60 s stalled them a minute. The worker's loop is never held that long.
    worker_session_timeout_s: float = 6.0
    db_pool_min: int = 1
    db_pool_max: int = 6
    # The worker's own HTTP server, /healthz, /readyz and Prometheus /metrics (streams/observability.py): off
    # when unset; 0 takes a free port and logs it, so several workers on one machine never collide (tests,
    # `make demo`); a fixed port where each worker has its own address (the Helm chart: 9102).
    worker_http_port: int | None = None
    worker_http_host: str = "127.0.0.1"
    # "text": the usual lines; "json": one JSON object a line with job_id, company_id and partition where the
    # work has them (services/core/logs.py), for the worker and the API.
    log_format: Literal["text", "json"] = "text"

    # --- pipeline tuning -----------------------------------------------------------------
    # Rows carried by one record event (a run of consecutive rows bound for one partition).
    rows_per_event: int = 500
    # ... and at most this many bytes of values: under the broker's message.max.bytes (1 MiB by default,
    # on managed clusters too), whatever the rows hold (services.ingest.splitter).
    max_event_bytes: int = 768 * 1024
    # Rows an import's split may send ahead of the rows its job has applied: another company's rows wait
    # behind at most these in the shared record partitions (services.ingest.split_process).
    split_ahead_rows: int = 50_000
    # Seconds a split waits for the broker to acknowledge what it sent before it gives up and the worker splits
    # again with a new producer: longer than the client's own request timeout (40 s), so a broker's error comes
    # first; it bounds a producer that stops sending for good (services.ingest.split_process).
    split_ack_timeout_s: float = 90.0
    # Record events applied together in one PostgreSQL transaction.
    events_per_batch: int = 16
    batch_within_s: float = 0.2
    # Transactions a worker runs at once, each for its own record partitions (see LaneApplier).
    apply_lanes: int = 2
    status_interval_s: float = 0.5

    # --- limits --------------------------------------------------------------------------
    max_file_bytes: int = 1024 * 1024 * 1024
    max_rows: int = 5_000_000
    max_columns: int = 500
    max_field_bytes: int = 128 * 1024
    max_uncompressed_bytes: int = 4 * 1024 * 1024 * 1024
    # Admission: running jobs per company (crm_company_settings may override) and in total;
    # more wait as pending, first in first out. max_running_jobs is the name the API, the CLI
    # (`crmio limits set --max-running-jobs`) and the company settings use; the environment takes
    # CRMIO_MAX_RUNNING_JOBS or, as before, CRMIO_MAX_CONCURRENT_JOBS_PER_COMPANY.
    max_running_jobs: int = Field(
        default=2, validation_alias=AliasChoices("CRMIO_MAX_RUNNING_JOBS", "CRMIO_MAX_CONCURRENT_JOBS_PER_COMPANY")
    )
    max_running_jobs_total: int = 8
    # Bytes a company may keep in storage (uploads, job files, export files; a file named by several
    # jobs counts once); crm_company_settings may override (`crmio limits set --max-storage-bytes`).
    max_storage_bytes: int = 20 * 1024 * 1024 * 1024
    # Retention: job rows (with their ledger) and, separately, logs, uploads and job files.
    job_retention_days: int = 90
    log_retention_days: int = 30

    # --- job control timers (every worker runs them; row locks make each action happen once) ---
    admission_interval_s: float = 1.0
    schedule_interval_s: float = 1.0
    retention_check_interval_s: float = 600.0
    # A running import whose file was read whole but whose rows stopped arriving this long is started again
    # (services.jobs.admission.resume_stalled); so is a job whose runner's heartbeat is runner_stale_s old: its
    # worker died (SIGKILL, OOM), and the rows it had yet to read would otherwise wait (issue 16: 30 s before).
    stall_resume_s: float = 30.0
    runner_stale_s: float = 5.0
    # The shortest time between two slots of a schedule: every slot is a job (issue 17).
    schedule_min_interval_s: float = 60.0
    # Admitted jobs one worker runs at once (splits, exports, rollbacks; one company at most all but
    # one of them, services.jobs.dispatch.JobSlots), and how often each touches its heartbeat.
    worker_job_slots: int = 3
    job_heartbeat_s: float = 1.0
    # A record or job-request partition whose next event arrived after a gap is sought back to the gap,
    # and again this often while it stays open: a seek can be overtaken by messages already fetched; one
    # whose log ends past its handled offset with nothing moving this long is read again from there
    # (services.apply.partition_order).
    reread_missing_every_s: float = 1.0
    stalled_partition_s: float = 5.0
    # Rows a rollback reverts per transaction.
    rollback_chunk_rows: int = 2_000

    # Company the CLI acts for when --company is not given.
    company_id: str | None = None

    # --- behaviour defaults ---------------------------------------------------------------
    default_phone_region: str = "US"
    default_date_order: Literal["DMY", "MDY"] = "MDY"

    # --- api ---
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Rows shown by an upload's inspection and, at most, by a preview.
    preview_rows: int = 20
    preview_rows_max: int = 200
    # The preview's distinct values of each choice column: rows read at most, values listed at most.
    value_scan_rows: int = 500_000
    value_scan_distinct: int = 1000
    # Rows an upload's inspection counts exactly; beyond it the count is an estimate.
    upload_count_rows_max: int = 100_000
    api_page_size_max: int = 500
    # Server-sent events: how often a connection polls the job rows, and a keep-alive comment.
    sse_poll_interval_s: float = 0.5
    # The largest JSON request body, and the longest wait for the next part of any request body.
    max_json_body_bytes: int = 1_048_576
    request_read_timeout_s: float = 30.0
    # Connections (issue 17; services/api/server.py, services/api/guards.py): a request's headers must all
    # arrive within request_header_timeout_s of the connection opening (or of the previous response), or
    # the connection gets a 408 and is closed; past api_max_connections connections or requests at once, new
    # requests get a 503; one API key holds at most max_requests_per_key requests and open event streams
    # at once (more get a 429 with Retry-After).
    request_header_timeout_s: float = 10.0
    api_max_connections: int = 1000
    max_requests_per_key: int = 16
    sse_keepalive_s: float = 15.0
    # How long /readyz and the metrics' Kafka queries wait for an answer.
    api_probe_timeout_s: float = 3.0
    # Idempotency-Key on creating POSTs (services/api/idempotency.py): how long a company's key is remembered,
    # and how long a first request may stay unanswered before a repeat takes its key over (its process died).
    idempotency_key_retention_s: float = 86_400.0
    idempotency_in_progress_s: float = 300.0

    # --- exports ---
    # Rows a PDF export may hold; more is refused with a clear error (a PDF is read, not processed).
    pdf_max_rows: int = 100_000
    # Rows fetched from the server-side cursor and handed to the writer thread at a time.
    export_chunk_rows: int = 5_000

    def dsn(self) -> str:
        return self.database_url.get_secret_value()

    def system_dsn(self) -> str:
        return self.system_database_url.get_secret_value()

    def topic(self, name: str) -> str:
        """Full topic name for a logical name such as ``import.records``."""
        return f"{self.topic_prefix}.{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
