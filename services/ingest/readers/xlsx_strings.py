"""The workbook's shared-strings table, kept compact: small tables in a list, large ones on disk."""

from __future__ import annotations

import os
import tempfile
from array import array
from typing import IO

from services.ingest.readers.cellvalue import unescape_ooxml
from services.ingest.readers.xmlsafe import Readable, feed, make_parser

__all__ = ["SharedStrings", "load_shared_strings", "MEMORY_STRINGS", "MEMORY_BYTES"]

# Transitional and Strict Open XML name the same elements in two namespaces.
_NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
_SI = frozenset(f"{ns} si" for ns in _NAMESPACES)
_T = frozenset(f"{ns} t" for ns in _NAMESPACES)
_RPH = frozenset(f"{ns} rPh" for ns in _NAMESPACES)
_SPACE = "http://www.w3.org/XML/1998/namespace space"

# Past either bound the strings move to a temporary file read with pread, and only an offset
# array (8 bytes a string) stays in memory: a 1M-row sheet can hold millions of unique strings.
MEMORY_STRINGS = 200_000
MEMORY_BYTES = 16 * 1024 * 1024
_CACHE_SIZE = 4096  # spilled tables: recently used strings (status, country... repeat a lot)


class SharedStrings:
    def __init__(self) -> None:
        self._items: list[str] | None = []
        self._bytes = 0
        self._file: IO[bytes] | None = None
        self._offsets = array("Q", [0])
        self._cache: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else len(self._offsets) - 1

    def append(self, text: str) -> None:
        if self._items is not None:
            self._items.append(text)
            self._bytes += len(text)
            if len(self._items) > MEMORY_STRINGS or self._bytes > MEMORY_BYTES:
                self._spill()
            return
        assert self._file is not None
        data = text.encode("utf-8")
        self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))

    def _spill(self) -> None:
        assert self._items is not None
        items, self._items = self._items, None
        self._file = tempfile.TemporaryFile(prefix="crmio-sst-")  # noqa: SIM115 - closed in close()
        for text in items:
            self.append(text)

    def finish(self) -> None:
        if self._file is not None:
            self._file.flush()

    def __getitem__(self, index: int) -> str:
        if self._items is not None:
            return self._items[index]
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if not 0 <= index < len(self._offsets) - 1:
            raise IndexError(index)
        assert self._file is not None
        start = self._offsets[index]
        text = os.pread(self._file.fileno(), self._offsets[index + 1] - start, start).decode("utf-8")
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[index] = text
        return text

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def load_shared_strings(source: Readable, *, file: str, part: str) -> SharedStrings:
    """Stream ``<si>`` items (plain or rich text; phonetic runs skipped) into a SharedStrings."""
    strings = SharedStrings()
    parser = make_parser()
    parts: list[str] = []
    state = {"capture": False, "phonetic": 0, "run": 0, "preserve": False}

    def start(name: str, attrs: list[str]) -> None:
        if name in _T:
            state["capture"] = not state["phonetic"]
            state["run"] = len(parts)
            # ordered attributes: [name, value, name, value, ...]
            state["preserve"] = any(attrs[i] == _SPACE and attrs[i + 1] == "preserve" for i in range(0, len(attrs), 2))
        elif name in _SI:
            parts.clear()
        elif name in _RPH:
            state["phonetic"] += 1

    def end(name: str) -> None:
        if name in _T:
            if state["capture"] and not state["preserve"]:
                # Excel drops the XML whitespace around a run unless xml:space="preserve".
                run = "".join(parts[state["run"] :]).strip(" \t\r\n")
                del parts[state["run"] :]
                parts.append(run)
            state["capture"] = False
        elif name in _SI:
            strings.append(unescape_ooxml("".join(parts)))
        elif name in _RPH:
            state["phonetic"] -= 1

    def data(text: str) -> None:
        if state["capture"]:
            parts.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        for _ in feed(parser, source, file=file, part=part):
            pass
    except BaseException:
        strings.close()
        raise
    strings.finish()
    return strings
