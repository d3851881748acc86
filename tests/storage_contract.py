"""What every storage backend does, checked the same way on each: the local folder (unit tier) and S3 on a real
S3 API server (integration tier)."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pytest

from services.core.errors import InputFileError, NotFound
from services.core.storage import Storage

# Paths a request or a forged row could carry to reach another company's files or outside storage.
ESCAPES = (
    "../{other}/uploads/b.csv",
    "/etc/passwd",
    "uploads/../../{other}/uploads/b.csv",
    "./uploads/a.csv",
    "",
    "a\x00b",
)


def _source(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def check_contract(store: Storage, tmp: Path) -> None:
    """Store, measure, read (whole, streamed, ranges), list, move, download, remove: each scoped to its company."""
    company, other = str(uuid.uuid4()), str(uuid.uuid4())
    data = os.urandom(300_000) + b"the end"
    rel = store.store_file(company, _source(tmp, "a.csv", data), suffix=".csv")
    theirs = store.store_file(other, _source(tmp, "b.csv", b"other company"), suffix=".csv")
    assert rel.startswith("uploads/") and rel.endswith(".csv")
    assert store.size(company, rel) == len(data)
    assert store.size(other, rel) is None  # the same name is no file of the other company

    stored = store.file(company, rel)
    assert stored.size == len(data) and stored.name == rel.rsplit("/", 1)[1]
    with stored.open() as f:
        assert f.read() == data
    with stored.open() as f:  # range reads: the end, then back to the middle
        assert f.seek(-7, io.SEEK_END) == len(data) - 7 and f.read() == b"the end"
        f.seek(1000)
        assert f.read(50) == data[1000:1050] and f.tell() == 1050
    with stored.local_path() as local:
        assert local.read_bytes() == data
    copy = tmp / "copy.bin"
    store.download(company, rel, copy)
    assert copy.read_bytes() == data

    listed = store.list(company, "uploads")
    assert [(f.rel, f.size) for f in listed] == [(rel, len(data))] and listed[0].modified > 0
    assert store.list(company, "nothing-here") == []

    for escape in (e.format(other=other) for e in ESCAPES):
        assert store.size(company, escape) is None
        with pytest.raises((InputFileError, NotFound)):
            store.file(company, escape)
    with pytest.raises(NotFound):
        store.file(company, theirs)
    assert store.remove(company, [e.format(other=other) for e in ESCAPES] + [theirs]) == (0, 0)
    assert store.size(other, theirs) == len(b"other company")

    scratch = store.new_scratch(".csv")
    scratch.write_bytes(b"a,b\n1,2\n")
    assert store.put(company, "exports/x.csv", scratch, move=True) == 8
    assert not scratch.exists()
    store.move(company, "exports/x.csv", "drop/in/x.csv")
    assert store.size(company, "exports/x.csv") is None and store.size(company, "drop/in/x.csv") == 8
    assert [f.rel for f in store.list(company, "drop/in")] == ["drop/in/x.csv"]
    assert store.list(company, "drop") == []  # only the files directly in the folder

    assert store.remove(company, [rel, "drop/in/x.csv", "uploads/missing.csv"]) == (2, len(data) + 8)
    assert store.size(company, rel) is None
    with pytest.raises(NotFound):
        store.file(company, rel)
    assert store.remove(other, [theirs]) == (1, len(b"other company"))
