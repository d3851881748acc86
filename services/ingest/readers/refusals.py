"""Typed refusals the readers and the upload check share: each message says what is wrong and what to do."""

from __future__ import annotations

from services.core.errors import InputFileError

__all__ = ["EncryptedWorkbook", "encrypted", "SheetTooLargeToHold"]

_REMEDY = {
    "excel": "remove the password in Excel (File > Info > Protect Workbook > Encrypt with Password, "
    "clear the password, save) and upload again",
    "ods": 'remove the password in LibreOffice (File > Save As, untick "Save with password") and upload again',
}


class EncryptedWorkbook(InputFileError):
    """The workbook is encrypted with a password; only its owner can remove it."""


def encrypted(file: str | None, producer: str = "excel") -> EncryptedWorkbook:
    return EncryptedWorkbook(f"the workbook is protected with a password: {_REMEDY[producer]}", file=file)


class SheetTooLargeToHold(InputFileError):
    """A format read by a library that holds the whole sheet exceeds the memory bound set for it."""

    http_status = 413
