"""The company's settings over the API: templates, schedules, picklists, its limits, its API keys (admin)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

import orjson

from services.cli.common import json_arg
from services.cli.output import print_json
from services.cli.remote.session import Remote
from services.core.errors import CrmioError

__all__ = ["templates", "schedules", "picklists", "limits", "keys"]


def templates(args: argparse.Namespace, remote: Remote) -> int:
    api = remote.api
    if args.action == "list":
        page = api.call("GET", "/templates", params={"search": args.search, "limit": args.limit})
        if args.json:
            print_json({"total": page["total"], "templates": page["items"]})
        else:
            for d in page["items"]:
                state = "active" if d["is_active"] else "inactive"
                print(f"{d['id']}  {d['template_type']:6} {d['target_model']:7} {state:8} {d['template_name']}")
        return 0
    if args.action == "create":
        if not (args.name and args.model and args.type):
            raise CrmioError("templates create needs --name, --model and --type")
        body = {
            "template_name": args.name,
            "target_model": args.model,
            "template_type": args.type,
            "field_mapping": json_arg(args.mapping, "mapping") or {},
            "validation_rules": json_arg(args.rules, "rules") or {},
        }
        print_json(api.call("POST", "/templates", json=body))
        return 0
    if not args.id:
        raise CrmioError(f"templates {args.action} needs the template id")
    if args.action == "show":
        print_json(api.call("GET", f"/templates/{args.id}"))
    else:
        print_json(api.call("PATCH", f"/templates/{args.id}", json={"is_active": False}))
    return 0


def schedules(args: argparse.Namespace, remote: Remote) -> int:
    api = remote.api
    if args.action == "list":
        docs = api.call("GET", "/schedules")["items"]
        if args.json:
            print_json(docs)
        else:
            for d in docs:
                state = "active" if d["is_active"] else "paused"
                print(
                    f"{d['id']}  {state:6} {d['cron']!r:20} {d['timezone']:16} next {_when(d['next_run_at'])}  {d['name']}"
                )
        return 0
    if args.action == "create":
        if not (args.name and args.cron and args.job):
            raise CrmioError("schedules create needs --name, --cron and --job (JSON)")
        body = {"name": args.name, "cron": args.cron, "timezone": args.tz, "job": json_arg(args.job, "job")}
        print_json(api.call("POST", "/schedules", json=body))
        return 0
    if not args.id:
        raise CrmioError(f"schedules {args.action} needs the schedule id")
    if args.action == "delete":
        api.call("DELETE", f"/schedules/{args.id}")
        print_json({"deleted": args.id})
    else:
        print_json(api.call("POST", f"/schedules/{args.id}/{args.action}"))
    return 0


def picklists(args: argparse.Namespace, remote: Remote) -> int:
    api = remote.api
    if args.action != "list" and not (args.picklist and args.value):
        raise CrmioError(
            f"crmio picklists {args.action} needs a picklist and a value, e.g. "
            f"'crmio picklists {args.action} lead_source podcast'"
        )
    synonyms = args.synonyms.split(",") if args.synonyms is not None else None
    if args.action == "list":
        return _list_picklists(args, api.call("GET", "/picklists")["items"])
    if args.action == "add":
        body: dict[str, Any] = {"value": args.value, "label": args.label, "synonyms": synonyms or []}
        doc = api.call("POST", f"/picklists/{args.picklist}/values", json=body)
    else:
        active = {"retire": False, "restore": True}.get(args.action)
        body = {k: v for k, v in (("label", args.label), ("synonyms", synonyms), ("active", active)) if v is not None}
        doc = api.call("PATCH", f"/picklists/{args.picklist}/values/{args.value}", json=body)
    if args.json:
        print_json(doc)
    else:
        print(f"{args.picklist}: {doc['value']} ({doc['label']}){'' if doc['active'] else ' retired'}")
    return 0


def fields(args: argparse.Namespace, remote: Remote) -> int:
    from services.cli.fields import by_name, create_spec, print_fields

    api = remote.api
    if args.action == "list":
        params = {"retired": "true" if args.retired else "false"}
        if args.target_model:
            params["target_model"] = args.target_model
        print_fields(api.call("GET", "/fields", params=params)["items"], args.json)
    elif args.action in ("retire", "restore"):
        docs = api.call("GET", "/fields", params={"retired": "true"})["items"]
        doc = by_name(docs, args.target_model, args.label, args.action)
        print_fields(api.call("POST", f"/fields/{doc['id']}/{args.action}"), args.json)
    else:
        print_fields(api.call("POST", "/fields", json=create_spec(args)), args.json)
    return 0


def _list_picklists(args: argparse.Namespace, items: list[dict[str, Any]]) -> int:
    names = [p["name"] for p in items]
    if args.picklist and args.picklist not in names:
        raise CrmioError(f"no picklist {args.picklist!r}; picklists: {', '.join(names)}")
    from services.cli.picklists import print_picklists

    print_picklists([p for p in items if not args.picklist or p["name"] == args.picklist], args.json)
    return 0


def limits(args: argparse.Namespace, remote: Remote) -> int:
    """`limits show`: the company's limits and storage in use (setting them is the operator's)."""
    doc = remote.api.call("GET", "/limits")
    print_json({"company_id": remote.me()["company_id"], **doc})
    return 0


def keys(args: argparse.Namespace, remote: Remote) -> int:
    """`keys list` and `keys revoke KEY_ID` with an admin key (making keys is the operator's)."""
    if args.action == "revoke":
        company = remote.me()["company_id"]  # before: the key revoked may be the calling one
        info = remote.api.call("DELETE", f"/keys/{args.key_id}")
        print(f"revoked {info['role']} key {info['id']} of company {company}", file=sys.stderr)
        print(info["id"], flush=True)
        return 0
    items = remote.api.call("GET", "/keys")["items"]
    if args.json:
        sys.stdout.buffer.write(orjson.dumps({"items": items}) + b"\n")
        sys.stdout.flush()
        return 0
    print(f"{'id':36}  {'role':6}  {'created':25}  {'revoked':25}  label")
    for k in items:
        revoked = _seconds(k["revoked_at"]) if k["revoked_at"] else "-"
        print(f"{k['id']:36}  {k['role']:6}  {_seconds(k['created_at']):25}  {revoked:25}  {k['label'] or ''}")
    return 0


def _seconds(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).isoformat(timespec="seconds")


def _when(iso: str | None) -> str:
    return str(dt.datetime.fromisoformat(iso)) if iso else "None"
