"""fastavro on crmio's events, framed as schemas/avro.py frames them: the reference the compiled codec and
splitter (native/) are held to by tests/unit/test_native_*.py and measured against by bench/bench_avro.py and
bench/bench_split.py."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas import avro

__all__ = ["fastavro_encode", "fastavro_decode"]


def fastavro_encode(name: str, record: Mapping[str, Any]) -> bytes:
    """``record`` framed with the latest version of schema ``name``, written by fastavro."""
    buf = io.BytesIO()
    buf.write(avro.header(name))
    schemaless_writer(buf, avro.schema(avro.schema_id(name)), dict(record), strict_allow_default=True)
    return buf.getvalue()


def fastavro_decode(name: str, data: bytes) -> Any:
    """An event of the latest version of ``name``, read by fastavro."""
    return schemaless_reader(io.BytesIO(data[len(avro.header(name)) :]), avro.schema(avro.schema_id(name)))
