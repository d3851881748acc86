from collections.abc import Callable, Mapping, Sequence
from typing import Any

def encode_record_batch(record: Mapping[str, Any], header: bytes) -> bytes: ...
def decode_record_batch(data: bytes, offset: int) -> dict[str, Any]: ...

class Splitter:
    def __init__(
        self,
        header: bytes,
        job_id: str,
        company_id: str,
        target_model: str,
        fields: list[str],
        indexes: list[int],
        keys: list[tuple[int, str]],
        bounded: list[tuple[int, int]],
        partitions: int,
        rows_per_event: int,
        max_event_bytes: int,
        key_of: Callable[[dict[str, str | None]], str | None],
        cut: Callable[[str, int], str],
        too_big: Callable[[Sequence[str], list[str | None], int, int], str],
    ) -> None: ...
    def add(self, rows: list[Any]) -> list[tuple[int, int, bytes]]: ...
    def finish(self) -> list[tuple[int, int, bytes]]: ...

def clean_email(text: str) -> str | None: ...
def clean_money(text: str) -> str | None: ...

class PhoneFast:
    def __init__(
        self,
        country_code: int,
        national_prefix: str,
        codes: list[int],
        patterns_of: Callable[[int], tuple[str | None, str | None]],
    ) -> None: ...
    def clean(self, text: str) -> str | None: ...

class RowCleaner:
    def __init__(
        self,
        plans: list[tuple[str, str, Callable[[Any, list[Any]], object], bool, int | None, int, PhoneFast | None]],
        invalid: object,
        decimal: Callable[[str], object],
    ) -> None: ...
    def values(self, raw: Mapping[str, Any], issues: list[Any]) -> dict[str, object]: ...

class CopyEncoder:
    def __init__(self, types: list[str], jsonb: Callable[[Any], bytes]) -> None: ...
    def encode(self, rows: list[Sequence[Any]]) -> bytes | None: ...
    def encode_mapped(
        self,
        ids: list[Any],
        constant: tuple[Any, ...],
        values: list[dict[str, Any]],
        names: list[str],
        extra: list[tuple[Any, ...]] | None = None,
    ) -> bytes | None: ...

def uuid7s(unix_ms: int, random: bytes, make: Callable[[bytes], Any]) -> list[Any]: ...
