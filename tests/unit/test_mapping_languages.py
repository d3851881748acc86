"""Column suggestions from headers in seven languages, from the columns' values, and flags before a job runs."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from schemas.header_words import HEADER_WORDS, LANGUAGES, NOT_A_FIELD
from schemas.models import ACCOUNT, CONTACT, LEAD, MODELS, TargetModel
from services.core.errors import InputFileError
from services.ingest.column_sniffing import column_samples, mapping_flags, peek_rows, sample_file, sniff_column
from services.ingest.mapping import (
    DEFAULT_CONFIDENCE,
    Suggestion,
    default_mapping,
    normalize_header,
    suggest_mapping,
)
from services.ingest.readers import ReaderLimits
from services.ingest.readers.base import RawRow
from services.ingest.splitter import open_import, split_rows

# ----------------------------------------------------------------- headers, seven languages

HEADERS: list[tuple[str, TargetModel, str, str | None]] = [
    # English: the headers of public CRM sample files
    ("en", LEAD, "Email 1", "email"),
    ("en", LEAD, "Phone 1", "phone"),
    ("en", LEAD, "Phone 2", "mobile_phone"),
    ("en", LEAD, "Deal Stage", "status"),
    ("en", LEAD, "Source", "lead_source"),
    ("en", LEAD, "Company", "company"),
    ("en", LEAD, "Website", "website"),
    ("en", LEAD, "Country", "country"),
    ("en", LEAD, "Number of employees", "number_of_employees"),
    ("en", LEAD, "Customer Id", "external_id"),
    ("en", LEAD, "Lead Owner", None),
    ("en", LEAD, "Index", None),
    ("en", LEAD, "Subscription Date", None),
    ("en", CONTACT, "Job Title", "title"),
    ("en", CONTACT, "Date of birth", "birthdate"),
    ("en", CONTACT, "Company", "account"),
    ("en", CONTACT, "User Id", "external_id"),
    ("en", CONTACT, "Sex", None),
    ("en", ACCOUNT, "Founded", "founded_date"),
    ("en", ACCOUNT, "Number of employees", "employees"),
    ("en", ACCOUNT, "Organization Id", "external_id"),
    ("en", ACCOUNT, "Country", "billing_country"),
    # German
    ("de", LEAD, "Vorname", "first_name"),
    ("de", LEAD, "Nachname", "last_name"),
    ("de", LEAD, "E-Mail-Adresse", "email"),
    ("de", LEAD, "Telefon", "phone"),
    ("de", LEAD, "Handy", "mobile_phone"),
    ("de", LEAD, "Firma", "company"),
    ("de", LEAD, "Unternehmen", "company"),
    ("de", LEAD, "Webseite", "website"),
    ("de", LEAD, "Branche", "industry"),
    ("de", LEAD, "Umsatz", "annual_revenue"),
    ("de", LEAD, "Mitarbeiter", "number_of_employees"),
    ("de", LEAD, "Quelle", "lead_source"),
    ("de", LEAD, "Stadt", "city"),
    ("de", LEAD, "Ort", "city"),
    ("de", LEAD, "Land", "country"),
    ("de", LEAD, "Anrede", None),
    ("de", CONTACT, "Geburtsdatum", "birthdate"),
    ("de", CONTACT, "Abteilung", "department"),
    ("de", CONTACT, "Firma", "account"),
    ("de", ACCOUNT, "Gründungsjahr", "founded_date"),
    ("de", ACCOUNT, "Firmenname", "name"),
    # French
    ("fr", LEAD, "Prénom", "first_name"),
    ("fr", LEAD, "PRENOM", "first_name"),
    ("fr", LEAD, "Nom de famille", "last_name"),
    ("fr", LEAD, "Courriel", "email"),
    ("fr", LEAD, "Téléphone", "phone"),
    ("fr", LEAD, "Entreprise", "company"),
    ("fr", LEAD, "Société", "company"),
    ("fr", LEAD, "Ville", "city"),
    ("fr", LEAD, "Pays", "country"),
    ("fr", LEAD, "Chiffre d'affaires", "annual_revenue"),
    ("fr", LEAD, "Secteur d'activité", "industry"),
    ("fr", CONTACT, "Date de naissance", "birthdate"),
    ("fr", ACCOUNT, "Site web", "website"),
    # Spanish
    ("es", LEAD, "Nombre", "first_name"),
    ("es", LEAD, "Apellidos", "last_name"),
    ("es", LEAD, "Correo electrónico", "email"),
    ("es", LEAD, "Teléfono", "phone"),
    ("es", LEAD, "Móvil", "mobile_phone"),
    ("es", LEAD, "Empresa", "company"),
    ("es", LEAD, "Ciudad", "city"),
    ("es", LEAD, "País", "country"),
    ("es", LEAD, "Fuente", "lead_source"),
    ("es", CONTACT, "Fecha de nacimiento", "birthdate"),
    ("es", ACCOUNT, "Número de empleados", "employees"),
    # Portuguese
    ("pt", LEAD, "Primeiro nome", "first_name"),
    ("pt", LEAD, "Sobrenome", "last_name"),
    ("pt", LEAD, "Telefone", "phone"),
    ("pt", LEAD, "Celular", "mobile_phone"),
    ("pt", LEAD, "Cidade", "city"),
    ("pt", LEAD, "Faturamento", "annual_revenue"),
    ("pt", CONTACT, "Data de nascimento", "birthdate"),
    ("pt", ACCOUNT, "Funcionários", "employees"),
    # Italian
    ("it", LEAD, "Nome", "first_name"),
    ("it", LEAD, "Cognome", "last_name"),
    ("it", LEAD, "Posta elettronica", "email"),
    ("it", LEAD, "Cellulare", "mobile_phone"),
    ("it", LEAD, "Azienda", "company"),
    ("it", LEAD, "Città", "city"),
    ("it", LEAD, "Fatturato", "annual_revenue"),
    ("it", LEAD, "Stato", "status"),
    ("it", CONTACT, "Reparto", "department"),
    ("it", ACCOUNT, "Dipendenti", "employees"),
    # Dutch
    ("nl", LEAD, "Voornaam", "first_name"),
    ("nl", LEAD, "Achternaam", "last_name"),
    ("nl", LEAD, "E-mailadres", "email"),
    ("nl", LEAD, "Telefoonnummer", "phone"),
    ("nl", LEAD, "Mobiel", "mobile_phone"),
    ("nl", LEAD, "Bedrijfsnaam", "company"),
    ("nl", LEAD, "Woonplaats", "city"),
    ("nl", LEAD, "Omzet", "annual_revenue"),
    ("nl", LEAD, "Bron", "lead_source"),
    ("nl", CONTACT, "Afdeling", "department"),
    ("nl", CONTACT, "Geboortedatum", "birthdate"),
]


@pytest.mark.parametrize(
    ("lang", "model", "header", "field"), HEADERS, ids=[f"{h[0]}-{h[1].name}-{h[2]}" for h in HEADERS]
)
def test_header_maps_like_its_english_form(lang: str, model: TargetModel, header: str, field: str | None) -> None:
    [s] = suggest_mapping(model, [header])
    assert s.field == field, s
    if field is None:
        return
    assert s.confidence >= DEFAULT_CONFIDENCE  # mapped without asking, as the English form is
    if lang != "en" and s.reason.startswith("header ("):
        assert LANGUAGES[lang] in s.reason[len("header (") : -1].split(", ")


def test_a_word_of_several_languages_names_them_all() -> None:
    [s] = suggest_mapping(LEAD, ["Empresa"])
    assert (s.field, s.reason) == ("company", "header (Spanish, Portuguese)")


def test_seven_languages_and_enough_headers() -> None:
    assert {h[0] for h in HEADERS} == {"en", *LANGUAGES}
    assert len(HEADERS) >= 60


def test_a_german_file_maps_whole() -> None:
    headers = ["Anrede", "Vorname", "Nachname", "E-Mail", "Telefon", "Firma", "Straße", "PLZ", "Ort", "Land", "Quelle"]
    assert default_mapping(LEAD, headers) == {
        "Vorname": "first_name",
        "Nachname": "last_name",
        "E-Mail": "email",
        "Telefon": "phone",
        "Firma": "company",
        "Ort": "city",
        "Land": "country",
        "Quelle": "lead_source",
    }


@pytest.mark.parametrize(
    ("header", "normal"),
    [
        ("Prénom", "prenom"),
        ("Straße", "strasse"),
        ("Téléphone ", "telephone"),
        ("Número de empleados", "numerodeempleados"),
        ("Città", "citta"),
    ],
)
def test_accents_are_ignored(header: str, normal: str) -> None:
    assert normalize_header(header) == normal


def test_memory_stored_before_accents_were_stripped_is_still_found() -> None:
    # remember_mapping keyed "Prénom" as "prénom" before; the same header must find it.
    [s] = suggest_mapping(LEAD, ["Prénom"], {"prénom": "title"})
    assert (s.field, s.reason) == ("title", "memory")


@pytest.mark.parametrize("model", list(MODELS.values()), ids=list(MODELS))
def test_no_header_word_names_two_fields_of_a_model(model: TargetModel) -> None:
    spellings: dict[str, set[str]] = {}
    for f in model.fields:
        words = [f.name, f.title, *f.synonyms] + [w for ws in HEADER_WORDS.get(f.name, {}).values() for w in ws]
        for w in words:
            spellings.setdefault(normalize_header(w), set()).add(f.name)
    assert {w: names for w, names in spellings.items() if len(names) > 1} == {}
    not_fields = {normalize_header(w) for w in NOT_A_FIELD}
    assert not_fields.isdisjoint(spellings), not_fields & set(spellings)


def test_header_words_name_real_fields_and_languages() -> None:
    every_field = {f.name for m in MODELS.values() for f in m.fields}
    assert set(HEADER_WORDS) <= every_field
    assert all(set(langs) <= set(LANGUAGES) for langs in HEADER_WORDS.values())


# ----------------------------------------------------------------- values

EMAILS = ["ada@analytical.example", "grace@navy.example", "", "alan@bletchley.example", None, "kj@nasa.example"]
PHONES = ["229.077.5154", "397.884.0519x718", "+1-284-616-6050x97", "(415) 555-0132", "001-234-567-8901x123"]
WEBSITES = ["http://www.stephenson.com/", "https://acme.example", "example.com", "www.foo.org"]
DATES = ["2021-12-05", "12/05/2021", "May 3, 2020", "2020-01-01"]
STATUSES = ["New", "Contacted", "qualified", "Closed Won", "new", "Working"]
SOURCES = ["Website", "Referral", "Social Media", "Cold Call", "Event", "Trade Show"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson"]


def suggest(
    model: TargetModel, columns: dict[str, list[Any]], memory: dict[str, str] | None = None
) -> dict[str, Suggestion]:
    return {s.column: s for s in suggest_mapping(model, list(columns), memory, columns)}


def test_columns_under_meaningless_headers_map_by_their_values() -> None:
    got = suggest(
        LEAD,
        {"Contact": EMAILS, "Kontakt": PHONES, "Col 3": WEBSITES, "Col 5": STATUSES, "Col 6": SOURCES, "Col 7": NAMES},
    )
    assert {c: s.field for c, s in got.items()} == {
        "Contact": "email",
        "Kontakt": "phone",
        "Col 3": "website",
        "Col 5": "status",
        "Col 6": "lead_source",
        "Col 7": None,
    }
    assert got["Contact"].reason == "values: 100 % emails"
    assert got["Kontakt"].reason == "values: 100 % phone numbers"
    assert all(got[c].confidence >= DEFAULT_CONFIDENCE for c in ("Contact", "Kontakt", "Col 3", "Col 5", "Col 6"))


def test_a_date_column_is_suggested_but_not_mapped_without_asking() -> None:
    # Values say "a date", not which one: a contact's only date field is the birthdate.
    got = suggest(CONTACT, {"Datum": DATES})
    assert (got["Datum"].field, got["Datum"].reason) == ("birthdate", "values: 100 % dates")
    assert got["Datum"].confidence < DEFAULT_CONFIDENCE
    assert default_mapping(CONTACT, ["Datum"], samples={"Datum": DATES}) == {}


def test_a_second_phone_column_goes_to_the_mobile_phone() -> None:
    got = suggest(LEAD, {"Phone": PHONES, "Kontakt": PHONES})
    assert (got["Phone"].field, got["Kontakt"].field) == ("phone", "mobile_phone")


def test_each_field_once_a_second_email_column_gets_none() -> None:
    got = suggest(LEAD, {"Email 1": EMAILS, "Contact": EMAILS})
    assert (got["Email 1"].field, got["Contact"].field) == ("email", None)
    assert got["Contact"].reason == "email went to column 'Email 1'"


def test_values_overrule_a_weak_header_match() -> None:
    # "Emaill" is a near spelling of email, but the column holds phone numbers.
    [alone] = suggest_mapping(LEAD, ["Emaill"])
    assert alone.field == "email" and alone.reason == "similar header" and alone.confidence < DEFAULT_CONFIDENCE
    got = suggest(LEAD, {"Emaill": PHONES})
    assert (got["Emaill"].field, got["Emaill"].reason) == ("phone", "values: 100 % phone numbers")


def test_values_agreeing_with_a_weak_header_raise_it() -> None:
    got = suggest(LEAD, {"Emaill": EMAILS})
    assert got["Emaill"].field == "email" and got["Emaill"].confidence >= DEFAULT_CONFIDENCE
    assert got["Emaill"].reason == "similar header + values: 100 % emails"


def test_a_strong_header_is_not_overruled_by_values() -> None:
    got = suggest(LEAD, {"Phone": EMAILS, "Website": PHONES, "Vorname": EMAILS})
    assert {c: s.field for c, s in got.items()} == {"Phone": "phone", "Website": "website", "Vorname": "first_name"}


def test_memory_is_not_overruled_by_values() -> None:
    got = suggest(LEAD, {"Col X": EMAILS}, memory={"colx": "description"})
    assert (got["Col X"].field, got["Col X"].reason) == ("description", "memory")


def test_a_header_that_names_no_field_stays_unmapped_whatever_its_values() -> None:
    got = suggest(CONTACT, {"Subscription Date": DATES, "Index": ["1", "2", "3", "4"], "Lead Owner": NAMES})
    assert all(s.field is None and s.reason == "names no field" for s in got.values())


@pytest.mark.parametrize(
    "values",
    [
        ["1", "2", "3", "4", "5"],  # an index
        ["4155551234", "4155551235", "4155551236"],  # bare digits: an id as likely as a phone
        ["12345.67", "1234567.89", "99999.00"],  # amounts (also spreadsheet date serials to the date cleaner)
        ["45123", "45124", "45200"],  # serials or counts
        ["1990", "2001", "1875"],  # bare years: a count as likely as a date
        ["Smith.John", "Doe.Jane", "Roe.Rick"],  # passes as a domain, is no website
        ["a@b.example", "Acme", "Foo", "Bar"],  # one email in four
        ["DD37Cf93aecA6Dc", "1Ef7b82A4CAAD10", "6F94879bDAfE5a6"],
        ["x@y.example", None, ""],  # fewer than three values say nothing
    ],
)
def test_values_that_say_nothing_sure(values: list[str | None]) -> None:
    assert sniff_column(LEAD, values) is None


def test_a_column_two_choice_fields_fit_equally_says_nothing() -> None:
    # "other" is a lead source and nothing else here; add a model with two choice fields sharing it.
    assert sniff_column(LEAD, ["other", "other", "Other"]) is not None
    from schemas.models import Field

    both = TargetModel(
        "t", "t", (Field("a", "choice", choices=("other", "x")), Field("b", "choice", choices=("other", "y"))), ()
    )
    assert sniff_column(both, ["other", "other", "other"]) is None


def test_a_mostly_matching_choice_column_counts_repeats() -> None:
    values = ["Web"] * 9 + ["Carrier pigeon"]
    evidence = sniff_column(LEAD, values)
    assert evidence is not None and evidence.fields == ("lead_source",) and evidence.share == 0.9
    assert evidence.reason == "values: 90 % lead source values"
    assert sniff_column(LEAD, ["Web"] * 7 + ["Carrier pigeon"] * 3) is None


# ----------------------------------------------------------------- flags


def test_flags_name_the_columns_their_field_refuses() -> None:
    flags = mapping_flags(
        ACCOUNT,
        {"Emp": "employees", "Web": "website", "Type": "type", "Mail": "phone", "Name": "name", "Skip": None},
        {
            "Emp": ["a lot", "many", "10"],
            "Web": ["Acme Inc", "Foo Ltd", "x y"],
            "Type": ["Foo", "Bar", "customer"],
            "Mail": ["a@b.example", "c@d.example", "e@f.example"],
            "Name": ["Acme", "Foo"],
            "Skip": ["?"],
        },
    )
    by_column = {f["column"]: f for f in flags}
    assert set(by_column) == {"Emp", "Web", "Type", "Mail"}
    assert by_column["Emp"]["share_failing"] == pytest.approx(2 / 3, abs=1e-3)
    assert by_column["Emp"]["message"] == "Emp: 67 % of sampled values are not whole numbers (e.g. 'a lot')"
    assert by_column["Web"]["share_failing"] == 1.0
    assert by_column["Mail"]["message"] == "Mail: 100 % of sampled values are emails, not phone numbers"
    assert "value_mapping" in by_column["Type"]["suggestion"]
    assert all(set(f) == {"column", "field", "share_failing", "message", "suggestion"} for f in flags)


def test_a_flag_suggests_the_field_the_values_fit() -> None:
    [flag] = mapping_flags(LEAD, {"Kontakt": "website", "E": "email"}, {"Kontakt": EMAILS, "E": ["x@y.example"] * 3})
    assert flag["message"] == "Kontakt: 100 % of sampled values are emails, not websites"
    # email is taken by column E, so nothing else fits
    assert flag["suggestion"].startswith("leave 'Kontakt' unmapped")
    [flag] = mapping_flags(LEAD, {"Kontakt": "website"}, {"Kontakt": EMAILS})
    assert flag["suggestion"] == "map 'Kontakt' to email instead"


def test_years_in_a_phone_column_are_named() -> None:
    [flag] = mapping_flags(LEAD, {"Founded": "phone"}, {"Founded": ["1990", "2001", "1875", "1999"]})
    assert flag["message"] == "Founded: 100 % of sampled values are years, not phone numbers"


def test_flags_follow_the_cleaners_not_a_list() -> None:
    # Whatever the date cleaner accepts is no flag; what it refuses is (its verdict, not ours).
    from services.cleansing.cleaning import Invalid, cleaner_for

    cleaner = cleaner_for(ACCOUNT.by_name["founded_date"])
    years = ["1990", "2001", "1875"]

    def refused(v: str) -> bool:
        try:
            cleaner.clean(v)
        except Invalid:
            return True
        return False

    flags = mapping_flags(ACCOUNT, {"Founded": "founded_date"}, {"Founded": years})
    assert bool(flags) == all(refused(v) for v in years)
    [flag] = mapping_flags(ACCOUNT, {"Founded": "founded_date"}, {"Founded": ["soon", "later", "2020-01-01"]})
    assert flag["share_failing"] == pytest.approx(2 / 3, abs=1e-3)


def test_a_minority_of_bad_values_is_no_flag_and_too_long_is() -> None:
    assert mapping_flags(LEAD, {"E": "email"}, {"E": ["a@b.example", "c@d.example", "nope"]}) == []
    [flag] = mapping_flags(LEAD, {"T": "title"}, {"T": ["x" * 200, "y" * 300]})
    assert flag["message"] == "T: 100 % of sampled values are longer than 128 characters, the most title holds"


def test_columns_without_samples_or_fields_are_not_flagged() -> None:
    assert mapping_flags(LEAD, {"A": "email", "B": "no_such_field"}, {"A": [None, "", " "], "B": ["x"] * 3}) == []


# ----------------------------------------------------------------- sampling and the split


def rows_of(n: int) -> list[RawRow]:
    return [RawRow(i, [f"a{i}", f"b{i}"]) for i in range(1, n + 1)]


def test_peek_rows_gives_every_row_once_in_order() -> None:
    consumed: list[int] = []

    def source():
        for r in rows_of(10):
            consumed.append(r.number)
            yield r

    head, rows = peek_rows(source(), 4)
    assert [r.number for r in head] == [1, 2, 3, 4]
    assert consumed == [1, 2, 3, 4]  # nothing read past the sample yet
    assert [r.number for r in rows] == list(range(1, 11))


def test_a_reader_error_while_peeking_is_raised_at_its_row() -> None:
    def source():
        yield from rows_of(2)
        raise InputFileError("row 3 is broken", file="f.csv")

    head, rows = peek_rows(source(), 10)
    assert [r.number for r in head] == [1, 2]
    assert next(rows).number == 1 and next(rows).number == 2
    with pytest.raises(InputFileError, match="row 3"):
        next(rows)


def test_column_samples_per_header_short_rows_give_none() -> None:
    got = column_samples(["A", "B", "C"], [RawRow(1, ["1", "2", "3"]), RawRow(2, ["4"])])
    assert got == {"A": ["1", "4"], "B": ["2", None], "C": ["3", None]}


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        w.writerows(rows)


def test_a_job_without_mapping_maps_by_values_and_streams_every_row(tmp_path: Path) -> None:
    path = tmp_path / "kontakte.csv"
    rows = [[f"Vor{i}", f"Nach{i}", f"p{i}@x.example", "Web" if i % 2 else "Referral"] for i in range(1, 451)]
    write_csv(path, ["Vorname", "Nachname", "Kontakt", "Herkunftsweg"], rows)
    plan = open_import(path, "csv", LEAD, display_name="kontakte.csv", mapping=None, options={}, limits=ReaderLimits())
    try:
        assert plan.mapping == {
            "Vorname": "first_name",
            "Nachname": "last_name",
            "Kontakt": "email",
            "Herkunftsweg": "lead_source",
        }
        events = [
            e
            for _, e in split_rows(
                plan, LEAD, job_id="j", company_id="c", partitions=3, rows_per_event=100, max_event_bytes=2**20
            )
        ]
    finally:
        plan.close()
    numbers = sorted(n for e in events for n in e["numbers"])
    assert numbers == list(range(1, 451))  # the 200 sampled rows are sent once, with the rest
    emails = {v for e in events for v in e["columns"][e["fields"].index("email")]}
    assert emails == {f"p{i}@x.example" for i in range(1, 451)}


def test_sample_file_reads_only_the_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    write_csv(path, ["A", "B"], [[str(i), f"x{i}"] for i in range(1, 1001)])
    got = sample_file(path, "csv", "f.csv", limits=ReaderLimits(), rows=50)
    assert got["A"] == [str(i) for i in range(1, 51)] and len(got["B"]) == 50
