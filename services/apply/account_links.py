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
account found is linked as it is (the row's account columns do not change it), unless this import created it:
an account the import creates takes, field by field, the first value its rows give (complete_accounts), so
its values do not depend on which partition's batch happened to create it; a row giving another value for a
field the account already holds gets a warning naming both.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from schemas.models import TargetModel, get_model
from services.cleansing.cleaning import CleanedRecord, Issue, PartialDate, match_key
from services.cleansing.job_values import LINK_BY, LINKED, LinkBy, Missing, link_choice
from services.core.routing import partition_for
from services.fields.company_model import company_model

__all__ = ["AccountLinks", "AccountWrites", "LinkPlan", "complete_accounts", "job_links", "resolve_accounts"]

# Accounts found by name as migration 023's index keys them: case and runs of white space ignored in every
# script (ICU's root collation, as Python's str.lower and str.split, whatever the database's locale).
_NAME_SQL = r"""lower(regexp_replace(name COLLATE "und-x-icu", '\s+', ' ', 'g'))"""


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
    # Account -> the values of the first row naming it (checked to have what an account needs); the account is
    # created with those of the first row whose contact is created or updated (complete_accounts).
    new: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    # Row number -> its account values, for a row naming an account this import creates (here or earlier).
    given: dict[int, dict[str, Any]] = field(default_factory=dict)
    # An account this import created in an earlier batch, unchanged since -> its stored values.
    earlier: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


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
    return CleanedRecord(cleaned.values, [*cleaned.issues, issue], cleaned.match_key, cleaned.needs)


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
    job_id: uuid.UUID,
    skipped: Container[str] = (),
) -> LinkPlan:
    """Each row's account, found or planned: the rows come back with ``links.column`` (and the account's name
    in ``links.name_field`` when the row gives none) among their values, or with an issue saying why not.
    ``skipped``: match keys of contacts the import leaves as they are (stored ones, in skip mode): their rows'
    account columns are neither looked up nor judged."""
    keyed: list[tuple[int, str | None, dict[str, Any]]] = []
    for i, (row, cleaned) in enumerate(rows):
        if row.problem or not cleaned.ok or cleaned.match_key in skipped:
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
    if creating:
        plan.earlier = await _created_by(conn, links.accounts, company_id, job_id, [r["id"] for r in found.values()])
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
            plan.new[account_id] = values
            if "external_id" in values:
                taken.add(str(values["external_id"]))
        if account_id in plan.new or account_id in plan.earlier:
            plan.given[row.number] = values
        linked = {**cleaned.values, links.column: account_id}
        if cleaned.values.get(links.name_field) is None and name is not None:
            linked[links.name_field] = name
        plan.rows[i] = (row, CleanedRecord(linked, cleaned.issues, cleaned.match_key, cleaned.needs))
        plan.linked[row.number] = account_id
    return plan


async def _created_by(
    conn: asyncpg.Connection, accounts: TargetModel, company_id: str, job_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Of these accounts, those this import created (its ledger's linked_created) and nothing changed since
    (version 1): id -> own field values (custom ones as the "custom" jsonb holds them), match_key, date_precision."""
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT a.id, a.match_key, a.date_precision, {', '.join(f'a.{c}' for c in accounts.column_names)}, a.custom "
        "FROM crm_accounts a WHERE a.company_id = $1 AND a.id = ANY($2::uuid[]) AND a.version = 1 AND EXISTS "
        "(SELECT 1 FROM crm_import_ledger l WHERE l.job_id = $3 AND l.company_id = $1 AND l.linked_created = a.id) "
        "FOR UPDATE OF a",  # held to the commit: an accounts import changing one meanwhile waits for it
        company_id,
        ids,
        job_id,
    )
    earlier = {}
    for r in rows:
        values = {c: r[c] for c in ("match_key", "date_precision", *accounts.column_names)}
        values.update({f.name: (r["custom"] or {}).get(f.name) for f in accounts.custom_fields})
        earlier[r["id"]] = values
    return earlier


@dataclass(slots=True)
class AccountWrites:
    """What a batch writes to the accounts its rows name, once their contacts' outcomes are known."""

    created: dict[int, uuid.UUID] = field(default_factory=dict)  # row number -> the account its row creates
    inserts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # new account -> its values
    updates: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # earlier account -> its values now
    warnings: dict[int, list[Issue]] = field(default_factory=dict)  # row number -> values not applied


def complete_accounts(links: AccountLinks, plan: LinkPlan, outcomes: Iterable[tuple[int, str]]) -> AccountWrites:
    """The accounts this import creates, completed by the rows naming them, in file order: only rows whose
    contact is created or updated count (an account only skipped or failed rows name is not created). The
    first of them creates a new account; each field the account lacks takes the first value a row gives; a row
    giving another value for a field the account holds gets a warning (its link key aside: it matched)."""
    out = AccountWrites()
    current: dict[uuid.UUID, dict[str, Any]] = {}
    changed: set[uuid.UUID] = set()
    key_field = LINK_BY[links.by]
    for n, outcome in outcomes:
        account = plan.linked.get(n)
        if outcome not in ("created", "updated") or n not in plan.given or account is None:
            continue
        if account not in current:
            if account in plan.new:
                out.created[n] = account
            # A new account starts empty: the rows that count fill it (not the row that planned it, which
            # may be skipped or fail); earlier ones hold what they were created with.
            current[account] = {} if account in plan.new else dict(plan.earlier[account])
        values = current[account]
        for f, v in plan.given[n].items():
            held = values.get(f)
            if held is None:
                values[f] = v
                changed.add(account)
            elif f != key_field and not _same(held, v):
                out.warnings.setdefault(n, []).append(_not_applied(values.get("name"), f, held, v))
    for account, values in current.items():
        if account in plan.new:
            # What an account needs that no counting row gave: from the row that planned it (checked to have it).
            for f in links.accounts.required_fields:
                if values.get(f) is None and plan.new[account].get(f) is not None:
                    values[f] = plan.new[account][f]
            out.inserts[account] = _account_values(links.accounts, values)
        elif account in changed:
            out.updates[account] = _account_values(links.accounts, values)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _same(held: Any, given: Any) -> bool:
    """The value an account holds (a custom one as its jsonb has it) and a row's value are the same: numbers by
    value, dates by day, text without case and runs of white space."""
    a, b = _plain(held), _plain(given)
    if isinstance(a, Decimal) != isinstance(b, Decimal):
        try:
            a, b = Decimal(str(a)), Decimal(str(b))
        except InvalidOperation:
            return False
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return bool(a == b)


def _not_applied(name: Any, f: str, held: Any, given: Any) -> Issue:
    return Issue(
        f"{LINKED}.{f}",
        str(_plain(given)),
        f"the account {name!r} already has the {f} {str(_plain(held))!r} (from an earlier row naming it); this "
        f"row's {str(_plain(given))!r} was not applied to it",
        "give every row of one account the same account values, or correct the account after the import",
        "warning",
    )


def _account_values(accounts: TargetModel, values: dict[str, Any]) -> dict[str, Any]:
    """An account's values with its match_key and date_precision (kept for a stored field, taken from the
    value for a field given now)."""
    own = {f: v for f, v in values.items() if f not in ("match_key", "date_precision")}
    out = dict(own)
    out["match_key"] = match_key(
        accounts, {f: v if isinstance(v, str) else str(v) for f, v in own.items() if v is not None}
    )
    precision = dict(values.get("date_precision") or {})
    precision.update({k: v.precision for k, v in own.items() if v.__class__ is PartialDate})
    out["date_precision"] = precision or None
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
