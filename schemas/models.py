"""The CRM target models as data: fields, types, required flags, choices, header synonyms, match keys.

Everything that maps, cleanses, validates, stores or exports a record reads this registry; the
SQL tables in ``schemas/migrations`` hold one column per field here (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from typing import Literal

__all__ = ["FieldType", "Field", "TargetModel", "MODELS", "get_model", "SQL_TYPES", "own_name"]

FieldType = Literal["string", "text", "email", "phone", "url", "integer", "decimal", "date", "boolean", "choice"]

# Column type per field type; the migration uses exactly these.
SQL_TYPES: dict[str, str] = {
    "string": "text",
    "text": "text",
    "email": "text",
    "phone": "text",
    "url": "text",
    "choice": "text",
    "integer": "bigint",
    "decimal": "numeric(18,2)",
    "date": "date",
    "boolean": "boolean",
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType = "string"
    required: bool = False
    max_length: int | None = 255
    choices: tuple[str, ...] = ()
    # Header spellings (besides the name and label) that suggest this field when mapping.
    synonyms: tuple[str, ...] = ()
    label: str = ""
    # A company's own field (services/fields): stored in the table's ``custom`` jsonb column, not a column of its own.
    custom: bool = False
    # The picklist a custom choice field draws on (built-in choice fields: schemas.picklists.FIELD_PICKLISTS).
    picklist: str | None = None
    # Values the company retired from the field's picklist: no longer taken from files, still held by records
    # (an export may filter on them). ``choices`` are the active ones.
    retired: tuple[str, ...] = ()
    # Set on a field of a linked record ("account" for a contact's "account.website"): mapped, cleansed and
    # exported with the record, stored on the linked one (see TargetModel.with_related).
    related: str | None = None

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").title()


def own_name(field: Field) -> str:
    """The field's name on the record that stores it: "website" for a contact's "account.website"."""
    return field.name.partition(".")[2] if field.related else field.name


@dataclass(frozen=True, slots=True)
class TargetModel:
    name: str
    table: str
    fields: tuple[Field, ...]
    # Fields whose normalized value is the duplicate-match key, in order of preference:
    # the first one with a value wins (Account: domain of website, else name).
    match_fields: tuple[str, ...]
    # The records each record may link to: (model, column holding the linked record's id), a contact's
    # ("account", "account_id"). The column is no field: read, written and kept in before-images with the record.
    links: tuple[tuple[str, str], ...] = ()
    # A company's retired custom fields: no fields of the model, but a file, template or export naming one is
    # told so (unknown()), not that the field never was.
    retired_fields: tuple[str, ...] = ()
    by_name: dict[str, Field] = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def field(self, name: str) -> Field:
        return self.by_name[name]

    def unknown(self, names: Iterable[object]) -> str:
        """Names that are no field of the model, quoted for a message; a retired custom field says so."""
        return ", ".join(
            f"{n!r} (a custom field the company retired: restore it with crmio fields restore, or leave it out)"
            if n in self.retired_fields
            else repr(n)
            for n in names
        )

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def link_columns(self) -> tuple[str, ...]:
        return tuple(column for _, column in self.links)

    def link_column(self, linked: str) -> str:
        """The column holding the id of the ``linked`` record ("account_id" for a contact's account)."""
        return dict(self.links)[linked]

    @property
    def own_fields(self) -> tuple[Field, ...]:
        """The model's own fields: built-in and custom, not those of linked records."""
        return tuple(f for f in self.fields if f.related is None)

    @property
    def related_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.related is not None)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required and f.related is None)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The fields that are columns of the table (every own field but a company's custom ones)."""
        return tuple(f.name for f in self.fields if not f.custom and f.related is None)

    @property
    def custom_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.custom and f.related is None)

    def matching_on(self, field: str | None) -> TargetModel:
        """This model with duplicates matched on ``field`` alone (external_id, as Salesforce's upsert), or as it is."""
        return replace(self, match_fields=(field,)) if field and self.match_fields != (field,) else self

    def with_custom(self, fields: tuple[Field, ...]) -> TargetModel:
        """This model with a company's custom ``fields`` after its own."""
        if not fields:
            return self
        built_in = (f for f in self.fields if not f.custom and f.related is None)
        return replace(self, fields=(*built_in, *fields, *self.related_fields))

    def with_related(self, linked: TargetModel) -> TargetModel:
        """This model with the fields of ``linked`` (a contact's account) as "<linked>.<field>", after its own:
        an import maps columns to them to link each record to a linked one, found or created from them."""
        prefix = linked.name
        related = tuple(
            replace(
                f,
                name=f"{prefix}.{f.name}",
                label=f"{prefix.title()} {f.title}",
                required=False,  # needed only to create the linked record: checked then
                related=prefix,
            )
            for f in linked.own_fields
        )
        return replace(self, fields=(*(f for f in self.fields if f.related != prefix), *related))


LEAD_STATUSES = ("new", "contacted", "qualified", "unqualified", "converted")
LEAD_SOURCES = (
    "web",
    "referral",
    "partner",
    "event",
    "advertisement",
    "cold_call",
    "email_campaign",
    "social_media",
    "trade_show",
    "other",
)
ACCOUNT_TYPES = ("prospect", "customer", "partner", "competitor", "reseller", "other")

_EMAIL = Field(
    "email",
    "email",
    synonyms=(
        "e-mail",
        "email address",
        "email 1",
        "e-mail address",
        "mail",
        "work email",
        "e-mail 1",
        "primary email",
        "email address 1",
    ),
)
_PHONE = Field(
    "phone",
    "phone",
    max_length=40,
    synonyms=(
        "phone 1",
        "phone number",
        "telephone",
        "tel",
        "work phone",
        "business phone",
        "primary phone",
        "main phone",
        "phone no",
        "telephone number",
    ),
)
_MOBILE = Field(
    "mobile_phone",
    "phone",
    max_length=40,
    synonyms=("mobile", "cell", "cell phone", "mobile number", "phone 2", "mobile phone", "cellphone", "cell number"),
)
_FIRST = Field(
    "first_name", required=True, max_length=100, synonyms=("first", "firstname", "given name", "forename", "fname")
)
_LAST = Field(
    "last_name", required=True, max_length=100, synonyms=("last", "lastname", "surname", "family name", "lname")
)
_TITLE = Field("title", max_length=128, synonyms=("job title", "position", "role", "designation", "occupation", "job"))
_DESCRIPTION = Field(
    "description",
    "text",
    max_length=32000,
    synonyms=("notes", "note", "comments", "comment", "remarks", "details", "about"),
)


def _external_id(*ids: str) -> Field:
    """The id another system gave a record; ``ids`` are the headers that name this kind's id: another kind's
    ("Account ID" in a contacts file) is the linked record's, never the record's own."""
    return Field(
        "external_id",
        max_length=255,
        synonyms=("id", "external id", "record id", "crm id", "customer id", *ids),
    )


LEAD = TargetModel(
    name="lead",
    table="crm_leads",
    fields=(
        _FIRST,
        _LAST,
        _EMAIL,
        _PHONE,
        _MOBILE,
        Field(
            "company",
            max_length=255,
            synonyms=(
                "company name",
                "organization",
                "organisation",
                "account name",
                "employer",
                "organization name",
                "organisation name",
                "business name",
            ),
        ),
        _TITLE,
        Field(
            "lead_source",
            "choice",
            choices=LEAD_SOURCES,
            max_length=40,
            synonyms=("source", "lead source", "origin", "channel"),
        ),
        Field(
            "status",
            "choice",
            choices=LEAD_STATUSES,
            max_length=40,
            synonyms=("lead status", "stage", "deal stage", "lead stage", "pipeline stage"),
        ),
        Field("industry", max_length=128, synonyms=("sector", "vertical")),
        Field("annual_revenue", "decimal", max_length=None, synonyms=("revenue", "annual revenue", "yearly revenue")),
        Field(
            "number_of_employees",
            "integer",
            max_length=None,
            synonyms=(
                "employees",
                "headcount",
                "employee count",
                "no of employees",
                "company size",
                "staff count",
                "num employees",
                "employees count",
            ),
        ),
        Field(
            "website",
            "url",
            synonyms=("web site", "url", "homepage", "web", "website url", "company website", "web address", "site"),
        ),
        Field("city", max_length=128, synonyms=("town",)),
        Field("country", max_length=128, synonyms=("nation",)),
        Field(
            "converted_date",
            "date",
            max_length=None,
            synonyms=("converted on", "conversion date", "date converted", "converted at"),
        ),
        _DESCRIPTION,
        _external_id("lead id", "contact id", "person id", "user id"),
    ),
    match_fields=("email",),
)

CONTACT = TargetModel(
    name="contact",
    table="crm_contacts",
    fields=(
        _FIRST,
        _LAST,
        _EMAIL,
        _PHONE,
        _MOBILE,
        _TITLE,
        Field("department", max_length=128, synonyms=("dept", "division")),
        Field(
            "account",
            max_length=255,
            synonyms=(
                "account name",
                "company",
                "company name",
                "organization",
                "organisation",
                "employer",
                "associated company",  # HubSpot's contacts export: the primary company's name
            ),
        ),
        Field("birthdate", "date", max_length=None, synonyms=("birthday", "date of birth", "dob", "birth date")),
        Field(
            "lead_source",
            "choice",
            choices=LEAD_SOURCES,
            max_length=40,
            synonyms=("source", "lead source", "origin", "channel"),
        ),
        Field("mailing_city", max_length=128, synonyms=("city", "town")),
        Field("mailing_country", max_length=128, synonyms=("country", "nation")),
        Field("do_not_call", "boolean", max_length=None, synonyms=("dnc", "do not call")),
        _DESCRIPTION,
        _external_id("contact id", "person id", "user id", "lead id"),
    ),
    match_fields=("email",),
    links=(("account", "account_id"),),
)

ACCOUNT = TargetModel(
    name="account",
    table="crm_accounts",
    fields=(
        Field(
            "name",
            required=True,
            max_length=255,
            synonyms=(
                "account name",
                "company",
                "company name",
                "organization",
                "organisation",
                "account",
                "organization name",
                "organisation name",
                "business name",
            ),
        ),
        Field(
            "website",
            "url",
            synonyms=(
                "web site",
                "url",
                "homepage",
                "domain",
                "domain name",
                "web",
                "website url",
                "company website",
                "web address",
                "site",
            ),
        ),
        Field("industry", max_length=128, synonyms=("sector", "vertical")),
        Field("type", "choice", choices=ACCOUNT_TYPES, max_length=40, synonyms=("account type", "relationship")),
        Field(
            "employees",
            "integer",
            max_length=None,
            synonyms=(
                "number of employees",
                "headcount",
                "employee count",
                "no of employees",
                "company size",
                "staff count",
                "num employees",
                "employees count",
            ),
        ),
        Field("annual_revenue", "decimal", max_length=None, synonyms=("revenue", "annual revenue", "yearly revenue")),
        _PHONE,
        Field("billing_city", max_length=128, synonyms=("city", "town")),
        Field("billing_country", max_length=128, synonyms=("country", "nation")),
        Field(
            "founded_date",
            "date",
            max_length=None,
            synonyms=(
                "founded",
                "founded on",
                "established",
                "year founded",
                "founded year",
                "founding date",
                "date founded",
                "incorporated",
            ),
        ),
        _DESCRIPTION,
        _external_id("account id", "organization id", "organisation id", "company id"),
    ),
    match_fields=("website", "name"),
)

MODELS: dict[str, TargetModel] = {m.name: m for m in (LEAD, CONTACT, ACCOUNT)}


def get_model(name: str) -> TargetModel:
    """The target model called ``name`` (lead, contact, account); ValueError names the choices."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown target model {name!r}; choose one of {', '.join(MODELS)}") from None
