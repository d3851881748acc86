"""A contact's account fields in the model, the mapping's choice of link, the link keys and the exports' join
(issue 18), without a database: tests/integration/test_account_links.py runs them for real."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from schemas.models import get_model, own_name
from services.apply.account_links import AccountLinks, LinkPlan, _key, complete_accounts
from services.cleansing.cleaning import PartialDate
from services.cleansing.job_values import link_choice
from services.core.errors import MappingError, ValidationRulesError
from services.exports.query import build_query, check_filters, check_sort, export_fields
from services.ingest.mapping import RELATED, default_mapping, suggest_mapping

CONTACT = get_model("contact").with_related(get_model("account"))
PERSON = ["email", "first_name", "last_name"]


def test_the_accounts_fields_are_the_contacts_to_map_but_never_its_columns_or_required() -> None:
    related = CONTACT.related_fields
    assert [f.name for f in related] == [f"account.{f.name}" for f in get_model("account").fields]
    assert all(f.related == "account" and not f.required for f in related)
    assert own_name(CONTACT.by_name["account.website"]) == "website"
    assert CONTACT.column_names == get_model("contact").column_names
    assert CONTACT.required_fields == ("first_name", "last_name")
    assert CONTACT.link_columns == ("account_id",) and CONTACT.link_column("account") == "account_id"
    # Linked twice is still linked once; a company's custom fields go before the linked record's.
    assert CONTACT.with_related(get_model("account")).fields == CONTACT.fields


def test_the_link_key_is_the_first_mapped_of_external_id_domain_and_name_unless_chosen() -> None:
    assert link_choice(CONTACT, PERSON, {}) is None
    assert link_choice(CONTACT, [*PERSON, "account.name", "account.website"], {}) == ("domain", "create")
    assert link_choice(CONTACT, [*PERSON, "account.name", "account.external_id"], {}) == ("external_id", "create")
    assert link_choice(CONTACT, [*PERSON, "account.name"], {"missing_accounts": "warn"}) == ("name", "warn")
    assert link_choice(CONTACT, [*PERSON, "account.name", "account.website"], {"account_match": "name"}) == (
        "name",
        "create",
    )


@pytest.mark.parametrize(
    ("mapped", "options", "error", "says"),
    [
        (["account.industry"], {}, MappingError, "none says which account a contact belongs to"),
        (["account.name"], {"account_match": "domain"}, MappingError, "map the file's column of it to account.website"),
        ([], {"account_match": "name"}, MappingError, "maps no column to an account field"),
        (["account.name"], {"account_match": "vat"}, ValidationRulesError, "by external_id, domain, name"),
        (["account.name"], {"missing_accounts": "ignore"}, ValidationRulesError, "choose create or warn"),
    ],
)
def test_a_link_the_mapping_cannot_make_is_refused_saying_what_to_map(
    mapped: list[str], options: dict[str, str], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        link_choice(CONTACT, [*PERSON, *mapped], options)


def test_a_lead_or_an_account_links_to_no_account() -> None:
    lead = get_model("lead")
    with pytest.raises(MappingError, match="lead records link to no account"):
        link_choice(lead, [*PERSON, "account.name"], {})


def test_link_keys_read_a_website_as_its_domain_an_id_as_written_and_a_name_without_case_or_spaces() -> None:
    assert _key("domain", "https://WWW.Acme.com:8080/about") == _key("domain", "acme.com") == "domain:acme.com"
    assert _key("domain", "n/a") is None
    assert _key("external_id", "  ACC-1 ") == "ACC-1" and _key("external_id", "acc-1") == "acc-1"
    assert _key("name", "  Acme   Corp ") == _key("name", "ACME CORP") == "acme corp"
    assert _key("name", "   ") is None


def test_the_accounts_columns_are_suggested_below_what_maps_without_asking_and_never_by_values() -> None:
    headers = ["Email", "First Name", "Last Name", "Company Name", "Company Domain", "Account Industry", "Homepage"]
    suggested = {s.column: s for s in suggest_mapping(CONTACT, headers)}
    assert suggested["Company Domain"].field == "account.website"
    assert suggested["Company Domain"].confidence == RELATED < 0.8
    assert suggested["Account Industry"].field == "account.industry"
    assert suggested["Company Name"].field == "account"  # the contact's own company text, as before
    samples = {"Homepage": ["https://a.example", "https://b.example", "https://c.example", "https://d.example"]}
    assert suggest_mapping(CONTACT, headers, samples=samples)[-1].field is None  # a website column says no link
    assert not any(f.startswith("account.") for f in default_mapping(CONTACT, headers).values())


def test_an_export_of_contacts_joins_their_account_only_when_it_reads_its_fields() -> None:
    plain = build_query(CONTACT, "c", export_fields(CONTACT, None), [], [])
    assert "JOIN" not in plain.sql and all(not f.related for f in export_fields(CONTACT, None))
    fields = export_fields(CONTACT, ["email", "account.name"])
    q = build_query(
        CONTACT,
        "c",
        fields,
        check_filters(CONTACT, [{"field": "account.industry", "op": "eq", "value": "Retail"}]),
        check_sort(CONTACT, ["-account.name"]),
    )
    join = (
        "LEFT JOIN crm_accounts AS link_account ON link_account.id = t.account_id "
        "AND link_account.company_id = t.company_id"
    )
    assert join in q.sql and join in q.count_sql and join in q.copy_sql and join in q.json_copy_sql
    assert 'link_account."name" AS "account.name"' in q.sql
    assert 'ORDER BY link_account."name" DESC NULLS LAST, t.id' in q.sql
    assert q.args == ("c", "Retail")


def _plan(
    given: dict[int, dict[str, object]], new: uuid.UUID | None, earlier: dict[uuid.UUID, dict[str, object]]
) -> LinkPlan:
    account = new or next(iter(earlier))
    return LinkPlan(
        rows=[],
        linked=dict.fromkeys(given, account),
        new={new: dict(given[min(given)])} if new else {},
        given=given,
        earlier=earlier,
    )


LINKS = AccountLinks("name", "create", get_model("account"), "account_id")


def test_a_new_account_takes_the_first_value_each_field_gets_from_rows_whose_contact_is_written() -> None:
    a = uuid.uuid4()
    plan = _plan(
        {
            1: {"name": "Acme"},
            2: {"name": "ACME ", "industry": "Retail"},  # the key, written otherwise: no warning
            3: {"name": "Acme", "phone": "+12125550100"},  # skipped below: gives nothing
            4: {"name": "Acme", "industry": "Banking", "annual_revenue": Decimal("10.0")},
            5: {"name": "Acme", "industry": " retail", "annual_revenue": 10},  # the same values: nothing to say
        },
        a,
        {},
    )
    writes = complete_accounts(
        LINKS, plan, [(1, "created"), (2, "updated"), (3, "skipped"), (4, "created"), (5, "created")]
    )
    assert writes.created == {1: a} and not writes.updates
    values = writes.inserts[a]
    assert (values["industry"], values["annual_revenue"], values.get("phone")) == ("Retail", Decimal("10.0"), None)
    assert values["match_key"] is not None and values["date_precision"] is None
    assert list(writes.warnings) == [4]
    [issue] = writes.warnings[4]
    assert (issue.field, issue.level) == ("account.industry", "warning")
    assert "already has the industry 'Retail' (from an earlier row naming it); this row's 'Banking'" in issue.message


def test_a_new_account_takes_its_values_from_the_first_row_written_not_from_a_skipped_row_that_planned_it() -> None:
    a = uuid.uuid4()
    plan = _plan(
        {
            1: {"name": "Acme", "website": "acme.com", "industry": "Retail"},  # planned it; its contact is skipped
            2: {"website": "acme.com", "industry": "Banking"},  # created: its values, the name from row 1
        },
        a,
        {},
    )
    links = AccountLinks("domain", "create", get_model("account"), "account_id")
    writes = complete_accounts(links, plan, [(1, "skipped"), (2, "created")])
    assert writes.created == {2: a} and not writes.warnings
    values = writes.inserts[a]
    assert (values["name"], values["industry"], values["website"]) == ("Acme", "Banking", "acme.com")


def test_an_account_created_by_an_earlier_batch_is_completed_only_where_it_is_empty() -> None:
    a = uuid.uuid4()
    stored = {"name": "Acme", "industry": None, "phone": "+1", "match_key": "name:acme", "date_precision": None}
    plan = _plan({7: {"name": "Acme", "industry": "Retail"}}, None, {a: stored})
    writes = complete_accounts(LINKS, plan, [(7, "created")])
    assert not writes.created and not writes.inserts and not writes.warnings
    assert (writes.updates[a]["industry"], writes.updates[a]["phone"]) == ("Retail", "+1")
    # A stored partial date keeps its precision; a partial date given now brings its own.
    founded = {**stored, "founded_date": dt.date(1990, 1, 1), "date_precision": {"founded_date": "year"}}
    plan = _plan({9: {"name": "Acme", "founded_date": PartialDate(1991, precision="year")}}, None, {a: founded})
    writes = complete_accounts(LINKS, plan, [(9, "created")])
    assert not writes.updates and "founded_date" in writes.warnings[9][0].message  # 1990 held, 1991 not applied
    plan = _plan({9: {"name": "Acme", "industry": "Retail"}}, None, {a: founded})
    assert complete_accounts(LINKS, plan, [(9, "created")]).updates[a]["date_precision"] == {"founded_date": "year"}
    new = uuid.uuid4()
    plan = _plan(
        {1: {"name": "New"}, 2: {"name": "New", "founded_date": PartialDate(2001, 5, precision="month")}}, new, {}
    )
    assert complete_accounts(LINKS, plan, [(1, "created"), (2, "created")]).inserts[new]["date_precision"] == {
        "founded_date": "month"
    }
    # Nothing to add: nothing written.
    plan = _plan({8: {"name": "Acme", "phone": "+1"}}, None, {a: stored})
    assert not complete_accounts(LINKS, plan, [(8, "updated")]).updates


def test_an_account_only_skipped_or_failed_rows_name_is_not_created() -> None:
    plan = _plan({1: {"name": "Acme"}, 2: {"name": "Acme"}}, uuid.uuid4(), {})
    writes = complete_accounts(LINKS, plan, [(1, "skipped"), (2, "failed")])
    assert not writes.created and not writes.inserts


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Associated Company ID", "account.external_id"),  # HubSpot's contacts export
        ("Company Domain Name", "account.website"),  # HubSpot
        ("Account: Billing City", "account.billing_city"),  # a Salesforce report
        ("Account ID", "account.external_id"),  # Salesforce
        ("Firmen-Website", "account.website"),
        ("Branche des Unternehmens", None),  # a grammar this does not know: nothing rather than a guess
        ("Unternehmen Branche", "account.industry"),
        ("Secteur de l'entreprise", "account.industry"),
        ("Sitio web de la empresa", "account.website"),
        ("Azienda Settore", "account.industry"),
        ("Associated Company", "account"),  # HubSpot: the primary company's name, the contact's own company text
        ("Bedrijfs Website", "account.website"),
    ],
)
def test_an_accounts_column_is_suggested_from_its_words_in_several_languages(header: str, field: str | None) -> None:
    [suggestion] = suggest_mapping(CONTACT, [header])
    assert suggestion.field == field, suggestion
    if field is not None and field.startswith("account."):
        assert suggestion.confidence == RELATED
