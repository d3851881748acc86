"""Cost of a validation rule's pattern per value: Python's re against RE2 (google-re2), which crmio uses.

    python -m bench.bench_rules

Prints the median of 3 runs (min and max) of 200,000 fullmatch calls per engine and pattern, and the
ratio RE2 / re. A figure of this machine's day: only the ratio carries over.
"""

from __future__ import annotations

import re
import statistics
import time

import re2

from services.cleansing.validation import _linear_fullmatch

PATTERNS = {
    "email-like": (r"[^@\s]+@[^@\s]+\.[a-z]{2,}", [f"user{i}@example{i % 97}.com" for i in range(1000)]),
    "code": (r"[A-Z]{2}-[0-9]{4,6}", [f"AB-{i:05d}" for i in range(1000)]),
    "hostile (a+)+$": (r"(a+)+$", ["a" * 16 + "!"] * 1000),
}
CALLS = 100_000


def _run(match: object, values: list[str]) -> float:
    start = time.perf_counter()
    for i in range(CALLS):
        match(values[i % len(values)])  # type: ignore[operator]
    return (time.perf_counter() - start) / CALLS * 1e6


def main() -> None:
    options = re2.Options()
    options.log_errors = False
    for name, (pattern, values) in PATTERNS.items():
        engines = {
            "re": re.compile(pattern).fullmatch,
            "re2": re2.compile(pattern, options).fullmatch,
            "crmio": _linear_fullmatch(pattern),
        }
        runs = {e: [_run(m, values) for _ in range(3)] for e, m in engines.items()}
        shown = {e: f"{statistics.median(r):.2f} us (min {min(r):.2f}, max {max(r):.2f})" for e, r in runs.items()}
        ratio = statistics.median(runs["crmio"]) / statistics.median(runs["re"])
        print(
            f"{name:16} re {shown['re']:32} re2 fullmatch {shown['re2']:32} crmio (re2 bare match) "
            f"{shown['crmio']:32} crmio/re {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
