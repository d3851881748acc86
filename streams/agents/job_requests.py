"""Agent on crm.jobs.requests: a new request becomes a pending job and is admitted when a slot is free;
a start request (from admission) runs the import's split, the export, or the rollback in the background
(services.jobs.dispatch.JobSlots), so the agent goes on with the next request at once. Requests are handled
in offset order per partition, none passed over and none twice (streams/ordering.py).

The worker's job-control timers live here too: admission (a freed slot is taken within a second),
schedules (each slot fires once, whichever worker sees it first) and the daily retention purge.
"""

from __future__ import annotations

import logging
from typing import Any

from faust import StreamT

from services.apply import partition_order
from services.core import worker_metrics
from services.core.db import is_transient
from services.core.logs import log_context
from services.ingest import split_process
from services.jobs.dispatch import JobSlots, admit, handle_request
from streams.app import app, settings
from streams.codecs import Undecodable, decoded
from streams.ordering import Guard, position
from streams.runtime import worker_runtime
from streams.topics import job_requests

log = logging.getLogger(__name__)


def _timer_failed(what: str, exc: Exception) -> None:
    """A database or broker restarting is expected and retried by the next tick: one line, not a traceback."""
    if is_transient(exc):
        log.warning("%s failed for now (%s: %s); the next tick tries again", what, type(exc).__name__, exc)
    else:
        log.exception("%s failed", what)


GUARD = Guard(job_requests, replays=False)  # a start request handled twice would run its job twice


@app.agent(job_requests)
async def handle_job_requests(stream: StreamT) -> None:
    GUARD.restart()
    await split_process.warm_up(settings)
    slots = JobSlots(settings.worker_job_slots)
    try:
        async for event in stream.events():  # each acknowledged when the next one is asked for
            if not (await GUARD.admitted([event]))[0]:
                continue
            request = event.value
            ids = request if isinstance(request, dict) else {}
            with log_context(job_id=ids.get("job_id"), company_id=ids.get("company_id"), partition=position(event)[1]):
                await _handle(request, slots)
            await partition_order.advance(worker_runtime.runtime.system, [position(event)])
    finally:
        slots.cancel()  # their heartbeats stop: another worker starts those jobs again


async def _handle(value: dict[str, Any] | Undecodable, slots: JobSlots) -> None:
    request = await decoded(value)
    if isinstance(request, Undecodable):
        log.error("dropped a job request that is not %s Avro (%s)", request.schema, request.error)
        return
    try:
        await handle_request(worker_runtime.runtime, request, worker_runtime.senders, slots)
    except Exception:  # noqa: BLE001 - a malformed request from another system; the agent stays up
        log.exception("job request %s could not be handled; dropped", request.get("job_id"))


@app.timer(interval=settings.admission_interval_s)
async def admission_timer() -> None:
    try:
        await admit(worker_runtime.runtime, worker_runtime.senders)
    except Exception as exc:  # noqa: BLE001 - the next tick tries again; a timer that raises stops the worker
        _timer_failed("admission pass", exc)


@app.timer(interval=max(1.0, min(settings.stall_resume_s, settings.runner_stale_s) / 5))
async def stalled_jobs_timer() -> None:
    from services.jobs.admission import resume_stalled

    try:
        resumed = await resume_stalled(worker_runtime.runtime.system, settings, worker_runtime.senders.request)
        if resumed:
            worker_metrics.stalled("job_restarted", len(resumed))
            log.warning("started %d stalled job(s) again: %s", len(resumed), ", ".join(resumed))
    except Exception as exc:  # noqa: BLE001
        _timer_failed("resuming stalled jobs", exc)


@app.timer(interval=settings.schedule_interval_s)
async def schedule_timer() -> None:
    from services.jobs.schedules import fire_due

    try:
        await fire_due(worker_runtime.runtime.system, settings)
    except Exception as exc:  # noqa: BLE001
        _timer_failed("firing due schedules", exc)


@app.timer(interval=settings.retention_check_interval_s)
async def retention_timer() -> None:
    from services.jobs.retention import purge_if_due

    try:
        await purge_if_due(worker_runtime.runtime.system, settings)
    except Exception as exc:  # noqa: BLE001
        _timer_failed("retention purge", exc)
