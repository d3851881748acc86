"""The `crmio api` and `crmio keys` commands (wired into services/cli/main.py's parser)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.core.settings import Settings

__all__ = ["cmd_api", "cmd_keys"]


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the HTTP API with uvicorn on --host/--port (default: CRMIO_API_HOST / CRMIO_API_PORT)."""
    import uvicorn

    from services.api import create_app

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.worker_log_level,
        proxy_headers=True,
        server_header=False,
    )
    return 0


async def _create_key(settings: Settings, company: str, role: str, label: str | None) -> tuple[str, str]:
    from services.core.db import connect_pool
    from services.jobs import keys

    pool = await connect_pool(settings.system_dsn(), max_size=1)  # an operator command
    try:
        async with pool.acquire() as conn:
            key, record = await keys.create_key(conn, company, role, label)
    finally:
        await pool.close()
    return key, record.id


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """`keys create --company UUID --role admin|member [--label TEXT]`: the new key is the last line of stdout."""
    key, key_id = asyncio.run(_create_key(settings, args.company, args.role, args.label))
    print(f"created {args.role} key {key_id} for company {args.company}; it is shown only once", file=sys.stderr)
    print(key, flush=True)
    return 0
