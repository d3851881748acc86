"""Cost of cleaning a typical 12-field lead row (µs/row, rows/s), and of the splitter's match key.

The cleaner's Python steps alone and with native/src/cleaner.rs's fast paths, 5 rounds in turns.

Run: .venv/bin/python bench/bench_cleaning.py [rows]
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable

from schemas.models import LEAD
from services.cleansing import cleaning
from services.cleansing.cleaning import CleanOptions, RecordCleaner, match_key

__all__ = ["lead_rows", "main"]

_FIRST = ("Jane", "John", "María", "Li", "Olivia", "Noah", "Émile", "Priya", "Ahmed", "Sophie")
_LAST = ("Doe", "Smith", "García", "Wang", "O'Brien", "Nguyen", "Müller", "Patel", "Kowalski", "Dubois")
_COMPANIES = (
    "Acme Inc",
    "Globex Corporation",
    "Initech LLC",
    "Umbrella Corp.",
    "Stark Industries",
    "Wayne Enterprises",
)
_SOURCES = ("Web", "Cold Call", "referral", "Trade Show", "email_campaign", "Partner")
_STATUSES = ("New", "contacted", "Qualified", "NEW")
_ASCII = str.maketrans("íéüÉ", "ieuE")
_AREAS = (415, 212, 312, 646, 617, 206, 303, 512, 213, 404)


def _phone(rng: random.Random) -> str:
    area, exchange, line = rng.choice(_AREAS), rng.randint(200, 999), rng.randint(0, 9999)
    roll = rng.random()
    if roll < 0.45:
        return f"({area}) {exchange}-{line:04d}"
    if roll < 0.65:
        return f"{area}-{exchange}-{line:04d}"
    if roll < 0.80:
        return f"+1 {area} {exchange} {line:04d}"
    if roll < 0.90:
        return f"+44 20 7946 {line % 1000:04d}"
    if roll < 0.98:
        return f"+1{area}{exchange}{line:04d}"
    return f"{area}.{exchange}.{line:04d} x{rng.randint(1, 999)}"  # extension: phonenumbers' slow path


def _date(rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2015, 2025)
    return rng.choice((f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}", f"{day} Mar {year}"))


def _revenue(rng: random.Random) -> str:
    amount = rng.randint(10_000, 90_000_000)
    return rng.choice((f"${amount:,}.50", str(amount), f"{amount:,}".replace(",", ".") + ",00 €"))


def lead_rows(count: int, seed: int = 7) -> list[dict[str, str | None]]:
    """``count`` distinct, realistic mapped lead rows (12 fields, a few blanks)."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        first, last, company = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_COMPANIES)
        domain = company.split()[0].lower() + ".com"
        local = f"{first}.{last}{n}".translate(_ASCII).replace("'", "")
        rows.append(
            {
                "first_name": f" {first} ",
                "last_name": last,
                "email": f"{local}@{domain}".upper() if n % 5 == 0 else f"{local}@{domain}",
                "phone": _phone(rng),
                "mobile_phone": _phone(rng) if rng.random() < 0.6 else "",
                "company": company,
                "website": rng.choice((f"https://www.{domain}/about", f"www.{domain}", domain)),
                "lead_source": rng.choice(_SOURCES),
                "status": rng.choice(_STATUSES),
                "annual_revenue": _revenue(rng),
                "number_of_employees": rng.choice(("1,200", "45", "1 200", "300.0", "")),
                "converted_date": _date(rng),
            }
        )
    return rows


def _per_row_us(
    fn: Callable[[dict[str, str | None]], object], rows: list[dict[str, str | None]], repeats: int
) -> float:
    """Median over ``repeats`` passes of the mean cost per row, in µs."""
    for row in rows[:2000]:  # warm caches (regex, phone metadata)
        fn(row)
    passes = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for row in rows:
            fn(row)
        passes.append((time.perf_counter_ns() - start) / len(rows) / 1000)
    return statistics.median(passes)


def _cleaner(compiled: bool) -> RecordCleaner:
    cleaning.COMPILED = compiled  # read as the cleaner is built (its row step) and by its cleaners per value
    return RecordCleaner(LEAD, {"email": {"required": True}}, CleanOptions(date_order="MDY", phone_region="US"))


def _clean_us(compiled: bool, rows: list[dict[str, str | None]]) -> float:
    cleaner = _cleaner(compiled)
    return _per_row_us(cleaner.clean, rows, 3)


def main(argv: list[str]) -> None:
    count = int(argv[1]) if len(argv) > 1 else 20_000
    rows = lead_rows(count)
    failed = sum(not _cleaner(True).clean(r).ok for r in rows)
    python_us, compiled_us = [], []
    for _ in range(5):  # in turns, so both meet the same machine
        python_us.append(_clean_us(False, rows))
        compiled_us.append(_clean_us(True, rows))
    ratios = [c / p for c, p in zip(compiled_us, python_us, strict=True)]
    key_rows = [{"email": r["email"]} for r in rows]
    key_us = _per_row_us(lambda r: match_key(LEAD, r), key_rows, 7)
    print(f"rows: {count} distinct 12-field lead rows ({failed} with errors), Python {sys.version.split()[0]}")
    for name, runs in (("Python", python_us), ("compiled", compiled_us)):
        us = statistics.median(runs)
        print(
            f"RecordCleaner.clean, {name + ':':9} {us:.2f} µs/row ({min(runs):.2f}-{max(runs):.2f}; "
            f"{1e6 / us:,.0f} rows/s on one core)"
        )
    print(
        f"compiled / Python, same round: median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(f"match_key (lead):    {key_us:.2f} µs/row")


if __name__ == "__main__":
    main(sys.argv)
