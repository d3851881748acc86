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
                gaps, election = r.get("gaps_read_again"), r.get("leader_election_s")
                cells.append(
                    f"ok: exact; longest stall {r['longest_stall_s']} s, job {r['total_s']} s"
                    + (f"; leaders elected in {election} s" if election is not None else "")
                    + (f"; {gaps} partition gap(s) read again" if gaps else "")
                )
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    when = max(r["at"] for r in latest.values())
    return (
        "\n".join(lines) + f'\n\nLast run: {when} (UTC). "exact": CRM rows equal the oracle, counters exact, '
        "one error log per invalid row, before-images intact. A partition gap: the consumer delivered an "
        "event while an earlier one of its partition had never been applied; the later event waited and the "
        "partition was read again from the missing one."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", action="store_true", help="run the fault suite first (about 9 minutes)")
    args = parser.parse_args()
    returncode = 0
    if args.run:
        RESULTS.unlink(missing_ok=True)
        returncode = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/integration/faults", "-m", "faults", "-q", "-p", "no:cacheprovider"]
        ).returncode
        if not RESULTS.exists():
            sys.exit(returncode or 1)
    print(table())
    sys.exit(returncode)  # a failed run fails the command after its table is printed


if __name__ == "__main__":
    main()
