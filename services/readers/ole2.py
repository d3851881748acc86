"""What an OLE2 compound file (the container of .xls, and of every encrypted Office file) holds."""

from __future__ import annotations

import os

from xlrd.compdoc import CompDoc

__all__ = ["ole2_streams", "ENCRYPTED_PACKAGE"]

# Office encrypts .xlsx/.xlsb/.xlsm by wrapping the package in an OLE2 file with these streams.
ENCRYPTED_PACKAGE = frozenset({"encryptedpackage", "encryptioninfo"})
_NAME = "EncryptedPackage".encode("utf-16-le")


def ole2_streams(path: str | os.PathLike[str]) -> set[str] | None:
    """Lower-cased names in the file's directory, or None when the directory itself is unreadable.

    A directory xlrd cannot walk is searched for the encrypted-package name as raw UTF-16 so an
    encrypted file with an odd directory is still recognised as encrypted.
    """
    with open(path, "rb") as f:
        data = f.read()
    with open(os.devnull, "w") as quiet:  # xlrd writes its warnings to a log file
        try:
            doc = CompDoc(data, logfile=quiet, ignore_workbook_corruption=True)
        except Exception:  # compdoc raises CompDocError, struct.error, IndexError on damaged directories
            return {"encryptedpackage"} if _NAME in data else None
    return {entry.name.lower() for entry in doc.dirlist}
