"""Agent on crm.jobs.requests: split each import's file into record-batch events; run each export."""

from __future__ import annotations

import logging
from typing import Any

from faust import StreamT

from services import split_process
from services.exports import run_export_request
from services.pipeline import run_import_request
from streams.app import app
from streams.resources import resources
from streams.topics import import_results, job_requests, job_status


log = logging.getLogger(__name__)


async def _send_result(event: dict[str, Any]) -> None:
    await import_results.send(key=event["job_id"].encode(), value=event)


async def _send_status(event: dict[str, Any]) -> None:
    await job_status.send(key=event["job_id"].encode(), value=event)


@app.agent(job_requests)
async def handle_job_requests(stream: StreamT) -> None:
    await split_process.warm_up()
    async for request in stream:
        try:
            if request["job_type"] == "import":
                await run_import_request(await resources(), request, _send_result)
            elif request["job_type"] == "export":
                await run_export_request(await resources(), request, _send_status)
        except Exception:  # noqa: BLE001 - a malformed request from another system; the agent stays up
            log.exception("job request %s could not be handled; dropped", request.get("job_id"))
