"""The record-batch events' Avro codec, compiled (native/, crmio_native) against fastavro, in one process.

Every row of an import is encoded once (the split process) and decoded once (a worker) in these events. This
encodes and decodes the same events of generated leads (500 rows of 12 values, as the split sends them) with
each codec, in turns, and prints µs a row: median of the rounds, with min and max.

    .venv/bin/python -m bench.bench_avro [--rows 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import crmio_native

from schemas import avro, events
from tests.avro_reference import fastavro_decode, fastavro_encode
from tests.datagen import HEADERS, make_leads

HEADER = avro.header("record_batch")


def _timed(step: Callable[[Any], Any], items: list[Any], rows: int) -> float:
    started = time.perf_counter()
    for item in items:
        step(item)
    return (time.perf_counter() - started) / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = make_leads(args.rows).rows
    batches = [
        dict(
            events.record_batch(
                "0b1e6c2a-3f4d-4e5f-8a9b-0c1d2e3f4a5b",
                "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f",
                "lead",
                HEADERS,
                list(range(i + 1, i + 1 + len(chunk))),
                [list(column) for column in zip(*chunk)],
            )
        )
        for i in range(0, len(rows), 500)
        if (chunk := rows[i : i + 500])
    ]
    encoded = [fastavro_encode("record_batch", b) for b in batches]
    codecs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
        "fastavro": (
            lambda event: fastavro_encode("record_batch", event),
            lambda data: fastavro_decode("record_batch", data),
        ),
        "crmio_native": (
            lambda event: crmio_native.encode_record_batch(event, HEADER),
            lambda data: crmio_native.decode_record_batch(data, len(HEADER)),
        ),
    }
    spent: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, (encode, decode) in codecs.items():
            spent.setdefault((name, "encode"), []).append(_timed(encode, batches, len(rows)))
            spent.setdefault((name, "decode"), []).append(_timed(decode, encoded, len(rows)))
    print(f"{len(rows):,} lead rows in events of 500, {args.rounds} rounds in turns; µs a row, median (min-max)")
    for (name, step), figures in spent.items():
        print(f"  {name:13} {step}  {statistics.median(figures):5.2f}  ({min(figures):.2f}-{max(figures):.2f})")


if __name__ == "__main__":
    main()
