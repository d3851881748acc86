"""Hardened expat parsers for workbook XML: any DTD is refused, so no entity is ever expanded or fetched."""

from __future__ import annotations

import pyexpat
from collections.abc import Iterator
from typing import NoReturn, Protocol

from services.core.errors import InputFileError

__all__ = ["UnsafeXml", "Readable", "make_parser", "feed", "CHUNK_BYTES"]

CHUNK_BYTES = 256 * 1024


class UnsafeXml(InputFileError):
    """The XML declares a DTD or entities: never needed in a workbook, the classic XXE/bomb vector."""


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def _refuse(*_: object) -> NoReturn:
    raise UnsafeXml("the workbook's XML declares a DTD or entities, which workbooks never need; refused")


def make_parser(*, ordered: bool = True) -> pyexpat.XMLParserType:
    """A namespace-aware parser ("<uri> <local>" names) refusing DTDs and entities."""
    parser = pyexpat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.buffer_size = 64 * 1024
    parser.ordered_attributes = ordered
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def feed(
    parser: pyexpat.XMLParserType, source: Readable, *, file: str, part: str, first: bytes | None = None
) -> Iterator[None]:
    """Parse ``source`` chunk by chunk, yielding after each so callers drain what handlers collected.

    ``first`` is a chunk already read from ``source`` (to peek at the namespace).
    """
    while True:
        chunk, first = (source.read(CHUNK_BYTES), None) if first is None else (first, None)
        try:
            parser.Parse(chunk, not chunk)
        except UnsafeXml:
            raise UnsafeXml(
                f"the workbook part {part} declares a DTD or entities, which workbooks never need (a way to "
                "read server files or exhaust memory), so the file was refused; save it again from Excel",
                file=file,
            ) from None
        except pyexpat.ExpatError as exc:
            raise InputFileError(
                f"the workbook part {part} is not well-formed XML ({exc}); open and save the file "
                "in Excel, then try again",
                file=file,
            ) from None
        yield
        if not chunk:
            return
