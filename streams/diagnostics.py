"""A worker's inner state on demand: ``kill -USR1 <worker pid>`` logs what its consumer fetches, what each
agent holds, and where every task waits, so a worker that stops taking events can be examined live."""

from __future__ import annotations

import asyncio
import io
import logging
import signal

from streams.app import app

log = logging.getLogger(__name__)


def _tps(tps: object) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in (tps or ())))  # type: ignore[attr-defined]


def dump() -> None:
    c = app.consumer
    out = io.StringIO()
    out.write(
        f"in recovery: {app.in_recovery}; flow active: {c.flow_active}; "
        f"rebalancing: {app.rebalancing}; generation: {app.consumer_generation_id}\n"
    )
    out.write(f"assigned: {_tps(c.assignment())}\n")
    out.write(
        f"active: {_tps(c._active_partitions)}\npaused: {_tps(c._paused_partitions)}\n"
        f"buffered: {_tps(c._buffered_partitions)}\n"
    )
    out.write(f"read offsets: { {f'{tp.topic}[{tp.partition}]': o for tp, o in c._read_offset.items()} }\n")
    out.write(f"committed: { {f'{tp.topic}[{tp.partition}]': o for tp, o in c._committed_offset.items()} }\n")
    out.write(f"acked: { {f'{tp.topic}[{tp.partition}]': len(v) for tp, v in c._acked.items()} }\n")
    for agent in app.agents.values():
        for actor in agent._actors:  # type: ignore[attr-defined]
            ch = actor.stream.channel
            queue = getattr(ch, "queue", None)
            out.write(f"agent {agent.name}: queue {queue.qsize() if queue is not None else '?'}\n")
    for task in asyncio.all_tasks():
        out.write(f"task {task.get_name()}: {' <- '.join(reversed(_awaiting(task)))}\n")
    log.warning("worker state (SIGUSR1):\n%s", out.getvalue())


def _awaiting(task: asyncio.Task[object]) -> list[str]:
    """Where a task waits: its chain of awaited coroutines, outermost first (print_stack stops at the first)."""
    chain, coro = [], task.get_coro()
    while coro is not None and len(chain) < 30:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno})")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


@app.task
async def _install() -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)
