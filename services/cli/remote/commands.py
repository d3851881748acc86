"""Which commands go through the API, and the refusal of operator commands when only the remote settings are given."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from services.cli.remote import company, control, jobs
from services.cli.remote.client import ApiClient
from services.cli.remote.config import RemoteSettings, has_local_settings
from services.cli.remote.session import Remote, check_company
from services.core.errors import ConfigurationError
from services.core.settings import Settings

__all__ = ["handler", "run", "dispatch", "operator_refusal"]

Handler = Callable[[argparse.Namespace, Remote], int]

HANDLERS: dict[str, Handler] = {
    "import": jobs.import_job,
    "export": jobs.export_job,
    "download": jobs.download,
    "status": jobs.status,
    "logs": jobs.logs,
    "jobs": jobs.jobs,
    "rollback": control.rollback,
    "retry": control.retry,
    "results": control.results,
    "templates": company.templates,
    "schedules": company.schedules,
    "picklists": company.picklists,
    "fields": company.fields,
    "limits": company.limits,
    "keys": company.keys,
}

# Actions of company commands that only the operator has: setting limits, making keys.
OPERATOR_ACTIONS = {("limits", "set"), ("keys", "create")}


def _name(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return (
        f"{args.command} {action}"
        if isinstance(action, str) and args.command in ("limits", "keys", "stack")
        else args.command
    )


def handler(args: argparse.Namespace) -> Handler | None:
    """The remote form of the command, or None for an operator command (it runs on the database and Kafka)."""
    if (args.command, getattr(args, "action", None)) in OPERATOR_ACTIONS:
        return None
    return HANDLERS.get(args.command)


def operator_refusal(args: argparse.Namespace) -> str:
    return (
        f"`crmio {_name(args)}` is an operator command: it works on PostgreSQL and Kafka directly, never through the "
        "HTTP API, and only CRMIO_API_URL and CRMIO_API_KEY are set. Run it where the deployment's local settings "
        "are (CRMIO_DATABASE_URL, CRMIO_SYSTEM_DATABASE_URL, CRMIO_KAFKA_BOOTSTRAP), or set them here too"
    )


def run(fn: Handler, args: argparse.Namespace, settings: Settings, remote: RemoteSettings) -> int:
    with ApiClient(remote) as api:
        session = Remote(api, remote)
        check_company(session, args, settings)
        return fn(args, session)


def dispatch(
    args: argparse.Namespace,
    settings: Settings,
    remote: RemoteSettings,
    local: Callable[[argparse.Namespace, Settings], Any],
) -> int:
    """A company command through the API; an operator command locally when the local settings are given too, else refused."""
    fn = handler(args)
    if fn is not None:
        return run(fn, args, settings, remote)
    if not has_local_settings(settings):
        raise ConfigurationError(operator_refusal(args))
    return int(local(args, settings))
