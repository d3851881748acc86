"""`crmio fields`: a company's custom fields — list them, create one, retire one (its values stay), restore one."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.settings import Settings

if TYPE_CHECKING:
    from services.core.runtime import Runtime

__all__ = ["add_parsers", "HANDLERS", "create_spec", "print_fields", "by_name"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("fields", help="a company's custom fields: list, create, retire, restore")
    p.add_argument("action", choices=("list", "create", "retire", "restore"))
    p.add_argument("target_model", nargs="?", choices=("lead", "contact", "account"), help="list: all when left out")
    p.add_argument(
        "label", nargs="?", help="create: the label people read, e.g. 'Deal Stage'; retire, restore: the field's name"
    )
    p.add_argument(
        "--type",
        dest="field_type",
        help="create: text, long_text, number, decimal, date, boolean, email, phone, url, choice",
    )
    p.add_argument("--name", help="create: the key files and exports use (default: from the label, e.g. deal_stage)")
    p.add_argument("--required", action="store_true", help="create: every import must give it a value")
    p.add_argument("--max-length", type=int, help="create: text types' longest value")
    p.add_argument(
        "--choices", help="create: a choice field's values, comma-separated, e.g. 'Prospecting,Negotiation,Won'"
    )
    p.add_argument("--rules", help="create: validation rules as JSON, e.g. '{\"min\": 0}'")
    p.add_argument("--retired", action="store_true", help="list: retired fields too")
    p.add_argument("--company", help="company UUID (default: CRMIO_DEFAULT_COMPANY_ID)")
    p.add_argument("--json", action="store_true", help="print JSON")


def create_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The create command's field definition (checked by services.fields, locally or by the API)."""
    from services.cli.common import json_arg

    if not (args.target_model and args.label and args.field_type):
        raise CrmioError(
            "crmio fields create needs a model, a label and --type, e.g. \"crmio fields create lead 'Deal Stage' --type choice --choices 'Prospecting,Won'\""
        )
    spec: dict[str, Any] = {"target_model": args.target_model, "label": args.label, "field_type": args.field_type}
    if args.name:
        spec["name"] = args.name
    if args.required:
        spec["required"] = True
    if args.max_length is not None:
        spec["max_length"] = args.max_length
    if args.choices is not None:
        spec["choices"] = [c.strip() for c in args.choices.split(",") if c.strip()]
    if args.rules is not None:
        spec["validation_rules"] = json_arg(args.rules, "rules")
    return spec


def by_name(docs: list[dict[str, Any]], model: str | None, name: str | None, action: str = "retire") -> dict[str, Any]:
    """The field ``retire`` (an active one) or ``restore`` (a retired one) names, by model and name, of ``docs``
    (the company's fields, retired ones too)."""
    if not (model and name):
        raise CrmioError(
            f"crmio fields {action} needs the model and the field's name, e.g. 'crmio fields {action} lead deal_stage'"
        )
    retired = action == "restore"
    for doc in docs:
        if doc["target_model"] == model and doc["name"] == name and doc["retired"] == retired:
            return doc
    state = "retired" if retired else "active"
    names = ", ".join(d["name"] for d in docs if d["target_model"] == model and d["retired"] == retired) or "none"
    raise CrmioError(f"{model} has no {state} custom field {name!r} (its {state} custom fields: {names})")


def print_fields(docs: list[dict[str, Any]] | dict[str, Any], as_json: bool) -> None:
    from services.cli.output import print_json

    if as_json:
        print_json(docs)
        return
    for d in docs if isinstance(docs, list) else [docs]:
        extra = " required" if d["required"] else ""
        extra += " (retired)" if d["retired"] else ""
        choices = f"  choices: {', '.join(c['label'] for c in d.get('choices', []))}" if d.get("choices") else ""
        print(f"{d['target_model']:<8} {d['name']:<24} {d['field_type']:<10} {d['label']}{extra}{choices}")


async def _fields(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import common as cli
    from services.fields import manage

    company = cli.company_of(args, settings)

    async def run(rt: Runtime) -> int:
        async with tenant(rt.pool, company) as conn:
            if args.action == "list":
                print_fields(
                    await manage.list_field_documents(conn, company, args.target_model, retired=args.retired), args.json
                )
                return 0
            if args.action in ("retire", "restore"):
                docs = await manage.list_field_documents(conn, company, retired=True)
                doc = by_name(docs, args.target_model, args.label, args.action)
                print_fields(await manage.set_retired(conn, company, doc["id"], args.action == "retire"), args.json)
                return 0
            doc = await manage.create_field(conn, company, create_spec(args))
        print_fields(doc, args.json)
        return 0

    return int(await cli.with_runtime(settings, run))


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], Any]] = {
    "fields": lambda a, s: asyncio.run(_fields(a, s)),
}
