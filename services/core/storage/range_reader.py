"""A seekable binary reader over an object's ranged GETs: sequential reads stream through windows that double
(256 KiB up to 64 MiB, so a 100 MB file takes about ten requests) and a seek starts a small window at the
new place, so a zip's directory and members are read without fetching the rest (the .xlsx reader)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Body", "RangeReader", "open_ranges"]

MIN_WINDOW = 256 * 1024
MAX_WINDOW = 64 * 1024 * 1024
ATTEMPTS = 3


class Body(Protocol):
    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


class RangeReader(io.RawIOBase):
    """``fetch(first, last)`` returns the body of bytes ``first..last`` (inclusive); ``broken`` tells the
    errors worth reopening the range for (a connection dropped mid-body), ``fail`` turns the last one into
    the error to raise."""

    def __init__(
        self,
        fetch: Callable[[int, int], Body],
        size: int,
        *,
        broken: tuple[type[BaseException], ...] = (OSError,),
        fail: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        super().__init__()
        self._fetch, self._size, self._broken, self._fail = fetch, size, broken, fail
        self._pos = 0
        self._body: Body | None = None
        self._end = 0  # first byte after the open window
        self._window = MIN_WINDOW
        self.requests = 0
        self.fetched = 0  # bytes asked for

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop()
            self._window = MIN_WINDOW
            self._pos = target
        return self._pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._pos >= self._size or not len(view):
            return 0
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if self._body is None or self._pos >= self._end:
                    self._open_window()
                assert self._body is not None
                data = self._body.read(min(len(view), self._end - self._pos))
                if not data:
                    raise ConnectionError("the object's body ended early")
                view[: len(data)] = data
                self._pos += len(data)
                return len(data)
            except self._broken as exc:
                self._drop()
                if attempt == ATTEMPTS:
                    raise (self._fail(exc) if self._fail else exc) from exc
        return 0  # not reached

    def _open_window(self) -> None:
        if self._body is not None:
            self._drop()
            self._window = min(self._window * 2, MAX_WINDOW)  # reading on: a larger window
        self._end = min(self._size, self._pos + self._window)
        self._body = self._fetch(self._pos, self._end - 1)
        self.requests += 1
        self.fetched += self._end - self._pos

    def _drop(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            try:
                body.close()
            except Exception:  # noqa: BLE001 - a broken connection closes as it can
                pass

    def close(self) -> None:
        self._drop()
        super().close()


def open_ranges(raw: RangeReader, buffer_bytes: int = 256 * 1024) -> io.BufferedReader:
    """The reader readers take: buffered, so their small reads never become requests."""
    return io.BufferedReader(raw, buffer_size=buffer_bytes)
