"""What a custom field may be: its types, its name, and the Field the rest of crmio reads it as."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any

import asyncpg

from schemas.models import Field, FieldType, TargetModel
from services.cleansing.picklists import new_value_name
from services.cleansing.validation import validate_rules
from services.core.errors import CustomFieldError, ValidationRulesError

__all__ = ["CREATED_AS", "FIELD_TYPES", "RESERVED", "checked_definition", "to_field", "picklist_name"]

# The type people choose -> the built-in field type that cleans, stores and exports it, and its
# longest value (the same as the built-in fields of that type).
FIELD_TYPES: dict[str, tuple[FieldType, int | None]] = {
    "text": ("string", 255),
    "long_text": ("text", 32000),
    "number": ("integer", None),
    "decimal": ("decimal", None),
    "date": ("date", None),
    "boolean": ("boolean", None),
    "email": ("email", 255),
    "phone": ("phone", 40),
    "url": ("url", 255),
    "choice": ("choice", 40),
}
# The built-in field type -> the type people chose (one each), as the API describes a custom field.
CREATED_AS: dict[str, str] = {ftype: kind for kind, (ftype, _) in FIELD_TYPES.items()}
# Columns every record table has besides its fields, and the exports' pseudo-fields.
RESERVED = frozenset(
    {"id", "company_id", "match_key", "date_precision", "version", "created_at", "updated_at", "custom"}
)
MAX_CHOICES = 500


def picklist_name(model: str, name: str) -> str:
    """The company picklist a custom choice field draws on."""
    return f"{model}.{name}"


def _name_from(label: str) -> str:
    """A field's name from its label: its ASCII letters and digits ("Région" -> region), or, for a label written
    without any ("Регион", "日本語", an emoji), f_ and a digest of the label, so two such labels get two names."""
    name = new_value_name(label)
    if not name.isascii() or not any(c.isascii() and c.isalnum() for c in unicodedata.normalize("NFKD", label)):
        return "f_" + hashlib.sha256(label.encode()).hexdigest()[:12]
    return name if name[:1].isalpha() else f"f_{name}"[:40]


def _name(spec: Mapping[str, Any], label: str) -> str:
    name = spec.get("name")
    if name is None:
        name = _name_from(label)
    if not isinstance(name, str) or not name[:1].isascii() or not name[:1].isalpha() or name != name.lower():
        raise CustomFieldError(f"field name {name!r}: start with a letter; use lower case letters, digits and _")
    if len(name) > 40 or not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        raise CustomFieldError(f"field name {name!r}: at most 40 lower case letters, digits and _")
    return name


def checked_definition(model: TargetModel, spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A new field of ``model`` (the company's, with its custom fields) as the row to store, and the
    values of its picklist (a choice field); CustomFieldError or ValidationRulesError say what to change."""
    label = spec.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 255:
        raise CustomFieldError("label: give the field a name people read, 1 to 255 characters")
    label = label.strip()
    name = _name(spec, label)
    if name in model.link_columns:  # a contact's account_id holds its account's id, not a value of its own
        raise CustomFieldError(
            f"{model.name} already has {name!r}: the column linking it to its account; choose another name"
        )
    if name in RESERVED or name in model.by_name:
        taken = "a built-in field" if name in model.by_name and not model.by_name[name].custom else "taken"
        raise CustomFieldError(
            f"{model.name} already has a field {name!r} ({taken if name not in RESERVED else 'a column of every record'}); "
            "choose another name"
        )
    kind = spec.get("field_type")
    if kind not in FIELD_TYPES:
        raise CustomFieldError(f"field_type {kind!r}: choose one of {', '.join(FIELD_TYPES)}")
    ftype, longest = FIELD_TYPES[kind]
    max_length = spec.get("max_length")
    if max_length is not None:
        if longest is None or isinstance(max_length, bool) or not isinstance(max_length, int):
            raise CustomFieldError("max_length applies to text types only, as a whole number up to their limit")
        if not 1 <= max_length <= longest:
            raise CustomFieldError(f"max_length of a {kind} field: 1 to {longest}")
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise CustomFieldError("required: true or false")
    choices = spec.get("choices")
    if ftype == "choice":
        if not isinstance(choices, list) or not choices or len(choices) > MAX_CHOICES:
            raise CustomFieldError(f"a choice field needs choices: a list of 1 to {MAX_CHOICES} values")
        if not all(isinstance(c, str) and c.strip() and len(c) <= 255 for c in choices):
            raise CustomFieldError("each choice is a label of 1 to 255 characters")
        if len({new_value_name(c) for c in choices}) < len(choices):
            raise CustomFieldError("two choices name the same value (they differ only in case or punctuation)")
    elif choices is not None:
        raise CustomFieldError(f"choices apply to choice fields only; this one is {kind}")
    row = {
        "target_model": model.name,
        "name": name,
        "label": label,
        "field_type": kind,
        "required": required,
        "max_length": max_length if max_length is not None else longest,
        "picklist": picklist_name(model.name, name) if ftype == "choice" else None,
        "validation_rules": {},
    }
    rules = spec.get("validation_rules")
    if rules:
        with_field = model.with_custom(
            (*model.custom_fields, to_field(row, [new_value_name(c) for c in choices or []]))
        )
        try:
            row["validation_rules"] = validate_rules(with_field, {name: rules})[name]
        except ValidationRulesError as exc:
            raise CustomFieldError(exc.message) from None
    return row, [c.strip() for c in choices or []]


def to_field(row: Mapping[str, Any] | asyncpg.Record, choices: list[str] | tuple[str, ...] = ()) -> Field:
    """The Field a stored custom field is read as everywhere built-in fields are (mapping, cleansing, exports)."""
    ftype, _ = FIELD_TYPES[row["field_type"]]
    return Field(
        row["name"],
        ftype,
        required=bool(row["required"]),
        max_length=row["max_length"],
        choices=tuple(choices),
        label=row["label"],
        custom=True,
        picklist=row.get("picklist"),
    )
