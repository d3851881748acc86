"""Picklist repository: a company's picklist rows and its earlier value decisions, every query scoped to a company."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from schemas.models import TargetModel
from schemas.picklists import field_picklist, picklist_of
from services.cleansing.picklists import Picklist, merge_company_rows, new_value_name, value_key
from services.core.errors import NotFound, ValueMappingError

__all__ = [
    "load_picklists",
    "create_picklist",
    "field_picklists",
    "add_value",
    "update_value",
    "add_values_from_import",
    "remember_values",
    "value_memory",
]

_MAX_LABEL = 255


async def load_picklists(conn: asyncpg.Connection, company_id: str) -> dict[str, Picklist]:
    """Every picklist of the company: the built-in values overlaid with its own rows."""
    rows = await conn.fetch(
        "SELECT picklist, value, label, synonyms, position, is_active FROM crm_picklist_values WHERE company_id = $1",
        company_id,
    )
    return merge_company_rows(dict(r) for r in rows)


async def field_picklists(conn: asyncpg.Connection, company_id: str, model: TargetModel) -> dict[str, Picklist]:
    """choice field -> the company's picklist it draws on."""
    picklists = await load_picklists(conn, company_id)
    out: dict[str, Picklist] = {}
    for f in model.fields:
        name = field_picklist(model.name, f)
        if name is not None:
            out[f.name] = picklists[name]
    return out


async def _picklist(conn: asyncpg.Connection, company_id: str, picklist: str) -> Picklist:
    """The company's picklist ``picklist``: a built-in one, or a custom choice field's."""
    picklists = await load_picklists(conn, company_id)
    if picklist not in picklists:
        raise NotFound(f"no picklist {picklist!r}; picklists: {', '.join(picklists)}")
    return picklists[picklist]


def _clean_synonyms(synonyms: Iterable[str] | None) -> list[str] | None:
    if synonyms is None:
        return None
    out = list(dict.fromkeys(s.strip() for s in synonyms if isinstance(s, str) and s.strip()))
    if any(len(s) > _MAX_LABEL for s in out):
        raise ValueMappingError(f"a synonym is longer than {_MAX_LABEL} characters; shorten it")
    return out


def _conflicts(current: Picklist, value: str, words: Iterable[str]) -> list[str]:
    """Words (label, synonyms) that already name another active value: one word must name one value."""
    taken = []
    for word in words:
        found = current.find(word)
        if found is not None and found != value and value_key(word) != value_key(value):
            taken.append(f"{word!r} already names {found!r}")
    return taken


async def add_value(
    conn: asyncpg.Connection,
    company_id: str,
    picklist: str,
    value: str,
    label: str | None,
    synonyms: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A new value of the company's picklist; ValueMappingError if the name or a word is taken."""
    current = await _picklist(conn, company_id, picklist)
    value = value.strip()
    if not value or len(value) > 40:
        raise ValueMappingError("a picklist value must be 1 to 40 characters (it is what records store)")
    if any(c.value == value for c in current.choices):
        raise ValueMappingError(f"{value!r} is already a value of {picklist}; relabel or re-activate it instead")
    label = (label or value).strip()[:_MAX_LABEL]
    words = _clean_synonyms(synonyms) or []
    taken = _conflicts(current, value, [label, *words])
    if taken:
        raise ValueMappingError(f"cannot add {value!r} to {picklist}: " + "; ".join(taken))
    await conn.execute(
        "INSERT INTO crm_picklist_values (company_id, picklist, value, label, synonyms, position) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        company_id,
        picklist,
        value,
        label,
        words,
        1000 + len(current.choices),
    )
    return (await load_picklists(conn, company_id))[picklist].choices_by_value()[value].document()


async def update_value(
    conn: asyncpg.Connection,
    company_id: str,
    picklist: str,
    value: str,
    *,
    label: str | None = None,
    synonyms: Iterable[str] | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Relabel a value, set its synonyms, retire it (active=False) or bring it back; stored records keep the value."""
    current = await _picklist(conn, company_id, picklist)
    choice = current.choices_by_value().get(value)
    if choice is None:
        raise NotFound(f"no value {value!r} in the {picklist} picklist")
    new_label = label.strip()[:_MAX_LABEL] if label is not None and label.strip() else choice.label
    words = _clean_synonyms(synonyms)
    new_synonyms = list(choice.synonyms) if words is None else words
    taken = _conflicts(current, value, [new_label, *new_synonyms]) if (active is not False) else []
    if taken:
        raise ValueMappingError(f"cannot change {value!r} of {picklist}: " + "; ".join(taken))
    await conn.execute(
        """
        INSERT INTO crm_picklist_values (company_id, picklist, value, label, synonyms, position, is_active)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (company_id, picklist, value) DO UPDATE
           SET label = EXCLUDED.label, synonyms = EXCLUDED.synonyms, is_active = EXCLUDED.is_active,
               updated_at = now()
        """,
        company_id,
        picklist,
        value,
        new_label,
        new_synonyms,
        choice.position,
        choice.active if active is None else active,
    )
    return (await load_picklists(conn, company_id))[picklist].choices_by_value()[value].document()


async def create_picklist(conn: asyncpg.Connection, company_id: str, picklist: str, labels: list[str]) -> None:
    """A company picklist of its own (a custom choice field's): one value per label, in their order."""
    await conn.executemany(
        "INSERT INTO crm_picklist_values (company_id, picklist, value, label, position) VALUES ($1, $2, $3, $4, $5)",
        [(company_id, picklist, new_value_name(label), label, i) for i, label in enumerate(labels)],
    )


async def add_values_from_import(conn: asyncpg.Connection, company_id: str, added: list[tuple[str, str, str]]) -> None:
    """Values an import's unknown_values=add met, in its apply transaction: a value someone added meanwhile stays as is."""
    if not added:
        return
    await conn.executemany(
        "INSERT INTO crm_picklist_values (company_id, picklist, value, label, position) "
        "VALUES ($1, $2, $3, $4, 1000 + (SELECT count(*) FROM crm_picklist_values WHERE company_id = $1 AND picklist = $2)) "
        "ON CONFLICT (company_id, picklist, value) DO NOTHING",
        [(company_id, p, v, label) for p, v, label in added],
    )


async def remember_values(
    conn: asyncpg.Connection, company_id: str, model: TargetModel, value_mapping: Mapping[str, Mapping[str, str | None]]
) -> None:
    """Keep a job's value decisions as the company's first suggestions for the same words next time."""
    rows: list[tuple[str, str, str, str | None]] = []
    for field, pairs in value_mapping.items():
        f = model.by_name.get(field)
        picklist = field_picklist(model.name, f) if f is not None else picklist_of(model.name, field)
        if picklist is None:
            continue
        rows.extend(
            (company_id, picklist, value_key(source), target) for source, target in pairs.items() if value_key(source)
        )
    if rows:
        await conn.executemany(
            "INSERT INTO crm_value_memory (company_id, picklist, source_key, value) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (company_id, picklist, source_key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            rows,
        )


async def value_memory(conn: asyncpg.Connection, company_id: str) -> dict[str, dict[str, str | None]]:
    """picklist -> {value_key of a file's word: the value chosen for it before}."""
    out: dict[str, dict[str, str | None]] = {}
    for r in await conn.fetch(
        "SELECT picklist, source_key, value FROM crm_value_memory WHERE company_id = $1", company_id
    ):
        out.setdefault(r["picklist"], {})[r["source_key"]] = r["value"]
    return out
