"""What an OLE2 compound file (the container of .xls, and of every encrypted Office file) holds."""

from __future__ import annotations

import os

from xlrd.compdoc import CompDoc

__all__ = ["inspect_ole2", "ENCRYPTED_PACKAGE"]

# Office encrypts .xlsx/.xlsb/.xlsm by wrapping the package in an OLE2 file with these streams.
ENCRYPTED_PACKAGE = frozenset({"encryptedpackage", "encryptioninfo"})
_NAME = "EncryptedPackage".encode("utf-16-le")


_FILEPASS, _BOUNDSHEET, _EOF = 0x002F, 0x0085, 0x000A


def _biff_encrypted(stream: bytes) -> bool:
    """True when the workbook globals hold a FILEPASS record (a password-encrypted .xls).

    FILEPASS follows the first BOF and precedes the sheet list, so only the head is walked.
    """
    pos = 0
    while pos + 4 <= len(stream):
        kind, size = (
            int.from_bytes(stream[pos : pos + 2], "little"),
            int.from_bytes(stream[pos + 2 : pos + 4], "little"),
        )
        if kind == _FILEPASS:
            return True
        if kind in (_BOUNDSHEET, _EOF):
            return False
        pos += 4 + size
    return False


def inspect_ole2(path: str | os.PathLike[str]) -> tuple[set[str] | None, bool]:
    """(lower-cased stream names or None when the directory is unreadable, whether an .xls is encrypted).

    A directory xlrd cannot walk is searched for the encrypted-package name as raw UTF-16 so an
    encrypted file with an odd directory is still recognised as encrypted.
    """
    with open(path, "rb") as f:
        data = f.read()
    with open(os.devnull, "w") as quiet:  # xlrd writes its warnings to a log file
        try:
            doc = CompDoc(data, logfile=quiet, ignore_workbook_corruption=True)
        except Exception:  # compdoc raises CompDocError, struct.error, IndexError on damaged directories
            return ({"encryptedpackage"} if _NAME in data else None), False
        names = {entry.name.lower() for entry in doc.dirlist}
        encrypted = False
        for stream in ("Workbook", "Book"):
            if stream.lower() in names:
                try:
                    mem, base, size = doc.locate_named_stream(stream)
                except Exception:  # a damaged stream chain: the reader reports it
                    break
                encrypted = mem is not None and _biff_encrypted(bytes(mem[base : base + min(size, 1 << 20)]))
                break
    return names, encrypted
