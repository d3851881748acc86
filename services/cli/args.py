"""Command-line arguments turned into job options, the same for the local and the remote CLI."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.common import json_arg
from services.core.errors import CrmioError

__all__ = ["import_options", "export_options", "filter_arg"]


def import_options(args: argparse.Namespace) -> dict[str, Any]:
    """An import's options from `crmio import`'s flags: reading, cleansing and the error policy."""
    options: dict[str, Any] = {
        k: v
        for k, v in (
            ("date_order", args.date_order),
            ("sheet", args.sheet),
            ("encoding", args.encoding),
            ("delimiter", args.delimiter),
            ("dry_run", args.dry_run),
            ("strict", args.strict),
            ("accept_suggestions", args.accept_suggestions),
            ("unknown_values", args.unknown_values),
            ("match_on", getattr(args, "match", None)),
            ("account_match", getattr(args, "account_match", None)),
            ("missing_accounts", getattr(args, "missing_accounts", None)),
        )
        if v
    }
    if args.all_or_nothing:
        options["error_policy"] = {"mode": "all_or_nothing"}
    elif args.max_errors is not None or args.max_error_percent is not None:
        options["error_policy"] = {
            "mode": "stop",
            "max_errors": args.max_errors,
            "max_error_percent": args.max_error_percent,
        }
    return options


def export_options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in (("json_style", args.json_style), ("csv_bom", args.bom or None)) if v}


def filter_arg(text: str) -> dict[str, Any]:
    """`FIELD OP [VALUE]`, e.g. `status eq new`, `annual_revenue between 1000,5000`, `email empty`;
    or the JSON object {"field": ..., "op": ..., "value": ...}. Lists (in, between) are comma-separated."""
    if text.lstrip().startswith("{"):
        return dict(json_arg(text, "filter"))
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise CrmioError(f"--filter {text!r}: write FIELD OP [VALUE], e.g. 'status eq new'")
    field, op = parts[0], parts[1]
    if len(parts) == 2:
        return {"field": field, "op": op}
    value: Any = parts[2].split(",") if op in ("in", "between") else parts[2]
    return {"field": field, "op": op, "value": value}
