"""Mapping suggestion, mapping checks and the compiled mapping."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.models import ACCOUNT, CONTACT, LEAD
from services.core.errors import MappingError
from services.ingest.mapping import (
    CompiledMapping,
    Suggestion,
    check_mapping,
    compile_mapping,
    default_mapping,
    normalize_header,
    suggest_mapping,
)


@pytest.mark.parametrize(
    ("header", "normal"),
    [
        ("E-mail ", "email"),
        ("First Name", "firstname"),
        ("first_name", "firstname"),
        ("\ufeffPhone #1", "phone1"),
        ("  COMPANY (Name) ", "companyname"),
        ("Straße", "strasse"),
        ("", ""),
        ("---", ""),
    ],
)
def test_normalize_header(header: str, normal: str) -> None:
    assert normalize_header(header) == normal


def fields_of(suggestions: list[Suggestion]) -> dict[str, str | None]:
    return {s.column: s.field for s in suggestions}


def test_exact_names_and_labels_are_certain() -> None:
    got = suggest_mapping(LEAD, ["First Name", "last_name", "EMAIL", "Lead Source", "Annual Revenue"])
    assert [(s.field, s.confidence) for s in got] == [
        ("first_name", 1.0),
        ("last_name", 1.0),
        ("email", 1.0),
        ("lead_source", 1.0),
        ("annual_revenue", 1.0),
    ]


def test_one_suggestion_per_header_in_header_order() -> None:
    headers = ["Notes", "Zip", "Email", "", "Surname"]
    got = suggest_mapping(LEAD, headers)
    assert [s.column for s in got] == headers
    assert fields_of(got) == {"Notes": "description", "Zip": None, "Email": "email", "": None, "Surname": "last_name"}
    assert got[1].confidence == 0.0


@pytest.mark.parametrize(
    ("model", "header", "field"),
    [
        (LEAD, "E-mail Address", "email"),
        (LEAD, "Email 1", "email"),
        (LEAD, "Phone 1", "phone"),
        (LEAD, "Mobile", "mobile_phone"),
        (LEAD, "Company Name", "company"),
        (LEAD, "Account Name", "company"),
        (CONTACT, "Company Name", "account"),
        (CONTACT, "City", "mailing_city"),
        (CONTACT, "DOB", "birthdate"),
        (ACCOUNT, "Account Name", "name"),
        (ACCOUNT, "Company", "name"),
        (ACCOUNT, "Domain", "website"),
        (ACCOUNT, "City", "billing_city"),
    ],
)
def test_synonyms_suggest_with_lower_confidence(model: Any, header: str, field: str) -> None:
    [s] = suggest_mapping(model, [header])
    assert (s.field, s.confidence) == (field, 0.9)


def test_each_field_is_suggested_once_best_confidence_wins() -> None:
    got = suggest_mapping(LEAD, ["Phone 1", "Phone", "E-mail", "Email"])
    assert [(s.field, s.confidence) for s in got] == [(None, 0.0), ("phone", 1.0), ("email", 1.0), (None, 0.0)]


def test_a_header_whose_only_field_is_taken_gets_none() -> None:
    # "Account Name" spells Account.name (synonym) and nothing else; "Name" is exact and wins.
    got = suggest_mapping(ACCOUNT, ["Account Name", "Name"])
    assert fields_of(got) == {"Account Name": None, "Name": "name"}


def test_memory_wins_over_names() -> None:
    memory = {"colx": "last_name", "email": "external_id", "ignored": "no_such_field"}
    got = suggest_mapping(LEAD, ["Col X", "Last Name", "Email", "Ignored"], memory)
    assert [(s.field, s.confidence) for s in got] == [
        ("last_name", 1.0),
        (None, 0.0),
        ("external_id", 1.0),
        (None, 0.0),
    ]


def test_fuzzy_spellings_are_suggested_with_low_confidence() -> None:
    [s] = suggest_mapping(LEAD, ["Anual Revenue"])
    assert s.field == "annual_revenue" and 0.7 <= s.confidence < 0.9
    [s] = suggest_mapping(LEAD, ["Frist Name"])
    assert s.field == "first_name" and s.confidence < 0.8
    [s] = suggest_mapping(LEAD, ["Favourite Colour"])
    assert s.field is None


def test_fuzzy_never_beats_an_exact_match() -> None:
    got = suggest_mapping(LEAD, ["Frist Name", "First Name"])
    assert fields_of(got) == {"Frist Name": None, "First Name": "first_name"}


def test_default_mapping_keeps_confident_suggestions() -> None:
    headers = ["First Name", "Surname", "E-mail", "Frist Nmae", "Anual Revenue", "Colour"]
    # A one-letter slip in a long name is close enough to map without asking; a scrambled short one is not.
    assert default_mapping(LEAD, headers) == {
        "First Name": "first_name",
        "Surname": "last_name",
        "E-mail": "email",
        "Anual Revenue": "annual_revenue",
    }
    assert default_mapping(LEAD, ["Col X"], {"colx": "title"}) == {"Col X": "title"}


# ----------------------------------------------------------------- check_mapping

HEADERS = ["First", "Last", "Mail", "Notes"]


def test_a_good_mapping_passes() -> None:
    check_mapping(LEAD, HEADERS, {"First": "first_name", "Last": "last_name", "Mail": "email"})
    check_mapping(LEAD, HEADERS, {"First": "first_name", "Last": "last_name", "Notes": None, "Mail": ""})  # type: ignore[dict-item]


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(MappingError) as caught:
        check_mapping(LEAD, HEADERS, {"Mail": "email"})
    assert caught.value.missing == ["first_name", "last_name"]
    assert "required fields first_name, last_name not mapped" in str(caught.value)
    assert caught.value.http_status == 422
    with pytest.raises(MappingError) as caught:
        check_mapping(ACCOUNT, ["Web"], {"Web": "website"})
    assert caught.value.missing == ["name"]
    assert "required field name not mapped" in str(caught.value)


def test_columns_match_ignoring_case_and_outer_spaces() -> None:
    check_mapping(LEAD, ["First", "LAST", "E-mail"], {"first": "first_name", " last ": "last_name", "e-mail": "email"})
    compiled = compile_mapping(["First", "LAST", "E-mail"], {"e-mail": "email", "First": "first_name"})
    assert compiled.indexes == (0, 2)
    # An exact name wins over a case-insensitive one.
    assert compile_mapping(["email", "Email"], {"Email": "email"}).indexes == (1,)
    with pytest.raises(MappingError, match="column 'EMAIL' appears more than once"):
        compile_mapping(["email", "Email"], {"EMAIL": "email"})


def test_unknown_column_is_named_with_the_file_columns() -> None:
    with pytest.raises(
        MappingError, match=r"no column 'Phone' in the file \(columns: 'First', 'Last', 'Mail', 'Notes'\)"
    ) as caught:
        check_mapping(LEAD, HEADERS, {"First": "first_name", "Last": "last_name", "Phone": "phone"})
    assert caught.value.missing == []


def test_unknown_field_names_the_model_fields() -> None:
    with pytest.raises(MappingError, match=r"lead has no field 'emial' \(fields: first_name, last_name, email"):
        check_mapping(LEAD, HEADERS, {"First": "first_name", "Last": "last_name", "Mail": "emial"})


def test_two_columns_to_one_field() -> None:
    with pytest.raises(MappingError, match="columns 'First', 'Notes' are all mapped to first_name"):
        check_mapping(LEAD, HEADERS, {"First": "first_name", "Notes": "first_name", "Last": "last_name"})


def test_a_mapped_column_repeated_in_the_file() -> None:
    with pytest.raises(MappingError, match="column 'Last' appears more than once"):
        check_mapping(LEAD, ["First", "Last", "Last"], {"First": "first_name", "Last": "last_name"})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(MappingError) as caught:
        check_mapping(CONTACT, HEADERS, {"Nope": "email", "Mail": "shoe_size"})
    text = str(caught.value)
    assert "no column 'Nope'" in text and "no field 'shoe_size'" in text and "first_name, last_name not mapped" in text


@pytest.mark.parametrize("mapping", [["First"], {"First": 3}, {1: "first_name"}])
def test_malformed_mapping(mapping: Any) -> None:
    with pytest.raises(MappingError):
        check_mapping(LEAD, HEADERS, mapping)


# ----------------------------------------------------------------- compiled mapping


def test_compiled_mapping_orders_fields_by_column_and_applies() -> None:
    compiled = compile_mapping(["a", "b", "c", "d"], {"d": "email", "a": "first_name", "b": "", "c": "last_name"})
    assert compiled == CompiledMapping(("first_name", "last_name", "email"), (0, 2, 3))
    assert compiled.apply(["J", "x", "D", "j@x.io"]) == ["J", "D", "j@x.io"]
    assert compiled.record(["J", "x", "D", "j@x.io"]) == {"first_name": "J", "last_name": "D", "email": "j@x.io"}


def test_short_rows_are_padded_with_none() -> None:
    compiled = compile_mapping(["a", "b", "c"], {"a": "first_name", "c": "email"})
    assert compiled.apply(["J"]) == ["J", None]
    assert compiled.apply([]) == [None, None]


@pytest.mark.parametrize("mapping", [{"b": "email"}, {}])
def test_one_or_no_field(mapping: dict[str, str]) -> None:
    compiled = compile_mapping(["a", "b"], mapping)
    assert compiled.apply(["1", "2"]) == (["2"] if mapping else [])


def test_compile_refuses_missing_or_repeated_columns() -> None:
    with pytest.raises(MappingError, match="column 'z' is not in the file"):
        compile_mapping(["a"], {"z": "email"})
    with pytest.raises(MappingError, match="column 'a' appears more than once"):
        compile_mapping(["a", "a"], {"a": "email"})


def test_suggested_mapping_round_trip() -> None:
    headers = ["First Name", "Last Name", "Email Address", "Company", "Revenue"]
    mapping = default_mapping(LEAD, headers)
    check_mapping(LEAD, headers, mapping)
    compiled = compile_mapping(headers, mapping)
    assert compiled.fields == ("first_name", "last_name", "email", "company", "annual_revenue")
