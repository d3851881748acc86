"""Streaming multipart/form-data: the file part goes to disk chunk by chunk and stops at the size limit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.api.http import BadRequest
from services.core.errors import FileTooLarge, InputFileError

__all__ = ["ReceivedForm", "receive_file"]

_FIELD_MAX_BYTES = 64 * 1024
_FLUSH_BYTES = 1024 * 1024
# Room for the multipart framing and the small text fields around the file.
_ENVELOPE_BYTES = 256 * 1024
# File names longer than this are refused (most file systems allow 255 bytes).
FILENAME_MAX_CHARS = 255
_NAME_CONTROL = {chr(c) for c in (*range(32), *range(127, 160))}


@dataclass
class ReceivedForm:
    filename: str | None = None
    size_bytes: int = 0
    fields: dict[str, str] = field(default_factory=dict)


class _Parts:
    """MultipartParser callbacks: headers per part, the file's bytes buffered for the writer, small fields kept."""

    def __init__(self, file_field: str, max_bytes: int) -> None:
        self.file_field, self.max_bytes = file_field, max_bytes
        self.form = ReceivedForm()
        self.buffer = bytearray()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._text = bytearray()
        self.file_parts = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._text = {}, None, False, bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        self._is_file = self._name == self.file_field and filename is not None
        if self._is_file and filename is not None:
            self.file_parts += 1
            if self.file_parts > 1:
                raise BadRequest(f"send exactly one file in the form field {self.file_field!r}")
            # Only the last path segment: some browsers send a full client-side path.
            name = filename.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1].strip()
            _check_filename(name)
            self.form.filename = name or "upload"

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.form.size_bytes += end - start
            if self.form.size_bytes > self.max_bytes:
                raise FileTooLarge(
                    f"the file is larger than {self.max_bytes} bytes (max_file_bytes)", file=self.form.filename
                )
            self.buffer += data[start:end]
        else:
            self._text += data[start:end]
            if len(self._text) > _FIELD_MAX_BYTES:
                raise BadRequest(f"form field {self._name!r} is longer than {_FIELD_MAX_BYTES} bytes")

    def part_end(self) -> None:
        if not self._is_file and self._name:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")


def _check_filename(name: str) -> None:
    """Refuse names that would mislead people or logs: control characters, or absurd lengths."""
    if len(name) > FILENAME_MAX_CHARS:
        raise InputFileError(
            f"the file name is {len(name)} characters long, longer than {FILENAME_MAX_CHARS}; "
            "rename the file and upload it again",
            file=name[:40] + "...",
        )
    if not _NAME_CONTROL.isdisjoint(name):
        raise InputFileError(
            "the file name contains control characters; rename the file and upload it again", file=name
        )


async def receive_file(request: Request, dest: Path, max_bytes: int, *, file_field: str = "file") -> ReceivedForm:
    """Stream the request's ``file_field`` part into ``dest``; FileTooLarge (413) past ``max_bytes``, before reading the rest."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadRequest(f"send the file as multipart/form-data in the form field {file_field!r}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + _ENVELOPE_BYTES:
        raise FileTooLarge(
            f"the request is {declared} bytes; files may have at most {max_bytes} bytes (max_file_bytes)"
        )
    parts = _Parts(file_field, max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    out: IO[bytes] = await asyncio.to_thread(dest.open, "wb")
    received = 0
    try:
        async for chunk in request.stream():
            # The whole body too: without a Content-Length, many small fields (or huge part headers)
            # would otherwise grow in memory without bound.
            received += len(chunk)
            if received > max_bytes + _ENVELOPE_BYTES:
                raise FileTooLarge(
                    f"the request is larger than {max_bytes} bytes plus the form around the file (max_file_bytes)"
                )
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadRequest(f"the multipart body is malformed ({exc})") from None
            if len(parts.buffer) >= _FLUSH_BYTES:
                data, parts.buffer = bytes(parts.buffer), bytearray()
                await asyncio.to_thread(out.write, data)
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise BadRequest(f"the multipart body is malformed ({exc})") from None
        if parts.buffer:
            await asyncio.to_thread(out.write, bytes(parts.buffer))
    finally:
        await asyncio.to_thread(out.close)
    if parts.form.filename is None:
        raise BadRequest(f"no file in the form field {file_field!r}")
    return parts.form
