"""Job control and result files over the API: rollback, retry (with a fixed file uploaded first), results."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.common import json_arg
from services.cli.output import print_json
from services.cli.remote.files import count_rows
from services.cli.remote.follow import report
from services.cli.remote.session import Remote
from services.cli.remote.uploads import upload

__all__ = ["rollback", "retry", "results"]

_EXT = {"csv": "csv", "excel": "xlsx"}


def rollback(args: argparse.Namespace, remote: Remote) -> int:
    job = remote.api.call("POST", f"/jobs/{args.job}/rollback", json={"force": bool(args.force)})
    return report(remote, job, args)


def retry(args: argparse.Namespace, remote: Remote) -> int:
    """Only the failed rows again: the job's own file (with --mapping corrected), or --file uploaded first."""
    body: dict[str, Any] = {}
    mapping = json_arg(args.mapping, "mapping")
    if mapping is not None:
        body["mapping"] = mapping
    if args.file:
        body["upload_id"] = upload(remote, args.file, declared=args.format)["id"]
    return report(remote, remote.api.call("POST", f"/jobs/{args.job}/retry", json=body), args)


def results(args: argparse.Namespace, remote: Remote) -> int:
    """An import's success or error file, to --output or this directory under the API's name for it."""
    path = remote.api.download(
        f"/jobs/{args.job}/results",
        params={"kind": args.kind, "format": args.format},
        output=args.output,
        fallback=f"{args.job}-{args.kind}.{_EXT[args.format]}",
    )
    if args.json:
        rows = count_rows(path, args.format)
        print_json({"job_id": args.job, "kind": args.kind, "format": args.format, "path": str(path), "rows": rows})
    else:
        print(path)
    return 0
