"""The worker's Prometheus metrics: one registry per process, recorded by the few places that know each figure
(the apply step, the job slots, the stall checks, the Faust wiring) through the functions below, and served
by the worker's own HTTP server (streams/observability.py). The API's figures are services/api/metrics.py."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "REGISTRY",
    "StallKind",
    "batch_applied",
    "job_started",
    "job_ended",
    "stalled",
    "rebalanced",
    "set_lag",
    "render",
]

# Its own registry, not the default one: the worker's series only, without the client library's process
# collectors listed twice if a test process also builds an API app.
REGISTRY = CollectorRegistry()

ROWS = Counter(
    "crmio_worker_rows_applied",
    "Rows this worker applied, by outcome (created, updated, skipped, failed; replayed: already in the ledger)",
    ["outcome"],
    registry=REGISTRY,
)
BATCHES = Counter(
    "crmio_worker_batches", "Apply transactions (one per job and batch of record events)", registry=REGISTRY
)
APPLY_SECONDS = Histogram(
    "crmio_worker_apply_seconds",
    "Time to apply one job's rows of a batch: cleansed rows to committed transaction, retries included",
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LAG = Gauge(
    "crmio_worker_consumer_lag",
    "Events of a partition assigned to this worker that it has not committed yet (read at scrape time)",
    ["topic", "partition"],
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge(
    "crmio_worker_jobs_running",
    "Jobs (splits, exports, rollbacks) holding one of this worker's job slots",
    registry=REGISTRY,
)
StallKind = Literal["job_restarted", "partition_gap", "partition_stalled"]
STALLS = Counter(
    "crmio_worker_stalls",
    "Stalls this worker handled: a job started again (stale heartbeat or rows stopped arriving), a partition "
    "read again after a gap, or one whose last events were passed over",
    ["kind"],
    registry=REGISTRY,
)
REBALANCES = Counter(
    "crmio_worker_rebalances",
    "Consumer group rebalances this worker took part in (its first join included)",
    registry=REGISTRY,
)


def batch_applied(seconds: float, numbers: Sequence[int], outcomes: Sequence[str], replayed: Sequence[int]) -> None:
    """One job's batch committed in ``seconds``: its rows by outcome, those already in the ledger as replayed."""
    tally = Tally(outcomes)
    if replayed:  # rare (a redelivery): only then is each row looked at
        again = set(replayed)
        for number, outcome in zip(numbers, outcomes):
            if number in again:
                tally[outcome] -= 1
        tally["replayed"] = len(again)
    for outcome, n in tally.items():
        if n > 0:
            ROWS.labels(outcome).inc(n)
    BATCHES.inc()
    APPLY_SECONDS.observe(seconds)


def job_started() -> None:
    JOBS_RUNNING.inc()


def job_ended() -> None:
    JOBS_RUNNING.dec()


def stalled(kind: StallKind, n: int = 1) -> None:
    STALLS.labels(kind).inc(n)


def rebalanced() -> None:
    REBALANCES.inc()


def set_lag(lags: dict[tuple[str, int], int]) -> None:
    """The lag of each assigned partition; partitions no longer assigned leave the series."""
    LAG.clear()
    for (topic, partition), lag in lags.items():
        LAG.labels(topic, str(partition)).set(lag)


def render() -> bytes:
    return generate_latest(REGISTRY)
