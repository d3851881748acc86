"""The compiled fast paths of cleansing (native/src/cleaner.rs) against the Python cleaners alone, on generated
values of every shape the fast paths take and many they must leave to Python: the same value, or the same
refusal, for every one; the same records, issues and keys for whole rows."""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import phonenumbers
import pytest
from crmio_native import PhoneFast
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from schemas.models import LEAD, Field, TargetModel
from services.cleansing import cleaning
from services.cleansing.cleaning import CleanOptions, Invalid, RecordCleaner, cleaner_for, default_policy
from services.cleansing.picklists import UnknownPolicy, value_key

ATOM = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"


def _outcome(clean: Callable[[str], object], text: str) -> object:
    try:
        value = clean(text)
    except Invalid as exc:
        return ("invalid", exc.message, exc.hint, exc.level, exc.kept, exc.sticky)
    return (type(value), value, str(value))


def _same_both_ways(monkeypatch: pytest.MonkeyPatch, field: Field, texts: list[str], options: CleanOptions) -> int:
    """Asserts one outcome per text both ways; returns how many texts the compiled path itself cleaned."""
    cleaner = cleaner_for(field, options)
    monkeypatch.setattr(cleaning, "COMPILED", False)
    python = [_outcome(cleaner.clean, t) for t in texts]
    monkeypatch.setattr(cleaning, "COMPILED", True)
    compiled = [_outcome(cleaner.clean, t) for t in texts]
    for text, want, got in zip(texts, python, compiled):
        assert got == want, f"{field.type} {text!r}"
    fast: Callable[[str], object | None]
    if field.type == "email":
        fast = cleaning.clean_email
    elif field.type == "phone":
        fast = cleaner.compiled.clean  # type: ignore[attr-defined]
    else:
        fast = cleaning.clean_money
    return sum(fast(t) is not None for t in texts)


def _emails(rng: random.Random, count: int) -> Iterator[str]:
    for _ in range(count):
        atoms = ["".join(rng.choices(ATOM, k=rng.choice((1, 3, 8, 30, 70)))) for _ in range(rng.randint(1, 3))]
        local = ".".join(atoms)
        labels = ["".join(rng.choices(string.ascii_letters + string.digits + "-", k=rng.randint(1, 12)))]
        labels += ["".join(rng.choices(string.ascii_lowercase, k=rng.choice((1, 2, 3, 6, 64))))]
        domain = ".".join(rng.sample(labels, 1) + labels[1:])
        address = f"{local}@{domain}"
        roll = rng.random()
        if roll < 0.05:
            address = address.replace("@", "@@")
        elif roll < 0.1:
            address = address.replace("@", " @")
        elif roll < 0.15:
            address = f"{local}@{domain}.xn--p1ai"
        elif roll < 0.2:
            address = f"{local}..x@{domain}"
        elif roll < 0.25:
            address = f"jos\u00e9.{local}@{domain}"
        elif roll < 0.3:
            address = f"{local}@{domain}" + "a" * rng.randint(150, 260)
        yield address


def test_email_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = list(_emails(random.Random(1), 4000))
    texts += ["A@B.CO", "a@b.c", "x" * 64 + "@example.com", "x" * 65 + "@example.com", "a@-b.com", "a@b-.com"]
    fast = _same_both_ways(monkeypatch, LEAD.field("email"), texts, CleanOptions())
    assert 1000 < fast < len(texts)  # both the fast path and the Python one are exercised


def _amounts(rng: random.Random, count: int) -> Iterator[str]:
    for _ in range(count):
        whole = str(rng.choice((0, 7, 45, 999, 1000, 123456, 10**15 + 3, 10**16 - 1, 10**16, 10**19)))
        if rng.random() < 0.2:
            whole = "0" * rng.randint(1, 3) + whole
        sep, point = rng.choice(((",", "."), (".", ","), (" ", ","), ("'", "."), ("", ".")))
        if sep and rng.random() < 0.7:
            groups = []
            while len(whole) > 3:
                whole, groups = whole[:-3], [whole[-3:], *groups]
            whole = sep.join([whole, *groups])
        places = rng.choice(("", "", "5", "50", "05", "125", "9999"))
        body = whole + (point + places if places else "")
        sign = rng.choice(("", "", "-", "+", "\u2212"))
        currency = rng.choice(("", "", "$", "\u20ac", "USD ", "US$"))
        text = f"{sign}{currency}{body}" if rng.random() < 0.7 else f"{currency}{sign}{body}"
        if rng.random() < 0.1:
            text = f"({text})"
        if rng.random() < 0.05:
            text = text + " \u20ac"
        yield text


def test_money_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = list(_amounts(random.Random(2), 5000)) + ["0", "-0", "+0.00", ".5", "1.", "1,2,3", "12abc", "$"]
    fast = _same_both_ways(monkeypatch, LEAD.field("annual_revenue"), texts, CleanOptions())
    assert 400 < fast < len(texts)
    custom = Field("rate", "decimal", max_length=None, custom=True)
    _same_both_ways(monkeypatch, custom, texts[:500], CleanOptions())


def _phones(rng: random.Random) -> Iterator[str]:
    formats = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                for fmt in formats:
                    yield phonenumbers.format_number(number, fmt)
    for _ in range(3000):
        digits = "".join(rng.choices(string.digits, k=rng.randint(1, 16)))
        text = rng.choice(("", "+", "00", "0", "1", "+0", "+1 ", "+44 ", "(")) + digits
        if rng.random() < 0.3:
            text = " ".join(text[i : i + 3] for i in range(0, len(text), 3))
        if rng.random() < 0.1:
            text = text.replace(" ", rng.choice(("-", ".", "/", ") ")))
        if rng.random() < 0.05:
            text += rng.choice((" x12", " ext. 7", "#3", "\u00a0", "a"))
        yield text


@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU"])
def test_phone_both_ways(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    texts = list(_phones(random.Random(region)))
    fast = _same_both_ways(monkeypatch, LEAD.field("phone"), texts, CleanOptions(phone_region=region))
    assert 300 < fast < len(texts)


def _cells(rng: random.Random, count: int) -> Iterator[str | None]:
    odd = ("", " ", "\t", "\u00a0", "\u200b", "\x07", "\ufeff", "é", "  \n")
    for _ in range(count):
        roll = rng.random()
        if roll < 0.05:
            yield None
        elif roll < 0.15:
            yield rng.choice(odd)
        else:
            text = "".join(rng.choices(string.printable[:95], k=rng.choice((1, 5, 20, 99, 100, 101, 300))))
            if rng.random() < 0.2:
                text = rng.choice(odd) + text + rng.choice(odd)
            yield text


REPEATED = {
    "lead_source": ["Web", "web", " Referral ", "Fair", "n/a", "Billboard", "Trade-Show", "Caf\u00e9", "", "x" * 300],
    "status": ["New", "contacted", "QUALIFIED", "Lost", "Dead", "", "\tNew"],
    "website": ["acme.com", "https://www.Acme.com/x", "ftp://acme.com", "not a site", "n/a", "www.acme.co.uk:8080"],
    "converted_date": ["2024-03-04", "03/04/2024", "31/12/2024", "2024-02-30", "March 2024", "45292", "1990", "soon"],
    "number_of_employees": ["1,200", "45", "12.5", "300.0", "many", "99999999999999999999", ""],
}


def test_records_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole rows: random text, e-mail, phone and amount cells, blanks and odd characters, under several jobs' rules."""
    rng = random.Random(3)
    emails, amounts, phones = list(_emails(rng, 600)), list(_amounts(rng, 600)), list(_phones(rng))
    rows = []
    for _ in range(3000):
        cells = list(_cells(rng, 4))
        rows.append(
            {
                "first_name": cells[0],
                "last_name": cells[1] if rng.random() < 0.5 else "Doe",
                "email": rng.choice(emails) if rng.random() < 0.8 else cells[2],
                "phone": rng.choice(phones),
                "mobile_phone": rng.choice(phones) if rng.random() < 0.5 else "",
                "annual_revenue": rng.choice(amounts) if rng.random() < 0.8 else cells[3],
                "company": " Acme ",
                "not_a_field": "x",
                # Types whose values repeat: their clean outcomes are remembered, their issues never.
                "lead_source": rng.choice(REPEATED["lead_source"]),
                "status": rng.choice(REPEATED["status"]),
                "website": rng.choice(REPEATED["website"]),
                "converted_date": rng.choice(REPEATED["converted_date"]),
                "number_of_employees": rng.choice(REPEATED["number_of_employees"]),
            }
        )
    custom = Field("budget", "decimal", max_length=None, custom=True)
    model = TargetModel("lead", LEAD.table, (*LEAD.fields, custom), LEAD.match_fields)
    source = default_policy("lead", LEAD.field("lead_source"))
    status = default_policy("lead", LEAD.field("status"))
    policies = {
        "lead_source": replace(
            source, mapped={value_key("Fair"): "Trade Show", value_key("n/a"): None}, unknown=UnknownPolicy("add")
        ),
        "status": replace(status, unknown=UnknownPolicy("map", "New")),
    }
    jobs: list[tuple[TargetModel, dict[str, object]]] = [
        (LEAD, {"rules": None, "values": policies}),
        (LEAD, {"rules": None, "values": {"status": replace(status, unknown=UnknownPolicy("fail"))}}),
        (LEAD, {"rules": None}),
        (LEAD, {"rules": {"email": {"required": True}}, "strict": True}),
        (LEAD, {"rules": {"first_name": {"max_length": 20}, "annual_revenue": {"min": 0}}}),
        (LEAD, {"rules": None, "required_to_create": True, "options": CleanOptions(phone_region="GB")}),
        (model, {"rules": None}),
    ]
    for target, job in jobs:
        kwargs = {"options": CleanOptions(), **job}
        monkeypatch.setattr(cleaning, "COMPILED", False)
        python = RecordCleaner(target, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(cleaning, "COMPILED", True)
        compiled = RecordCleaner(target, **kwargs)  # type: ignore[arg-type]
        for row in rows:
            if target is model:
                row = {**row, "budget": row["annual_revenue"]}
            want, got = python.clean(row), compiled.clean(row)
            assert (got.values, got.issues, got.match_key, got.needs) == (
                want.values,
                want.issues,
                want.match_key,
                want.needs,
            ), row
            assert [type(v) for v in got.values.values()] == [type(v) for v in want.values.values()], row
            assert list(got.values) == list(want.values), row  # the row's order
        assert compiled.added_values() == python.added_values()


def test_phone_patterns_are_built_outside_the_lock_so_threads_cannot_deadlock() -> None:
    """A region's patterns come from Python, which may hand the GIL to another thread: one holding the patterns'
    lock meanwhile would leave the other waiting for it with the GIL held, both stuck for good."""
    built = []

    def patterns_of(code: int) -> tuple[str | None, str | None]:
        time.sleep(0.05)  # gives the GIL away, as a long pattern build may
        built.append(code)
        return cleaning._pattern_texts(code)

    phone = PhoneFast(1, "1", list(phonenumbers.COUNTRY_CODE_TO_REGION_CODE), patterns_of)
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(phone.clean("+44 20 7946 0958"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "cleaning threads deadlocked on the phone patterns"
    assert results == ["+442079460958"] * 4
    assert set(built) == {44}
