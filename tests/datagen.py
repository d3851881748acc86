"""Generated lead files with known duplicates, invalid rows and matches of stored records, plus the
oracle: what the CRM must hold after importing them in each duplicate mode.

The oracle is written independently of services/apply/batch.py: it knows which rows were made as
duplicates or invalid, not how the pipeline decides.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

__all__ = ["HEADERS", "LeadFile", "make_leads", "iter_leads", "write_csv", "write_xlsx", "write_json", "expected"]

HEADERS = [
    "First Name",
    "Last Name",
    "E-mail",
    "Phone",
    "Company Name",
    "Title",
    "Lead Source",
    "Status",
    "Annual Revenue",
    "City",
    "Country",
    "Website",
]
_SOURCES = ["Web", "Referral", "partner", "EVENT", "Cold Call", "email_campaign"]
_STATUSES = ["New", "contacted", "Qualified", "unqualified"]
_CITIES = ["London", "Paris", "Berlin", "Lisbon", "Austin", "Toronto", "Sydney", "Osaka"]


@dataclass
class LeadFile:
    rows: list[list[str]]
    invalid: set[int] = field(default_factory=set)  # record numbers made invalid
    stored: dict[str, str] = field(default_factory=dict)  # normalized email -> title of a stored record


def _vary(email: str, rng: random.Random) -> str:
    """The same address as a person would retype it: other case, stray spaces."""
    choice = rng.randrange(3)
    if choice == 0:
        return email.upper()
    if choice == 1:
        return f"  {email.title()} "
    return f" {email}"


def make_leads(
    n: int,
    *,
    seed: int = 7,
    dup_rate: float = 0.05,
    invalid_rate: float = 0.02,
    stored_rate: float = 0.03,
    stored: int = 0,
) -> LeadFile:
    """``n`` data rows; ``stored`` records are to be stored before the import (see LeadFile.stored)."""
    lf = LeadFile(rows=[])
    lf.stored = {f"stored{i}.{seed}@example.com": f"Stored title {i}" for i in range(stored)}
    lf.rows.extend(
        iter_leads(
            n,
            seed=seed,
            dup_rate=dup_rate,
            invalid_rate=invalid_rate,
            stored_rate=stored_rate,
            stored=list(lf.stored),
            invalid=lf.invalid,
        )
    )
    return lf


def iter_leads(
    n: int,
    *,
    seed: int = 7,
    dup_rate: float = 0.05,
    invalid_rate: float = 0.02,
    stored_rate: float = 0.03,
    stored: Sequence[str] = (),
    invalid: set[int] | None = None,
) -> Iterator[list[str]]:
    """The rows of make_leads one at a time, for files bigger than memory; the numbers of the rows made
    invalid are added to ``invalid``, and ``stored`` are the emails of the records stored before."""
    rng = random.Random(seed)
    seen: list[str] = []
    for number in range(1, n + 1):
        r = rng.random()
        first, last = f"First{number}", f"Last{number}"
        if r < invalid_rate:
            if invalid is not None:
                invalid.add(number)
            if number % 2:
                email, last = f"lead{number}.{seed}@example.com", ""
            else:
                email = f"lead{number}.{seed}@"
        elif r < invalid_rate + dup_rate and seen:
            email = _vary(rng.choice(seen), rng)
        elif r < invalid_rate + dup_rate + stored_rate and stored:
            email = _vary(rng.choice(stored), rng)
        else:
            email = f"lead{number}.{seed}@example.com"
            seen.append(email)
        yield [
            first,
            last,
            email,
            rng.choice(
                [
                    f"+1 415 555 {number % 10000:04d}",
                    f"(212) 555-{number % 10000:04d}",
                    f"+44 20 7946 {number % 10000:04d}",
                ]
            ),
            f"Company {number % 997}",
            f"Title {number}",
            rng.choice(_SOURCES),
            rng.choice(_STATUSES),
            rng.choice(["", f"${number * 13:,}.50", str(number * 100)]),
            rng.choice(_CITIES),
            "Country",
            f"https://www.company{number % 997}.example",
        ]


def expected(lf: LeadFile, mode: str) -> tuple[Counter[tuple[str, str]], dict[str, int]]:
    """(multiset of (email, title) the company must hold, outcome counts) after importing ``lf``."""
    records: dict[str, list[str]] = {e: [t] for e, t in lf.stored.items()}
    counts = {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
    for number, row in enumerate(lf.rows, start=1):
        if number in lf.invalid:
            counts["failed"] += 1
            continue
        email, title = row[2].strip().lower(), row[5]
        if mode == "create_new" or email not in records:
            records.setdefault(email, []).append(title)
            counts["created"] += 1
        elif mode == "skip":
            counts["skipped"] += 1
        else:
            records[email][0] = title
            counts["updated"] += 1
    return Counter((e, t) for e, titles in records.items() for t in titles), counts


Rows = LeadFile | Iterable[list[str]]  # a writer takes a LeadFile or rows one at a time (iter_leads)


def _rows(lf: Rows) -> Iterable[list[str]]:
    return lf.rows if isinstance(lf, LeadFile) else lf


def write_csv(lf: Rows, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADERS)
        w.writerows(_rows(lf))
    return path


def write_json(lf: Rows, path: Path) -> Path:
    with path.open("wb") as f:
        f.write(b"[\n")
        for i, row in enumerate(_rows(lf)):
            if i:
                f.write(b",\n")
            f.write(orjson.dumps(dict(zip(HEADERS, row))))
        f.write(b"\n]\n")
    return path


def write_xlsx(lf: Rows, path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Leads")
    ws.append(HEADERS)
    for row in _rows(lf):
        ws.append(row)
    wb.save(path)
    return path
