"""The built-in picklists: which choice field draws on which list, and the values every company starts with.

A company's picklist is these values overlaid with its own rows (crm_picklist_values): it may
relabel a value, give it synonyms, retire it or add values. Stored records keep the value (the
stable name, e.g. ``cold_call``); the label is what people read.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.models import ACCOUNT_TYPES, LEAD_SOURCES, LEAD_STATUSES, MODELS, Field, own_name

__all__ = ["BuiltinValue", "BUILTIN", "FIELD_PICKLISTS", "picklist_of", "field_picklist", "choice_fields"]


@dataclass(frozen=True, slots=True)
class BuiltinValue:
    value: str
    label: str
    # Words people write in files for this value; matched ignoring case, spaces and punctuation.
    synonyms: tuple[str, ...] = ()


def _values(
    names: tuple[str, ...], labels: dict[str, str], synonyms: dict[str, tuple[str, ...]]
) -> tuple[BuiltinValue, ...]:
    return tuple(BuiltinValue(n, labels.get(n, n.replace("_", " ").capitalize()), synonyms.get(n, ())) for n in names)


BUILTIN: dict[str, tuple[BuiltinValue, ...]] = {
    "lead_source": _values(
        LEAD_SOURCES,
        {"web": "Web", "email_campaign": "Email campaign", "social_media": "Social media", "cold_call": "Cold call"},
        {
            "web": ("website", "web site", "online", "internet", "homepage", "organic search", "seo", "inbound"),
            "referral": ("word of mouth", "customer referral", "employee referral", "recommendation"),
            "partner": ("partner referral", "channel partner", "reseller", "affiliate"),
            "event": ("conference", "seminar", "meetup", "workshop", "webinar"),
            "advertisement": ("ad", "ads", "advertising", "paid search", "ppc", "display ads", "banner"),
            "cold_call": ("cold calling", "outbound call", "phone inquiry", "telemarketing"),
            "email_campaign": ("email", "e-mail", "newsletter", "email marketing", "mailing"),
            "social_media": ("social", "social network"),
            "trade_show": ("tradeshow", "trade fair", "expo", "exhibition", "fair"),
            "other": ("misc", "miscellaneous", "unknown"),
        },
    ),
    "lead_status": _values(
        LEAD_STATUSES,
        {},
        {
            "new": ("open", "not contacted", "open not contacted", "fresh", "neu"),
            "contacted": (
                "working",
                "working contacted",
                "in progress",
                "attempted",
                "attempted to contact",
                "nurturing",
                "follow up",
                "engaged",
                "connected",
            ),
            "qualified": (
                "sql",
                "mql",
                "sales qualified",
                "marketing qualified",
                "hot",
                "opportunity",
                "proposal",
                "proposal sent",
                "negotiation",
                "demo scheduled",
                "meeting scheduled",
                "open deal",
            ),
            "unqualified": (
                "disqualified",
                "not qualified",
                "junk",
                "closed not converted",
                "lost",
                "dead",
                "bad timing",
            ),
            "converted": ("closed converted", "won", "closed won", "customer"),
        },
    ),
    "account_type": _values(
        ACCOUNT_TYPES,
        {},
        {
            "prospect": ("lead", "potential", "potential customer", "target"),
            "customer": ("client", "customer direct", "customer channel", "existing customer", "active customer"),
            "partner": ("technology partner", "integrator", "alliance"),
            "competitor": ("rival", "competition"),
            "reseller": ("distributor", "var", "channel"),
            "other": ("misc", "miscellaneous", "unknown"),
        },
    ),
}

# (model, field) -> picklist: one list may serve several fields (a lead's and a contact's source).
FIELD_PICKLISTS: dict[tuple[str, str], str] = {
    ("lead", "lead_source"): "lead_source",
    ("contact", "lead_source"): "lead_source",
    ("lead", "status"): "lead_status",
    ("account", "type"): "account_type",
}


def picklist_of(model: str, field: str) -> str | None:
    """The picklist a model's choice field draws on, or None for other fields."""
    return FIELD_PICKLISTS.get((model, field))


def field_picklist(model: str, field: Field) -> str | None:
    """The picklist ``field`` of ``model`` draws on: a custom field's own, or the built-in one of the model that
    stores it (the account's for a contact's "account.type")."""
    return field.picklist or FIELD_PICKLISTS.get((field.related or model, own_name(field)))


def choice_fields(model: str) -> tuple[str, ...]:
    """The model's fields that draw on a picklist, in model order."""
    return tuple(f.name for f in MODELS[model].fields if (model, f.name) in FIELD_PICKLISTS)


def _check() -> None:
    # Every choice field has a picklist and every picklist's built-in values are the field's choices.
    for name, model in MODELS.items():
        for f in model.fields:
            if f.type == "choice":
                pick = FIELD_PICKLISTS.get((name, f.name))
                assert pick is not None, f"{name}.{f.name} has no picklist"
                assert tuple(v.value for v in BUILTIN[pick]) == f.choices, f"{name}.{f.name} choices differ from {pick}"


_check()
