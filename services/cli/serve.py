"""The `crmio api` and `crmio keys create|list|revoke` commands (wired into services/cli/main.py's parser)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from services.core import logs
from services.core.errors import CrmioError
from services.core.settings import Settings

__all__ = ["cmd_api", "cmd_keys"]

STARTUP_FAILURE = 3  # uvicorn's exit code when the app did not start


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the HTTP API with uvicorn on --host/--port (default: CRMIO_API_HOST / CRMIO_API_PORT): request
    headers within request_header_timeout_s, at most api_max_connections at once (services/api/server.py)."""
    import uvicorn

    from services.api import create_app, server_config

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    server = uvicorn.Server(
        server_config(create_app(settings), settings, host=host, port=port, log_level=settings.worker_log_level)
    )
    # After uvicorn's config set up its own logging: CRMIO_LOG_FORMAT=json sends its loggers through the JSON lines.
    logs.configure(settings)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:  # the lifespan failed (its error is logged): uvicorn.run's exit code
        return STARTUP_FAILURE
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> Any:
    """Run one keys action on an operator connection (the owner role: keys are made before any API call)."""
    from services.core.db import connect_pool, tenant
    from services.jobs import keys

    pool = await connect_pool(settings.system_dsn(), max_size=1)
    try:
        if args.action == "create":
            async with pool.acquire() as conn:
                return await keys.create_key(conn, args.company, args.role, args.label)
        async with tenant(pool, args.company) as conn:
            if args.action == "list":
                return await keys.list_keys(conn, args.company)
            return await keys.revoke_company_key(conn, args.company, args.key_id)
    finally:
        await pool.close()


def _check_company(company: str | None, action: str) -> None:
    import uuid

    if not company:
        raise CrmioError(f"keys {action} needs --company UUID (the company the keys belong to)")
    try:
        uuid.UUID(company)
    except ValueError:
        raise CrmioError(f"company must be a UUID, not {company!r}") from None


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """`keys create --company UUID --role admin|member [--label TEXT]`: the new key is the last line of stdout.
    `keys list --company UUID [--json]`: id, role, label, created, revoked (never a secret).
    `keys revoke KEY_ID --company UUID`: refused (exit 2) for the company's last live admin key."""
    _check_company(args.company, args.action)
    if args.action == "create":
        key, record = asyncio.run(_keys(settings, args))
        print(f"created {args.role} key {record.id} for company {args.company}; it is shown only once", file=sys.stderr)
        print(key, flush=True)
        return 0
    if args.action == "list":
        items = asyncio.run(_keys(settings, args))
        if args.json:
            sys.stdout.buffer.write(orjson.dumps({"items": [k.document() for k in items]}) + b"\n")
            sys.stdout.flush()
            return 0
        print(f"{'id':36}  {'role':6}  {'created':25}  {'revoked':25}  label")
        for k in items:
            revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-"
            created = k.created_at.isoformat(timespec="seconds")
            print(f"{k.id:36}  {k.role:6}  {created:25}  {revoked:25}  {k.label or ''}")
        return 0
    info = asyncio.run(_keys(settings, args))
    print(f"revoked {info.role} key {info.id} of company {args.company}", file=sys.stderr)
    print(info.id, flush=True)
    return 0
