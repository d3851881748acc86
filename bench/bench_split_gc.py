"""The split's CPU a row (read, map, split and Avro-encode a csv of leads, in one process) at Python's default
collector thresholds and at the ones the worker and its split processes run with (services/core/collector.py).

    .venv/bin/python -m bench.bench_split_gc [--rows 200000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.bench_stages import split_leads
from schemas import avro
from services.core.settings import Settings
from tests.datagen import make_leads, write_csv


def _split_cpu_per_row(settings: Settings, path: Path, rows: int) -> float:
    started = time.process_time()
    batches = split_leads(settings, path, str(uuid.uuid4()), str(uuid.uuid4()))
    for event in batches:
        avro.encode("record_batch", event)
    return (time.process_time() - started) / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    settings = Settings()
    defaults = gc.get_threshold()
    with tempfile.TemporaryDirectory(prefix="crmio-split-gc-") as tmp:
        path = write_csv(make_leads(args.rows, seed=1, stored=0), Path(tmp) / "leads.csv")
        figures: dict[str, list[float]] = {"default thresholds": [], "crmio's (100000, 50, 100)": []}
        for _ in range(args.rounds):  # in turns, so the machine's drift falls on both
            gc.set_threshold(*defaults)
            figures["default thresholds"].append(_split_cpu_per_row(settings, path, args.rows))
            gc.set_threshold(100_000, 50, 100)
            figures["crmio's (100000, 50, 100)"].append(_split_cpu_per_row(settings, path, args.rows))
    for name, values in figures.items():
        print(f"{name:28} {statistics.median(values):6.2f} µs a row  ({min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
