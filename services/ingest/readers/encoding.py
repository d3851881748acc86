"""Text encoding detection for CSV: BOM first, then strict UTF-8, then charset-normalizer."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from services.core.errors import InputFileError
from services.ingest.readers.source import Source, open_binary

__all__ = ["SAMPLE_BYTES", "bom_encoding", "detect_encoding", "check_encoding", "find_undecodable"]

SAMPLE_BYTES = 64 * 1024
_WESTERN = "cp1252"
_CHAOS_TOLERANCE = 10.0  # percentage points of charset-normalizer's "mess" measure

# UTF-32 first: its LE BOM starts with the UTF-16 LE BOM.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(head: bytes) -> str | None:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def _is_utf8(sample: bytes, at_eof: bool) -> bool:
    try:
        # Incremental so a sample cut inside a multi-byte character still counts as UTF-8.
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=at_eof)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(sample: bytes, *, at_eof: bool, file: str) -> str:
    """The encoding of a file whose first bytes are ``sample``; ``at_eof`` if that is the whole file."""
    named = bom_encoding(sample)
    if named:
        return named
    if _is_utf8(sample, at_eof):
        return "utf-8"
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        raise InputFileError(
            "cannot tell the text encoding of the file; save it as UTF-8 or choose its encoding",
            file=file,
        )
    # On short samples charset-normalizer often ranks a rare code page (cp775, mac_latin2) level
    # with Windows-1252, by far the most common legacy encoding of spreadsheet exports: prefer it
    # when it reads the sample about as cleanly.
    for match in matches:
        if (
            _WESTERN in (match.encoding, *match.could_be_from_charset)
            and match.percent_chaos <= best.percent_chaos + _CHAOS_TOLERANCE
        ):
            return _WESTERN
    return codecs.lookup(best.encoding).name


def check_encoding(name: str, head: bytes, file: str) -> str:
    """Validate an explicitly chosen encoding; a UTF-8 BOM is still skipped when UTF-8 was chosen."""
    try:
        info = codecs.lookup(name)
    except (LookupError, TypeError, ValueError):  # ValueError: a name with a NUL in it
        raise InputFileError(
            f"unknown text encoding {name!r}; choose one such as utf-8, utf-16 or cp1252", file=file
        ) from None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib_codec, rot13: bytes or text transforms
        raise InputFileError(
            f"{name!r} is not a text encoding (it transforms bytes or text); choose one such as utf-8, utf-16 or cp1252",
            file=file,
        )
    canonical = info.name
    if canonical == "utf-8" and head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return canonical


def find_undecodable(path: Source, encoding: str) -> int | None:
    """Byte offset of the first byte sequence that ``encoding`` cannot decode (error path only)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    consumed = 0
    with open_binary(path) as f:
        while True:
            chunk = f.read(1024 * 1024)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # The decoder saw its pending bytes plus this chunk; exc.start counts from there.
                return consumed - pending + exc.start
            if not chunk:
                return None
            consumed += len(chunk)
