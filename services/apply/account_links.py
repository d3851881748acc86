"""A contacts import links each contact to its account: found by the account's external id, domain or name,
or created from the row's account columns ("one file, two objects", as HubSpot imports contacts with their
companies).

The mapping chooses: columns mapped to "account.<field>" (schemas.models.TargetModel.with_related) carry the
account; the link key is ``options.account_match`` (external_id, domain or name), by default the first of
those the mapping gives. ``options.missing_accounts`` decides what a row naming an account that does not
exist gets: ``create`` (the default) creates it from the row's account columns, ``warn`` imports the
contact without a link and says so.

Accounts are resolved in the contacts' apply transaction (services.apply.batch), under the account table's
partition locks: the accounts a batch creates commit with its contacts and ledger rows, so a replayed or
retried batch creates nothing twice, and two batches naming one new account create it once. Only rows
whose contact is created or updated create or link an account (a skipped contact is left as it is); an
account found is linked as it is (the row's account columns do not change it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from schemas.models import TargetModel, get_model
from services.cleansing.cleaning import CleanedRecord, Issue, PartialDate, match_key
from services.cleansing.job_values import LINK_BY, LINKED, LinkBy, Missing, link_choice
from services.core.routing import partition_for
from services.fields.company_model import company_model

__all__ = ["AccountLinks", "LinkPlan", "job_links", "resolve_accounts"]

# Accounts found by name as migration 018's index keys them: case and runs of white space ignored.
_NAME_SQL = r"lower(regexp_replace(name, '\s+', ' ', 'g'))"


@dataclass(frozen=True, slots=True)
class AccountLinks:
    """How one contacts import links its rows to accounts."""

    by: LinkBy
    missing: Missing
    accounts: TargetModel  # the company's account model (its custom fields included)
    column: str  # the contact's column holding the account's id ("account_id")
    # The contact's text field naming its account, filled from the account linked when the row leaves it empty.
    name_field: str = "account"

    @property
    def key_field(self) -> str:
        """The contact model's field the link key is read from ("account.website" for a link by domain)."""
        return f"{LINKED}.{LINK_BY[self.by]}"


async def job_links(
    conn: asyncpg.Connection, company_id: str, model: TargetModel, options: Mapping[str, Any], mapped: Iterable[str]
) -> AccountLinks | None:
    """The account links of an import job mapping ``mapped`` fields, or None when it links none."""
    choice = link_choice(model, mapped, options)
    if choice is None:
        return None
    accounts = await company_model(conn, company_id, LINKED)
    return AccountLinks(choice[0], choice[1], accounts, model.link_column(LINKED))


@dataclass(slots=True)
class LinkPlan:
    """A batch's rows with their account links, and the accounts they would create."""

    rows: list[tuple[Any, CleanedRecord]]
    linked: dict[int, uuid.UUID] = field(default_factory=dict)  # row number -> its account
    new: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # account -> its values, to create


def _key(by: LinkBy, value: object) -> str | None:
    """The link key of a row's cleaned key value: the id as written, the domain, or the name without case and
    runs of white space (as _NAME_SQL)."""
    text = value if isinstance(value, str) else str(value)
    if by == "external_id":
        return text.strip() or None
    if by == "domain":
        return match_key(_WEBSITE, {"website": text})
    return " ".join(text.split()).lower() or None


_WEBSITE = get_model(LINKED).matching_on("website")  # keys a website as an account's match_key holds it


def _shown(by: LinkBy, key: str) -> str:
    return f"{by} {key.removeprefix('domain:')!r}"


async def _found(conn: asyncpg.Connection, by: LinkBy, company_id: str, keys: list[str]) -> dict[str, asyncpg.Record]:
    """Link key -> the oldest account of the company with that key (id, name)."""
    if not keys:
        return {}
    column = {"external_id": "external_id", "domain": "match_key", "name": _NAME_SQL}[by]
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (k) {column} AS k, id, name FROM crm_accounts "
        f"WHERE company_id = $1 AND {column} = ANY($2::text[]) ORDER BY k, created_at, id",
        company_id,
        keys,
    )
    return {r["k"]: r for r in rows}


async def _external_ids_taken(conn: asyncpg.Connection, company_id: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = await conn.fetch(
        "SELECT external_id FROM crm_accounts WHERE company_id = $1 AND external_id = ANY($2::text[])", company_id, ids
    )
    return {r["external_id"] for r in rows}


async def _lock(conn: asyncpg.Connection, company_id: str, partitions: int, keys: Iterable[str]) -> None:
    """The account table's partition locks of these keys (services.apply.batch._lock_keys): an accounts import
    creating the same account, and another contacts batch naming it, wait for this transaction."""
    buckets = sorted({partition_for(k, 0, partitions) for k in keys})
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || b::text, 0)) FROM unnest($2::int[]) AS b ORDER BY b",
        f"{company_id}:crm_accounts:",
        buckets,
    )


def _with_issue(cleaned: CleanedRecord, issue: Issue) -> CleanedRecord:
    return CleanedRecord(cleaned.values, [*cleaned.issues, issue], cleaned.match_key)


def _values(cleaned: CleanedRecord) -> dict[str, Any]:
    """The row's account values under the account's own field names."""
    prefix = f"{LINKED}."
    return {k[len(prefix) :]: v for k, v in cleaned.values.items() if k.startswith(prefix) and v is not None}


async def resolve_accounts(
    conn: asyncpg.Connection,
    links: AccountLinks,
    company_id: str,
    partitions: int,
    rows: list[tuple[Any, CleanedRecord]],
    new_id: Callable[[], uuid.UUID],
) -> LinkPlan:
    """Each row's account, found or planned: the rows come back with ``links.column`` (and the account's name
    in ``links.name_field`` when the row gives none) among their values, or with an issue saying why not."""
    keyed: list[tuple[int, str | None, dict[str, Any]]] = []
    for i, (row, cleaned) in enumerate(rows):
        if row.problem or not cleaned.ok:
            continue
        values = _values(cleaned)
        if values:
            given = values.get(LINK_BY[links.by])
            keyed.append((i, _key(links.by, given) if given is not None else None, values))
    keys = sorted({k for _, k, _ in keyed if k is not None})
    plan = LinkPlan(list(rows))
    if not keyed:
        return plan
    creating = links.missing == "create"
    # Locked by the keys a new account would be matched on by an accounts import as well as by the link key.
    own_keys = {match_key(links.accounts, {f: str(v) for f, v in values.items()}) for _, _, values in keyed}
    await _lock(conn, company_id, partitions, [*keys, *(k for k in own_keys if k is not None)])
    found = await _found(conn, links.by, company_id, keys)
    taken = (
        await _external_ids_taken(
            conn, company_id, sorted({str(v["external_id"]) for _, _, v in keyed if "external_id" in v})
        )
        if creating and links.by != "external_id"
        else set()
    )
    planned: dict[str, tuple[uuid.UUID, Any]] = {}  # link key -> (new account, its name)
    required = list(links.accounts.required_fields)
    for i, key, values in keyed:
        row, cleaned = plan.rows[i]
        if key is None:
            cleaned = _with_issue(cleaned, _no_key(links, row.raw.get(links.key_field)))
            plan.rows[i] = (row, cleaned)
            continue
        if key in found:
            account_id, name = found[key]["id"], found[key]["name"]
        elif key in planned:
            account_id, name = planned[key]
        elif not creating:
            plan.rows[i] = (row, _with_issue(cleaned, _not_found(links, key)))
            continue
        else:
            problem = _cannot_create(links, key, values, required, taken)
            if problem is not None:
                plan.rows[i] = (row, _with_issue(cleaned, problem))
                continue
            account_id, name = new_id(), values.get("name")
            planned[key] = (account_id, name)
            plan.new[account_id] = _account_values(links.accounts, values)
            if "external_id" in values:
                taken.add(str(values["external_id"]))
        linked = {**cleaned.values, links.column: account_id}
        if cleaned.values.get(links.name_field) is None and name is not None:
            linked[links.name_field] = name
        plan.rows[i] = (row, CleanedRecord(linked, cleaned.issues, cleaned.match_key))
        plan.linked[row.number] = account_id
    return plan


def _account_values(accounts: TargetModel, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["match_key"] = match_key(accounts, {f: v if isinstance(v, str) else str(v) for f, v in values.items()})
    out["date_precision"] = {k: v.precision for k, v in values.items() if v.__class__ is PartialDate} or None
    return out


def _no_key(links: AccountLinks, raw: str | None) -> Issue:
    what = "is empty" if not raw else "names no account"
    return Issue(
        links.key_field,
        raw,
        f"the row has account columns but its {links.key_field} {what}, so the contact was imported without an account",
        f"give each contact's account {links.by} in the {links.key_field} column",
        "warning",
    )


def _not_found(links: AccountLinks, key: str) -> Issue:
    return Issue(
        links.key_field,
        key,
        f"no account has the {_shown(links.by, key)}; the contact was imported without an account",
        "import the account first and import this row again, or import with missing_accounts create",
        "warning",
    )


def _cannot_create(
    links: AccountLinks, key: str, values: dict[str, Any], required: list[str], taken: set[str]
) -> Issue | None:
    absent = [f for f in required if values.get(f) is None]
    if absent:
        field_name = f"{LINKED}.{absent[0]}"
        return Issue(
            field_name,
            None,
            f"no account has the {_shown(links.by, key)} and the row gives no {', '.join(absent)} to create it",
            f"give the account's {', '.join(absent)} in the {field_name} column, or import the account first",
            "error",
        )
    given = values.get("external_id")
    if given is not None and str(given) in taken:
        return Issue(
            f"{LINKED}.external_id",
            str(given),
            f"no account has the {_shown(links.by, key)}, and the account it would create has the external_id "
            f"{str(given)!r}, which another account holds; external ids are unique",
            "import with account_match external_id to link the contact to that account, or correct the id",
            "error",
        )
    return None
