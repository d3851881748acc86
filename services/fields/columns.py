"""A field's value in SQL: a built-in field's column, or a custom field's key of the ``custom`` jsonb
column cast to its type, as the exports' filters and sorts read it.

A custom field has no index of its own: an index partial on one company costs every company's inserts
(PostgreSQL tests each index's predicate on every row written), and an export reads its company's rows
by (company_id, id) fast enough without one; bench/bench_index_cost.py has the figures."""

from __future__ import annotations

from schemas.models import Field, own_name

__all__ = ["value_sql", "link_alias"]

# A date is kept as its ISO text (YYYY-MM-DD), which sorts as the dates do; numbers and booleans are
# cast, so they compare and sort as such.
_CASTS = {"integer": "::bigint", "decimal": "::numeric", "boolean": "::boolean"}


def link_alias(linked: str) -> str:
    """The alias of a linked record's table joined to a query ("link_account" for a contact's account)."""
    return f"link_{linked}"


def value_sql(field: Field, alias: str = "t") -> str:
    """The field's value in a query over its table (``alias``: the table's alias, or "" for none); a linked
    record's field ("account.name") is read from that record's table, joined as link_alias(...)."""
    if field.related:
        alias = link_alias(field.related)
    at = f"{alias}." if alias else ""
    name = own_name(field)
    if not field.custom:
        return f'{at}"{name}"'
    # The name is one of crm_custom_fields' (lower case letters, digits and _: its CHECK).
    text = f"({at}custom->>'{name}')"
    cast = _CASTS.get(field.type)
    return f"({text}{cast})" if cast else text
