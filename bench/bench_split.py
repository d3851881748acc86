"""The split's CPU a row in one process (read a csv of leads, map, key, partition, Avro-encode), three ways on the
same file, in turns: the Python split (splitter.split_rows) with fastavro, as the split process ran it before
the compiled data plane; the same with the compiled codec (avro.encode); and the compiled splitter
(splitter.split_events, native/src/splitter.rs), which the split process runs now. The CSV reader is the same
in all three. Prints µs a row: median of the rounds, with min and max.

    .venv/bin/python -m bench.bench_split [--rows 200000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from schemas import avro
from schemas.models import get_model
from services.core.settings import Settings
from services.ingest.reader_limits import reader_limits
from services.ingest.splitter import SplitPlan, open_import, split_events, split_rows
from tests.avro_reference import fastavro_encode
from tests.datagen import make_leads, write_csv

JOB, COMPANY = "0b1e6c2a-3f4d-4e5f-8a9b-0c1d2e3f4a5b", "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    settings, model = Settings(), get_model("lead")
    kw = {
        "job_id": JOB,
        "company_id": COMPANY,
        "partitions": settings.record_partitions,
        "rows_per_event": settings.rows_per_event,
        "max_event_bytes": settings.max_event_bytes,
    }
    ways: dict[str, Callable[[SplitPlan], int]] = {
        "split_rows + fastavro": lambda plan: sum(
            len(fastavro_encode("record_batch", e)) for _, e in split_rows(plan, model, **kw)
        ),
        "split_rows + compiled codec": lambda plan: sum(
            len(avro.encode("record_batch", e)) for _, e in split_rows(plan, model, **kw)
        ),
        "compiled splitter": lambda plan: sum(len(data) for _, _, data in split_events(plan, model, **kw)),
    }
    spent: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="crmio-split-") as tmp:
        path = write_csv(make_leads(args.rows, seed=1), Path(tmp) / "leads.csv")
        sizes = set()
        for _ in range(args.rounds):
            for name, way in ways.items():
                plan = open_import(
                    path, "csv", model, display_name=path.name, mapping=None, options={}, limits=reader_limits(settings)
                )
                started = time.process_time()
                try:
                    sizes.add(way(plan))
                finally:
                    plan.close()
                spent[name].append((time.process_time() - started) / args.rows * 1e6)
    assert len(sizes) == 1, f"the three ways wrote different bytes: {sizes}"
    print(f"{args.rows:,} leads (csv), {args.rounds} rounds in turns; CPU µs a row, median (min-max)")
    for name, figures in spent.items():
        print(f"  {name:28} {statistics.median(figures):5.2f}  ({min(figures):.2f}-{max(figures):.2f})")


if __name__ == "__main__":
    main()
