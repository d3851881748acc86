"""The worker's Runtime as a Faust service: opened before the agents start and closed after they stop.

It also holds the agents' collaborators that are not the Runtime: the per-job contexts and the senders of
outgoing events. An in-process test installs its own (``install``) and drives an agent with Faust's
``test_context``, without a broker.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from mode import Service

from services.apply.pipeline import JobContexts
from services.core.runtime import Runtime, open_runtime
from services.core.settings import Settings
from services.ingest import split_process
from services.jobs.dispatch import Senders
from streams.app import app, settings
from streams.topics import import_results, job_requests, job_status

__all__ = ["WorkerRuntime", "worker_runtime"]


async def _send_request(event: Any) -> None:
    # force: sent now and acknowledged by the broker, not attached to the current event's commit (a
    # rebalance can hold that back indefinitely, and admission must know the start request is out).
    await (await job_requests.send(key=event["job_id"].encode(), value=event, force=True))


async def _send_result(event: Any) -> None:
    await (await import_results.send(key=event["job_id"].encode(), value=event, force=True))


async def _send_status(event: Any) -> None:
    await (await job_status.send(key=event["job_id"].encode(), value=event, force=True))


class WorkerRuntime(Service):
    def __init__(self, settings: Settings, senders: Senders, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.senders = senders
        self._runtime: Runtime | None = None
        self._contexts: JobContexts | None = None
        self._stack: AsyncExitStack | None = None

    def install(self, runtime: Runtime, senders: Senders | None = None) -> None:
        """Use these collaborators instead of opening them (tests); the caller closes them."""
        self._runtime, self._contexts = runtime, JobContexts(runtime)
        if senders is not None:
            self.senders = senders

    async def on_start(self) -> None:
        if self._runtime is None:
            self._stack = AsyncExitStack()
            self._runtime = await self._stack.enter_async_context(open_runtime(self.settings))
            self._contexts = JobContexts(self._runtime)

    async def on_stop(self) -> None:
        split_process.shutdown()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack, self._runtime, self._contexts = None, None, None

    @property
    def is_open(self) -> bool:
        """The runtime is open: pools and producer usable (the worker's /readyz)."""
        return self._runtime is not None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError(
                "the worker's runtime is not open: the app has not started (or a test did not install one)"
            )
        return self._runtime

    @property
    def job_contexts(self) -> JobContexts:
        if self._contexts is None:
            raise RuntimeError("the worker's runtime is not open")
        return self._contexts


worker_runtime = WorkerRuntime(settings, Senders(request=_send_request, result=_send_result, status=_send_status))
# Added before the app's own services (producer, consumer, agents), so it starts first and stops last.
app.add_dependency(worker_runtime)
