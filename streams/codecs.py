"""Faust codecs for crmio's Avro events (Confluent framing); registered as ``avro-<schema>``."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from schemas import avro

__all__ = ["codec_name", "register"]


class AvroCodec(codecs.Codec):
    def __init__(self, schema_name: str, **kwargs: Any) -> None:
        super().__init__(schema_name=schema_name, **kwargs)
        self.schema_name = schema_name

    def _dumps(self, obj: Any) -> bytes:
        return avro.encode(self.schema_name, obj)

    def _loads(self, s: bytes) -> Any:
        return avro.decode(self.schema_name, s)


def codec_name(schema_name: str) -> str:
    return f"avro-{schema_name}"


def register() -> None:
    for name in avro.LATEST:
        codecs.register(codec_name(name), AvroCodec(name))
