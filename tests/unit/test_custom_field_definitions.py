"""Custom field definitions (services.fields.definitions) and their SQL (services.fields.columns, the
exports' query): what a company may create, and how its fields are read, filtered and sorted."""

from __future__ import annotations

import uuid

import pytest

from schemas.models import LEAD, get_model
from services.core.errors import CustomFieldError
from services.exports.query import build_query, check_filters, check_sort
from services.fields.columns import value_sql
from services.fields.definitions import FIELD_TYPES, checked_definition, to_field

COMPANY = uuid.UUID("00000000-0000-0000-0000-00000000000a")


def _field(**spec: object) -> dict[str, object]:
    row, _ = checked_definition(LEAD, {"target_model": "lead", **spec})
    return row


def test_each_type_is_stored_as_the_built_in_field_of_that_type() -> None:
    for kind, (ftype, longest) in FIELD_TYPES.items():
        extra = {"choices": ["A", "B"]} if kind == "choice" else {}
        row = _field(label=f"My {kind}", field_type=kind, **extra)
        f = to_field(row, ("a", "b") if kind == "choice" else ())
        assert (f.type, f.max_length, f.custom, f.name) == (ftype, longest, True, f"my_{kind}")
        assert (f.picklist == f"lead.my_{kind}") is (kind == "choice")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"label": "E-mail", "name": "email", "field_type": "text"}, "already has a field 'email' (a built-in field)"),
        ({"label": "Version", "field_type": "number"}, "'version'"),
        ({"label": "Region", "field_type": "geo"}, "field_type 'geo'"),
        ({"label": "Region", "name": "Region", "field_type": "text"}, "start with a letter"),
        ({"label": "Region", "name": "region-1", "field_type": "text"}, "letters, digits and _"),
        ({"label": " ", "field_type": "text"}, "label"),
        ({"label": "Tier", "field_type": "choice"}, "needs choices"),
        ({"label": "Tier", "field_type": "choice", "choices": ["Gold", "gold"]}, "same value"),
        ({"label": "Tier", "field_type": "text", "choices": ["Gold"]}, "choice fields only"),
        ({"label": "Seats", "field_type": "number", "max_length": 4}, "text types only"),
        ({"label": "Code", "field_type": "text", "max_length": 256}, "1 to 255"),
        ({"label": "Seats", "field_type": "number", "validation_rules": {"min": "many"}}, "validation_rules"),
    ],
)
def test_a_definition_that_cannot_work_is_refused_saying_why(spec: dict[str, object], says: str) -> None:
    with pytest.raises(CustomFieldError) as err:
        _field(**spec)
    assert says in err.value.message


def test_a_name_comes_from_the_label_when_not_given() -> None:
    assert _field(label="Subscription Date (UTC)", field_type="date")["name"] == "subscription_date_utc"
    assert _field(label="2nd Phone", field_type="phone")["name"] == "f_2nd_phone"
    assert _field(label="Région", field_type="text")["name"] == "region"
    # A label without a Latin letter or digit gets a name of its own, not a refusal or one name for all.
    names = {_field(label=label, field_type="text")["name"] for label in ("Регион", "日本語", "🚀", "🎉")}
    assert len(names) == 4 and all(n.startswith("f_") and n.isascii() and len(n) <= 40 for n in names)


def test_the_column_linking_a_contact_to_its_account_is_no_custom_field_name() -> None:
    with pytest.raises(CustomFieldError, match="the column linking it to its account"):
        checked_definition(get_model("contact"), {"label": "Account ID", "field_type": "text"})
    assert checked_definition(LEAD, {"label": "Account ID", "field_type": "text"})[0]["name"] == "account_id"


def test_custom_fields_are_filtered_sorted_and_selected_by_their_key_cast_to_their_type() -> None:
    seats = to_field(_field(label="Seats", field_type="number"))
    renewal = to_field(_field(label="Renewal", field_type="date"))
    stage = to_field(_field(label="Stage", field_type="choice", choices=["Won", "Lost"]), ("won", "lost"))
    model = LEAD.with_custom((seats, renewal, stage))
    assert (
        value_sql(seats) == "((t.custom->>'seats')::bigint)" and value_sql(seats, "") == "((custom->>'seats')::bigint)"
    )
    assert value_sql(renewal) == "(t.custom->>'renewal')" and value_sql(LEAD.field("email")) == 't."email"'
    filters = check_filters(
        model,
        [
            {"field": "seats", "op": "gte", "value": 10},
            {"field": "renewal", "op": "between", "value": ["2024-01-01", "2024-12-31"]},
            {"field": "stage", "op": "in", "value": ["won"]},
        ],
    )
    q = build_query(model, COMPANY, [model.by_name["email"], seats, renewal], filters, check_sort(model, ["-seats"]))
    assert "(((t.custom->>'seats')::bigint) >= $2)" in q.sql
    assert "((t.custom->>'renewal') >= $3 AND (t.custom->>'renewal') <= $4)" in q.sql
    assert "((t.custom->>'stage') = ANY($5))" in q.sql
    assert q.args[1:] == (10, "2024-01-01", "2024-12-31", ["won"])  # a custom date compares as its ISO text
    assert q.sql.endswith("ORDER BY ((t.custom->>'seats')::bigint) DESC NULLS LAST, t.id")
    assert "((t.custom->>'seats')::bigint)::text AS \"seats\"" in q.sql
    assert "WHEN 'year' THEN left((t.custom->>'renewal'), 4)" in q.sql
    with pytest.raises(Exception, match="one of won, lost"):
        check_filters(model, [{"field": "stage", "op": "eq", "value": "Won"}])
    with pytest.raises(Exception, match="unknown lead field 'seats'"):
        check_filters(LEAD, [{"field": "seats", "op": "gte", "value": 1}])  # another company's model
