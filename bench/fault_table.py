"""Prints the fault table (fault x duplicate mode -> outcome, longest stall, total time) from the last
fault-suite run: `python -m bench.fault_table [--run]` (--run runs the suite first, on the running stack)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from tests.integration.faults.conftest import RESULTS

MODES = ("skip", "update", "create_new")


def table() -> str:
    latest: dict[tuple[str, str], dict] = {}
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        latest[(r["fault"], r["mode"])] = r
    faults = list(dict.fromkeys(f for f, _ in latest))
    lines = ["| fault (200k-row import) | " + " | ".join(MODES) + " |", "|---|" + "---|" * len(MODES)]
    for fault in faults:
        cells = []
        for mode in MODES:
            r = latest.get((fault, mode))
            if r is None:
                cells.append("not run")
            elif r["outcome"] != "ok":
                cells.append(f"**{r['outcome']}**")
            else:
                cells.append(f"ok: exact; longest stall {r['longest_stall_s']} s, job {r['total_s']} s")
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    when = max(r["at"] for r in latest.values())
    return "\n".join(lines) + f"\n\nLast run: {when} (UTC). \"exact\": CRM rows equal the oracle, counters exact, " \
        "one error log per invalid row, before-images intact."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", action="store_true", help="run the fault suite first (about 12 minutes)")
    args = parser.parse_args()
    if args.run:
        RESULTS.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "pytest", "tests/integration/faults", "-m", "faults", "-q",
                               "-p", "no:cacheprovider"])
        if done.returncode not in (0, 1):
            sys.exit(done.returncode)
    print(table())


if __name__ == "__main__":
    main()
