"""Zip-bomb guard: members are read through a counter that caps total inflated bytes and the ratio."""

from __future__ import annotations

import zipfile
import zlib

from services.core.errors import FileTooLarge, InputFileError
from services.ingest.readers.source import Source, open_binary, size_of

__all__ = ["GuardedZip", "Member", "MAX_RATIO", "RATIO_GRACE_BYTES"]

# Real sheets compress 5-50x; deflate bombs reach ~1000x. Small members may compress better
# (a few hundred bytes of XML), so the ratio is judged only past the grace size (as Apache POI does).
MAX_RATIO = 200
RATIO_GRACE_BYTES = 16 * 1024 * 1024


class Member:
    """A readable zip member that counts what it inflates against the archive-wide budget."""

    def __init__(self, owner: GuardedZip, info: zipfile.ZipInfo) -> None:
        self._owner, self._info = owner, info
        self._raw = owner.zip.open(info)
        # The central directory may lie about compress_size; it can never exceed the archive.
        self._packed = max(1, min(info.compress_size, owner.archive_bytes))
        self._inflated = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._raw.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            # A corrupt deflate stream, or sizes and CRC that do not match the data (spoofed headers).
            raise self._owner.damaged(self._info.filename, exc) from None
        self._inflated += len(data)
        self._owner.charge(len(data))
        if self._inflated > RATIO_GRACE_BYTES and self._inflated / self._packed > MAX_RATIO:
            raise FileTooLarge(
                f"the workbook part {self._info.filename} expands more than {MAX_RATIO} times "
                "when unpacked, which looks like a zip bomb; the file was refused",
                file=self._owner.name,
            )
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Member:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GuardedZip:
    def __init__(self, path: Source, *, name: str, max_uncompressed_bytes: int) -> None:
        self.name, self.limit, self.spent = name, max_uncompressed_bytes, 0
        self.archive_bytes = size_of(path)
        # A stored object is read with seeks (its directory, then each part), never fetched whole.
        self._file = open_binary(path)
        try:
            self.zip = zipfile.ZipFile(self._file)
        except (zipfile.BadZipFile, OSError) as exc:
            self._file.close()
            raise InputFileError(f"the workbook is not a readable .xlsx (zip) file: {exc}", file=name) from None
        # Some writers store Windows paths (xl\\workbook.xml); the part names are the same.
        self._names = {n.replace("\\", "/").lower(): n for n in self.zip.namelist()}

    def find(self, member: str) -> str | None:
        # Part names are case-insensitive in OOXML packages.
        return self._names.get(member.lstrip("/").lower())

    def open(self, member: str) -> Member:
        info = self.zip.getinfo(member)
        if info.file_size > self.limit:
            raise self._too_large()
        try:
            return Member(self, info)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise self.damaged(member, exc) from None

    def read(self, member: str) -> bytes:
        with self.open(member) as f:
            return f.read()

    def charge(self, n: int) -> None:
        self.spent += n
        if self.spent > self.limit:
            raise self._too_large()

    def damaged(self, member: str, exc: BaseException) -> InputFileError:
        return InputFileError(
            f"the workbook part {member} is damaged ({exc}); open the file in Excel, save it again and retry",
            file=self.name,
        )

    def _too_large(self) -> FileTooLarge:
        return FileTooLarge(
            f"the workbook unpacks to more than {self.limit} bytes (max_uncompressed_bytes); "
            "split it into smaller files",
            file=self.name,
        )

    def close(self) -> None:
        self.zip.close()
        self._file.close()
