"""`crmio picklists`: a company's picklists — list them, add a value, relabel it, set its synonyms, retire or restore it."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from services.core.db import tenant
from services.core.settings import Settings

if TYPE_CHECKING:
    from services.core.runtime import Runtime

__all__ = ["add_parsers", "HANDLERS", "print_picklists"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("picklists", help="a company's picklists: list, add, relabel, synonyms, retire, restore")
    p.add_argument("action", choices=("list", "add", "update", "retire", "restore"))
    p.add_argument("picklist", nargs="?", help="lead_source, lead_status or account_type (list: all when left out)")
    p.add_argument("value", nargs="?", help="the stored value, e.g. podcast")
    p.add_argument("--company", help="company UUID (default: CRMIO_DEFAULT_COMPANY_ID)")
    p.add_argument("--label", help="what people read (default: the value)")
    p.add_argument("--synonyms", help="comma-separated words files use for this value, e.g. 'Podcasts,Pod'")
    p.add_argument("--json", action="store_true", help="print JSON")


def print_picklists(docs: list[dict[str, Any]], as_json: bool) -> None:
    from services.cli.output import print_json

    if as_json:
        print_json(docs)
        return
    for doc in docs:
        print(doc["name"])
        for v in doc["values"]:
            state = "" if v["active"] else "  (retired)"
            words = f"  synonyms: {', '.join(v['synonyms'])}" if v["synonyms"] else ""
            print(f"  {v['value']:<24} {v['label']}{state}{words}")


async def _picklists(args: argparse.Namespace, settings: Settings) -> int:
    from services.cleansing import picklist_store
    from services.cli import common as cli
    from services.core.errors import CrmioError

    company = cli.company_of(args, settings)
    synonyms = [s for s in args.synonyms.split(",")] if args.synonyms is not None else None
    if args.action != "list" and not (args.picklist and args.value):
        raise CrmioError(
            f"crmio picklists {args.action} needs a picklist and a value, e.g. "
            f"'crmio picklists {args.action} lead_source podcast'"
        )

    async def run(rt: Runtime) -> int:
        async with tenant(rt.pool, company) as conn:
            if args.action == "list":
                picklists = await picklist_store.load_picklists(conn, company)
                if args.picklist and args.picklist not in picklists:
                    raise CrmioError(f"no picklist {args.picklist!r}; picklists: {', '.join(picklists)}")
                docs = [p.document() for n, p in picklists.items() if not args.picklist or n == args.picklist]
                print_picklists(docs, args.json)
                return 0
            if args.action == "add":
                doc = await picklist_store.add_value(conn, company, args.picklist, args.value, args.label, synonyms)
            else:
                active = {"retire": False, "restore": True}.get(args.action)
                doc = await picklist_store.update_value(
                    conn, company, args.picklist, args.value, label=args.label, synonyms=synonyms, active=active
                )
        if args.json:
            cli.print_json(doc)
        else:
            print(f"{args.picklist}: {doc['value']} ({doc['label']}){'' if doc['active'] else ' retired'}")
        return 0

    return int(await cli.with_runtime(settings, run))


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], Any]] = {
    "picklists": lambda a, s: asyncio.run(_picklists(a, s)),
}
