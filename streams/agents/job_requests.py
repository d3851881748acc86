"""Agent on crm.jobs.requests: validate each import's file and split it into record-batch events."""

from __future__ import annotations

from typing import Any

from faust import StreamT

from services import split_process
from services.pipeline import run_import_request
from streams.app import app
from streams.resources import resources
from streams.topics import import_results, job_requests


async def _send_result(event: dict[str, Any]) -> None:
    await import_results.send(key=event["job_id"].encode(), value=event)


@app.agent(job_requests)
async def handle_job_requests(stream: StreamT) -> None:
    await split_process.warm_up()
    async for request in stream:
        if request["job_type"] == "import":
            await run_import_request(await resources(), request, _send_result)
