"""Export queries: filters and sort become parameterized SQL scoped by company; bad input names the field or op."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from schemas.models import get_model
from services.core.errors import CrmioError
from services.exports.query import ExportError, build_query, check_filters, check_sort, export_fields
from services.exports.runner import export_spec

LEAD = get_model("lead")


def query(filters: list[dict], sort: list[str] | None = None, fields: list[str] | None = None):
    return build_query(
        LEAD, "company-1", export_fields(LEAD, fields), check_filters(LEAD, filters), check_sort(LEAD, sort)
    )


def test_company_scope_always_first_and_values_only_as_parameters() -> None:
    evil = "x'); DROP TABLE crm_leads; --"
    q = query([{"field": "email", "op": "contains", "value": evil}, {"field": "city", "op": "eq", "value": evil}])
    assert "WHERE t.company_id = $1 AND " in q.sql and "WHERE t.company_id = $1 AND " in q.count_sql
    assert "DROP" not in q.sql and evil not in q.sql
    assert q.args == ("company-1", "%x'); DROP TABLE crm\\_leads; --%", evil)


def test_columns_in_requested_order_typed_columns_as_text() -> None:
    q = query([], fields=["email", "annual_revenue", "first_name", "converted_date"])
    # A date as text; one known to the year or the month (date_precision) as "1990" / "2024-03".
    converted = (
        "CASE t.date_precision->>'converted_date' WHEN 'year' THEN to_char(t.\"converted_date\", 'YYYY') "
        "WHEN 'month' THEN to_char(t.\"converted_date\", 'YYYY-MM') ELSE t.\"converted_date\"::text END"
    )
    assert q.sql.startswith(
        'SELECT t."email" AS "email", t."annual_revenue"::text AS "annual_revenue", t."first_name" AS "first_name", '
        f'{converted} AS "converted_date" FROM crm_leads AS t '
    )
    assert f'{converted} AS "converted_date"' in q.copy_sql and f"'converted_date', {converted}" in q.json_copy_sql


def test_each_op() -> None:
    q = query(
        [
            {"field": "status", "op": "in", "value": ["new", "contacted"]},
            {"field": "annual_revenue", "op": "between", "value": [1000, "2000.5"]},
            {"field": "number_of_employees", "op": "gte", "value": 10},
            {"field": "converted_date", "op": "lte", "value": "2024-03-01"},
            {"field": "phone", "op": "empty"},
            {"field": "website", "op": "not_empty"},
            {"field": "title", "op": "ne", "value": "CEO"},
        ]
    )
    assert '(t."status" = ANY($2))' in q.sql
    assert '(t."annual_revenue" >= $3 AND t."annual_revenue" <= $4)' in q.sql
    assert '(t."number_of_employees" >= $5)' in q.sql
    assert '(t."converted_date" <= $6)' in q.sql
    assert '((t."phone" IS NULL OR t."phone" = \'\'))' in q.sql
    assert '(NOT (t."website" IS NULL OR t."website" = \'\'))' in q.sql
    assert '(t."title" IS DISTINCT FROM $7)' in q.sql
    assert q.args[1:] == (["new", "contacted"], Decimal("1000"), Decimal("2000.5"), 10, dt.date(2024, 3, 1), "CEO")


def test_contains_escapes_like_wildcards() -> None:
    assert query([{"field": "company", "op": "contains", "value": "50%_off\\"}]).args[1] == "%50\\%\\_off\\\\%"


def test_timestamp_pseudo_fields_and_whole_day_upper_bound() -> None:
    q = query(
        [
            {"field": "created_at", "op": "between", "value": ["2024-01-01", "2024-01-31"]},
            {"field": "updated_at", "op": "gte", "value": "2024-02-01T10:00:00+02:00"},
        ]
    )
    assert '(t."created_at" >= $2 AND t."created_at" < $3)' in q.sql
    utc = dt.UTC
    assert q.args[1:3] == (dt.datetime(2024, 1, 1, tzinfo=utc), dt.datetime(2024, 2, 1, tzinfo=utc))
    assert q.args[3] == dt.datetime(2024, 2, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def test_sort_desc_nulls_last_and_id_tiebreak() -> None:
    assert query([], sort=["-annual_revenue", "last_name"]).sql.endswith(
        'ORDER BY t."annual_revenue" DESC NULLS LAST, t."last_name" ASC NULLS LAST, t.id'
    )
    assert query([]).sql.endswith("ORDER BY t.id")


@pytest.mark.parametrize(
    ("filters", "needle"),
    [
        ([{"field": "password", "op": "eq", "value": "x"}], "'password'"),
        ([{"field": "email", "op": "regex", "value": "x"}], "'regex'"),
        ([{"field": "annual_revenue", "op": "contains", "value": "1"}], "contains works on text fields only"),
        ([{"field": "number_of_employees", "op": "eq", "value": "ten"}], "a whole number"),
        ([{"field": "converted_date", "op": "eq", "value": "03/01/2024"}], "YYYY-MM-DD"),
        ([{"field": "status", "op": "eq", "value": "hot"}], "one of new, contacted"),
        ([{"field": "email", "op": "in", "value": []}], "a list of 1 to"),
        ([{"field": "email", "op": "between", "value": [None, None]}], "[low, high]"),
        ([{"field": "email", "op": "empty", "value": "x"}], "takes no value"),
        ([{"field": "email", "op": "eq"}], "needs a value"),
        ([{"field": "created_at", "op": "gte", "value": "yesterday"}], "ISO 8601"),
        # Values PostgreSQL cannot take must be refused here, not fail the query (a 500, or a failed job).
        ([{"field": "number_of_employees", "op": "eq", "value": 2**63}], "within"),
        ([{"field": "annual_revenue", "op": "gte", "value": "1e-200000"}], "at most 1000 digits"),
        ([{"field": "annual_revenue", "op": "lte", "value": "1e200000"}], "at most 1000 digits"),
        ([{"field": "email", "op": "contains", "value": "a\x00b"}], "is not text"),
        ([{"field": "created_at", "op": "lte", "value": "9999-12-31"}], "ISO 8601"),
        ([{"field": "created_at", "op": "gte", "value": "0001-01-01T00:00:00+01:00"}], "ISO 8601"),
        ([{"field": "email", "op": "eq", "value": "a", "extra": 1}], "extra"),
        ("email = 'x'", "must be a list"),
    ],
)
def test_bad_filters_name_the_problem(filters: object, needle: str) -> None:
    with pytest.raises(ExportError) as info:
        check_filters(LEAD, filters)
    assert needle in info.value.message
    assert isinstance(info.value, CrmioError) and info.value.http_status == 422


def test_bad_fields_and_sort() -> None:
    with pytest.raises(ExportError, match="unknown lead field.*'salary'"):
        export_fields(LEAD, ["email", "salary"])
    with pytest.raises(ExportError, match="listed twice: email"):
        export_fields(LEAD, ["email", "email"])
    with pytest.raises(ExportError, match="sort: unknown lead field 'id'"):
        check_sort(LEAD, ["-id"])
    assert export_fields(LEAD, None) == list(LEAD.fields)


def test_export_spec_validates_format_and_options() -> None:
    with pytest.raises(ExportError, match="unknown export format 'xml'"):
        export_spec("lead", "xml", {})
    with pytest.raises(ExportError, match="json_style"):
        export_spec("lead", "json", {"json_style": "lines"})
    with pytest.raises(ExportError, match="unknown export option"):
        export_spec("lead", "csv", {"delimiter": ";"})
    with pytest.raises(ExportError, match="unknown target model"):
        export_spec("opportunity", "csv", {})
    spec = export_spec("contact", "csv", '{"fields": ["email"], "csv_bom": true}')
    assert [f.name for f in spec.fields] == ["email"] and spec.csv_bom
