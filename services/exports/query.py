"""Export requests -> parameterized SQL over a model's table, always scoped by ``company_id = $1``.

Filter JSON shape (a list; all filters must hold)::

    [{"field": "email", "op": "contains", "value": "@example.com"},
     {"field": "status", "op": "in", "value": ["new", "contacted"]},
     {"field": "annual_revenue", "op": "between", "value": [1000, null]},
     {"field": "created_at", "op": "gte", "value": "2024-01-01T00:00:00Z"},
     {"field": "phone", "op": "empty"}]

- ``field``: a field of the target model, or the pseudo-fields ``created_at`` / ``updated_at``.
- ``op``: ``eq`` | ``ne`` | ``contains`` | ``in`` | ``between`` | ``gte`` | ``lte`` | ``empty`` |
  ``not_empty``. ``ne`` also matches empty values (SQL ``IS DISTINCT FROM``). ``contains`` is a
  case-insensitive substring match on text fields (``%`` and ``_`` are literal). ``in`` takes a
  non-empty list. ``between`` takes ``[low, high]``, both inclusive; one side may be null (open).
  ``empty`` / ``not_empty`` take no value (an empty string counts as empty).
- ``value``: typed by the field: text for text fields, whole numbers for integers, numbers or
  plain decimal strings for decimals, ``YYYY-MM-DD`` for dates, true/false for booleans, one of the
  choices for choice fields, ISO 8601 timestamps (or dates) for created_at / updated_at — a
  date-only upper bound (``lte``, ``between``) includes that whole day (UTC).

Sort: a list of ``"field"`` (ascending) or ``"-field"`` (descending); empty values sort last; the
record id always breaks ties, so an export's order is deterministic. Without a sort, rows come in
creation order (ids are time-ordered).

Field names are checked against the model registry and are the only identifiers in the SQL;
every value travels as a bind parameter. Columns are selected as PostgreSQL's text form
(``1200.50``, ``2024-03-01``, ``true``), which is what the import cleaners read back; a date known only
to the year or the month (the record's ``date_precision``) as ``1990`` / ``2024-03``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.models import Field, TargetModel, get_model, own_name
from services.core.errors import CrmioError
from services.fields.columns import link_alias, value_sql

__all__ = [
    "ExportError",
    "ExportTooLarge",
    "OPS",
    "PSEUDO_FIELDS",
    "TEXT_TYPES",
    "ExportQuery",
    "export_fields",
    "check_filters",
    "check_sort",
    "build_query",
    "text_sql",
    "like_pattern",
]

OPS = ("eq", "ne", "contains", "in", "between", "gte", "lte", "empty", "not_empty")
PSEUDO_FIELDS = ("created_at", "updated_at")
TEXT_TYPES = frozenset({"string", "text", "email", "phone", "url", "choice"})
MAX_FILTERS = 50
MAX_IN_VALUES = 1000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL_DIGITS_MAX = 1000


class ExportError(CrmioError):
    """An export request is unusable (unknown field, bad filter, bad option): names what to fix."""

    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, op: str | None = None) -> None:
        super().__init__(message)
        self.field, self.op = field, op


class ExportTooLarge(ExportError):
    """More rows match than the format or a configured cap allows; narrow the filters."""

    http_status = 413


@dataclass(frozen=True, slots=True)
class ExportQuery:
    sql: str
    count_sql: str
    args: tuple[Any, ...]
    # The same rows for COPY ... TO STDOUT (FORMAT csv), text cells already neutralized.
    copy_sql: str = ""
    # The same rows as one JSON object each, for COPY ... TO STDOUT (FORMAT text).
    json_copy_sql: str = ""


def export_fields(model: TargetModel, fields: Sequence[str] | None) -> list[Field]:
    """The model fields to export, in the requested order (all of them when None)."""
    if fields is None:  # a linked record's fields ("account.name") only when asked for
        return list(model.own_fields)
    if not isinstance(fields, (list, tuple)) or not fields:
        raise ExportError("fields must be a non-empty list of field names")
    unknown = [f for f in fields if not isinstance(f, str) or f not in model.by_name]
    if unknown:
        raise ExportError(
            f"unknown {model.name} field(s) {model.unknown(unknown)}; choose from {', '.join(model.field_names)}",
            field=str(unknown[0]),
        )
    twice = sorted({f for f in fields if fields.count(f) > 1})
    if twice:
        raise ExportError(f"field(s) listed twice: {', '.join(twice)}", field=twice[0])
    return [model.by_name[f] for f in fields]


def _field_type(model: TargetModel, name: Any, what: str) -> str:
    if isinstance(name, str):
        if name in PSEUDO_FIELDS:
            return "timestamp"
        if name in model.by_name:
            return model.by_name[name].type
    raise ExportError(
        f"{what}: unknown {model.name} field {model.unknown([name])}; choose from "
        f"{', '.join(model.field_names + PSEUDO_FIELDS)}",
        field=str(name),
    )


def _bad(field: str, op: str, value: Any, expect: str) -> ExportError:
    return ExportError(f"filter on {field!r} ({op}): {value!r} is not {expect}", field=field, op=op)


def _timestamp(field: str, op: str, value: Any, upper: bool) -> tuple[dt.datetime, bool]:
    """(bound, inclusive): a date-only upper bound becomes 'before the next day'."""
    if not isinstance(value, str):
        raise _bad(field, op, value, "an ISO 8601 timestamp such as 2024-03-01T12:00:00Z")
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            return (start + dt.timedelta(days=1), False) if upper else (start, True)
        stamp = dt.datetime.fromisoformat(value)
        # In UTC: an instant at the calendar's edge (9999-12-31, 0001-01-01 with an offset) overflows here, not in asyncpg.
        stamp = (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise _bad(field, op, value, "an ISO 8601 timestamp such as 2024-03-01T12:00:00Z") from None
    return stamp, True


def _value(model: TargetModel, field: str, kind: str, op: str, value: Any) -> Any:
    """A filter value as the Python type asyncpg binds to the column's type."""
    if kind in TEXT_TYPES:
        if not isinstance(value, str) or "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise _bad(field, op, value, "text")
        f = model.by_name[field]
        if kind == "choice" and op in ("eq", "ne", "in") and value not in f.choices and value not in f.retired:
            raise _bad(field, op, value, f"one of {', '.join(f.choices)}")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise _bad(field, op, value, "a whole number")
        try:
            whole = int(value)
        except ValueError:
            raise _bad(field, op, value, "a whole number") from None
        if not _INT64_MIN <= whole <= _INT64_MAX:  # integer fields are bigint columns
            raise _bad(field, op, value, "a whole number within ±9223372036854775807")
        return whole
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _bad(field, op, value, "a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise _bad(field, op, value, "a number such as 1200.50") from None
        # Far beyond any numeric(18,2) value, and within what a numeric parameter can carry.
        if (
            not number.is_finite()
            or abs(number.adjusted()) > _DECIMAL_DIGITS_MAX
            or int(number.as_tuple().exponent) < -_DECIMAL_DIGITS_MAX
        ):
            raise _bad(
                field, op, value, f"a finite number with at most {_DECIMAL_DIGITS_MAX} digits each side of the point"
            )
        return number
    if kind == "date":
        if isinstance(value, str) and len(value) == 10:
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                pass
            else:  # a custom date is its ISO text (services.fields.columns)
                return day.isoformat() if model.by_name[field].custom else day
        raise _bad(field, op, value, "a date written YYYY-MM-DD")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(field, op, value, "true or false")
    raise AssertionError(kind)


@dataclass(frozen=True, slots=True)
class _Filter:
    field: str
    kind: str
    op: str
    values: tuple[Any, ...]  # (value,) | values of "in" | (low, high) | ()
    inclusive: tuple[bool, ...] = ()


def _one(model: TargetModel, raw: Any) -> _Filter:
    if not isinstance(raw, Mapping):
        raise ExportError(f"each filter is an object with field, op and value; got {raw!r}")
    extra = set(raw) - {"field", "op", "value"}
    if extra:
        raise ExportError(f"filter keys {', '.join(sorted(extra))} are not known; use field, op and value")
    named, op = raw.get("field"), raw.get("op")
    kind = _field_type(model, named, "filter")
    field = str(named)  # _field_type refused anything but a field's name
    if op not in OPS:
        raise ExportError(
            f"filter on {field!r}: unknown op {op!r}; use one of {', '.join(OPS)}", field=field, op=str(op)
        )
    value = raw.get("value")
    if op in ("empty", "not_empty"):
        if value is not None:
            raise ExportError(f"filter on {field!r} ({op}) takes no value", field=field, op=op)
        return _Filter(field, kind, op, ())
    if op == "contains" and kind not in TEXT_TYPES:
        raise ExportError(
            f"filter on {field!r}: contains works on text fields only; use eq, in or a range", field=field, op=op
        )
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise _bad(field, op, value, f"a list of 1 to {MAX_IN_VALUES} values")
        if kind == "timestamp":
            return _Filter(field, kind, op, tuple(_timestamp(field, op, v, False)[0] for v in value))
        return _Filter(field, kind, op, tuple(_value(model, field, kind, op, v) for v in value))
    if op == "between":
        if not isinstance(value, list) or len(value) != 2 or value == [None, None]:
            raise _bad(field, op, value, "[low, high] (one side may be null)")
        if kind == "timestamp":
            bounds = [None if v is None else _timestamp(field, op, v, i == 1) for i, v in enumerate(value)]
            return _Filter(
                field, kind, op, tuple(b and b[0] for b in bounds), tuple(True if b is None else b[1] for b in bounds)
            )
        return _Filter(
            field,
            kind,
            op,
            tuple(None if v is None else _value(model, field, kind, op, v) for v in value),
            (True, True),
        )
    if value is None:
        raise ExportError(
            f"filter on {field!r} ({op}) needs a value; use empty / not_empty for missing values", field=field, op=op
        )
    if kind == "timestamp":
        bound, inclusive = _timestamp(field, op, value, op == "lte")
        if op in ("eq", "ne") and len(value) == 10:
            raise _bad(field, op, value, "a full timestamp (use between for a whole day)")
        return _Filter(field, kind, op, (bound,), (inclusive,))
    return _Filter(field, kind, op, (_value(model, field, kind, op, value),), (True,))


def check_filters(model: TargetModel, filters: Any) -> list[_Filter]:
    """Validated filters; ExportError names the first bad field or op."""
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise ExportError("filters must be a list of {field, op, value} objects")
    if len(filters) > MAX_FILTERS:
        raise ExportError(f"at most {MAX_FILTERS} filters are allowed; got {len(filters)}")
    return [_one(model, f) for f in filters]


def check_sort(model: TargetModel, sort: Any) -> list[tuple[str, bool]]:
    """Validated sort keys as (field, descending)."""
    if sort is None:
        return []
    if not isinstance(sort, list) or not all(isinstance(s, str) for s in sort):
        raise ExportError('sort must be a list of field names, "-field" for descending')
    keys = [(s[1:], True) if s.startswith("-") else (s, False) for s in sort]
    for name, _ in keys:
        _field_type(model, name, "sort")
    return keys


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, its % and _ literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _column(model: TargetModel, name: str) -> str:
    """The SQL of a field (or pseudo-field) of the table aliased t."""
    return f't."{name}"' if name in PSEUDO_FIELDS else value_sql(model.by_name[name])


def _condition(f: _Filter, args: list[Any], col: str) -> str:

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    empty = f"({col} IS NULL OR {col} = '')" if f.kind in TEXT_TYPES else f"{col} IS NULL"
    if f.op == "empty":
        return empty
    if f.op == "not_empty":
        return f"NOT {empty}"
    if f.op == "eq":
        return f"{col} = {bind(f.values[0])}"
    if f.op == "ne":
        return f"{col} IS DISTINCT FROM {bind(f.values[0])}"
    if f.op == "contains":
        return f"{col} ILIKE {bind(like_pattern(f.values[0]))}"
    if f.op == "in":
        return f"{col} = ANY({bind(list(f.values))})"
    if f.op == "gte":
        return f"{col} >= {bind(f.values[0])}"
    if f.op == "lte":
        return f"{col} {'<=' if f.inclusive[0] else '<'} {bind(f.values[0])}"
    low, high = f.values
    parts = []
    if low is not None:
        parts.append(f"{col} >= {bind(low)}")
    if high is not None:
        parts.append(f"{col} {'<=' if f.inclusive[1] else '<'} {bind(high)}")
    return " AND ".join(parts)


def _date_text(field: Field) -> str:
    """A date as text: a date known to the year or the month (the record's date_precision, migration
    012) as "1990" / "2024-03", a full date as 2024-03-01 — each a form the import reads."""
    col, name = value_sql(field), own_name(field)
    precision = f"{link_alias(field.related)}.date_precision" if field.related else "t.date_precision"
    if field.custom:  # already its ISO text
        year, month, full = f"left({col}, 4)", f"left({col}, 7)", col
    else:
        year, month, full = f"to_char({col}, 'YYYY')", f"to_char({col}, 'YYYY-MM')", f"{col}::text"
    return f"CASE {precision}->>'{name}' WHEN 'year' THEN {year} WHEN 'month' THEN {month} ELSE {full} END"


def _text(field: Field) -> str:
    """A non-text field in PostgreSQL's text form, which the import cleaners read back."""
    return _date_text(field) if field.type == "date" else f"{value_sql(field)}::text"


def text_sql(field: Field) -> str:
    """The field's value as the text an export writes: PostgreSQL renders numbers, dates (to their
    date_precision) and booleans in the forms the import cleaners read."""
    return value_sql(field) if field.type in TEXT_TYPES else _text(field)


def _select(field: Field) -> str:
    return f'{text_sql(field)} AS "{field.name}"'


# services.exports.writers.neutralize in SQL: a cell a spreadsheet would run as a formula gets a
# leading quote, unless it is a plain number. tests/integration/test_exports.py keeps both equal.
_NEUTRALIZE = (
    r"CASE WHEN left({v}, 1) IN ('=', '+', '-', '@', E'\t', E'\r') "
    r"AND {v} !~ '^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$' THEN '''' || {v} ELSE {v} END"
)


def _copy_columns(fields: Sequence[Field]) -> str:
    values = [_NEUTRALIZE.format(v=value_sql(f)) if f.type in TEXT_TYPES else _text(f) for f in fields]
    if len(values) == 1:
        # A lone empty cell must come out as "" (as csv writes it), not as a blank line that
        # readers skip: COPY quotes an empty string, never a NULL.
        values = [f"coalesce({values[0]}, '')"]
    return ", ".join(f'{v} AS "{f.name}"' for v, f in zip(values, fields))


def _json_object(fields: Sequence[Field]) -> str:
    """One JSON object per row, typed as services.exports.json_writer writes it: decimals and dates
    as strings, integers and booleans as JSON numbers and booleans, empty as null."""
    pairs = [f"'{f.name}', " + (_text(f) if f.type in ("decimal", "date") else value_sql(f)) for f in fields]
    return f"json_build_object({', '.join(pairs)})"


def build_query(
    model: TargetModel,
    company_id: Any,
    fields: Sequence[Field],
    filters: Sequence[_Filter],
    sort: Sequence[tuple[str, bool]],
) -> ExportQuery:
    """SELECT (and COUNT) over the model's table for one company, filtered and sorted."""
    args: list[Any] = [company_id]
    where = " AND ".join(["t.company_id = $1", *(f"({_condition(f, args, _column(model, f.field))})" for f in filters)])
    # Qualified: a bare name would sort by the output column of the same name, the ::text form.
    order = ", ".join(
        [*(f"{_column(model, name)} {'DESC' if desc else 'ASC'} NULLS LAST" for name, desc in sort), "t.id"]
    )
    columns = ", ".join(_select(f) for f in fields)
    used = [
        model.by_name[name]
        for name in (*(f.field for f in filters), *(name for name, _ in sort))
        if name in model.by_name
    ]
    source = _from(model, {f.related for f in (*fields, *used) if f.related})
    counted = _from(model, {f.related for f in used if f.related})
    return ExportQuery(
        sql=f"SELECT {columns} FROM {source} WHERE {where} ORDER BY {order}",
        count_sql=f"SELECT count(*) FROM {counted} WHERE {where}",
        args=tuple(args),
        json_copy_sql=f"SELECT {_json_object(fields)} FROM {source} WHERE {where} ORDER BY {order}",
        copy_sql=f"SELECT {_copy_columns(fields)} FROM {source} WHERE {where} ORDER BY {order}",
    )


def _from(model: TargetModel, linked: set[str]) -> str:
    """The model's table as t, with each linked record's table the query reads joined by its link column
    (a contact's account by account_id; no link, or a link to a deleted record, reads as empty)."""
    joins = "".join(
        f" LEFT JOIN {get_model(name).table} AS {link_alias(name)} ON {link_alias(name)}.id = t.{column} "
        f"AND {link_alias(name)}.company_id = t.company_id"
        for name, column in model.links
        if name in linked
    )
    return f"{model.table} AS t{joins}"
