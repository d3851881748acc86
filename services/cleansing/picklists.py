"""Company picklists as values: matching a file's word to a picklist value, suggesting one, and what unknown words get.

Pure functions and frozen data; the SQL lives in services/cleansing/picklist_store.py.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.picklists import BUILTIN
from services.core.errors import ValueMappingError

__all__ = [
    "Choice",
    "Picklist",
    "ValueSuggestion",
    "UnknownPolicy",
    "ValuePolicy",
    "value_key",
    "new_value_name",
    "merge_company_rows",
    "builtin_picklists",
    "parse_unknown",
    "check_value_mapping",
    "check_unknown_targets",
    "ACCEPT_CONFIDENCE",
    "value_policies",
]

# Suggestions at least this sure are taken without asking by --accept-suggestions.
ACCEPT_CONFIDENCE = 0.7
_FUZZY_RATIO = 0.84
_NOT_WORD = re.compile(r"[\W_]+")
_NOT_NAME = re.compile(r"[^0-9a-z]+")
_MAX_VALUE = 40  # the column width of a choice field (schemas/models.py max_length)


def value_key(text: str) -> str:
    """How a file's word compares with a picklist's: case, accents, spaces and punctuation ignored."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _NOT_WORD.sub("", "".join(c for c in folded if not unicodedata.combining(c)))


def _singular(key: str) -> str:
    # "webinars" ~ "webinar", "ads" ~ "ad": the plural people write for a value named in the singular.
    if len(key) > 3 and key.endswith("ies"):
        return key[:-3] + "y"
    if len(key) > 2 and key.endswith("s") and not key.endswith("ss"):
        return key[:-1]
    return key


def new_value_name(text: str) -> str:
    """The stored name of a value added from a file's word: "Purchased List" -> purchased_list."""
    folded = unicodedata.normalize("NFKD", text.strip().casefold())
    ascii_name = _NOT_NAME.sub("_", "".join(c for c in folded if c.isascii())).strip("_")
    name = ascii_name or _NOT_WORD.sub("_", text.strip().casefold()).strip("_")
    return name[:_MAX_VALUE].rstrip("_") or "value"


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    synonyms: tuple[str, ...] = ()
    active: bool = True
    builtin: bool = True
    position: int = 0

    def document(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": self.label,
            "synonyms": list(self.synonyms),
            "active": self.active,
            "builtin": self.builtin,
            "position": self.position,
        }


@dataclass(frozen=True, slots=True)
class ValueSuggestion:
    value: str | None  # None: nothing close enough
    confidence: float
    reason: str


class Picklist:
    """One company's values of one picklist, with the lookups a file's words go through."""

    __slots__ = ("name", "choices", "_exact", "_synonym", "_retired", "_stems", "_words")

    def __init__(self, name: str, choices: Iterable[Choice]) -> None:
        self.name = name
        self.choices = tuple(sorted(choices, key=lambda c: (c.position, c.value)))
        self._exact: dict[str, str] = {}
        self._synonym: dict[str, str] = {}
        self._retired: dict[str, str] = {}
        for c in self.choices:
            if not c.active:
                self._retired.setdefault(value_key(c.value), c.value)
                self._retired.setdefault(value_key(c.label), c.value)
                continue
            self._exact.setdefault(value_key(c.value), c.value)
            self._exact.setdefault(value_key(c.label), c.value)
        for c in self.choices:
            if c.active:
                for s in c.synonyms:
                    k = value_key(s)
                    if k and k not in self._exact:
                        self._synonym.setdefault(k, c.value)
        known = {**self._synonym, **self._exact}
        self._stems = {_singular(k): v for k, v in known.items()}
        self._words = known

    @property
    def values(self) -> tuple[str, ...]:
        """The active values, in picklist order."""
        return tuple(c.value for c in self.choices if c.active)

    def choices_by_value(self) -> dict[str, Choice]:
        return {c.value: c for c in self.choices}

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "values": [c.document() for c in self.choices]}

    def has(self, value: str) -> bool:
        return any(c.value == value and c.active for c in self.choices)

    def retired(self, text: str) -> str | None:
        """The retired value ``text`` names, if it names one and no active value."""
        return self._retired.get(value_key(text)) if self.find(text) is None else None

    def find(self, text: str) -> str | None:
        """The active value ``text`` names: by value or label, a synonym, or their plural."""
        k = value_key(text)
        found = self._exact.get(k) or self._synonym.get(k)
        return found if found is not None else self._stems.get(_singular(k))

    def suggest(self, text: str, memory: Mapping[str, str | None] | None = None) -> ValueSuggestion:
        """The value a person would most likely choose for ``text``, how sure, and why."""
        k = value_key(text)
        if not k:
            return ValueSuggestion(None, 0.0, "empty")
        exact = self._exact.get(k)
        if exact is not None:
            return ValueSuggestion(exact, 1.0, "same value")
        remembered = (memory or {}).get(k, "")
        if remembered and self.has(remembered):
            return ValueSuggestion(remembered, 0.95, "chosen before")
        synonym = self._synonym.get(k) or self._stems.get(_singular(k))
        if synonym is not None:
            return ValueSuggestion(synonym, 0.9, "synonym")
        return self._fuzzy(k) or self._contains(text) or ValueSuggestion(None, 0.0, "no similar value")

    def _fuzzy(self, k: str) -> ValueSuggestion | None:
        best: tuple[float, str, str] | None = None
        matcher = difflib.SequenceMatcher(b=k, autojunk=False)
        for word, value in self._words.items():
            matcher.set_seq1(word)
            if matcher.real_quick_ratio() < _FUZZY_RATIO or matcher.quick_ratio() < _FUZZY_RATIO:
                continue
            ratio = matcher.ratio()
            if ratio >= _FUZZY_RATIO and (best is None or ratio > best[0]):
                best = (ratio, value, word)
        if best is None:
            return None
        return ValueSuggestion(best[1], round(best[0] * 0.9, 2), "similar spelling")

    def _contains(self, text: str) -> ValueSuggestion | None:
        # "Website Form" -> web (it says "website"), "Google Ads" -> advertisement ("ads"):
        # one word or two adjacent words of the text name a value.
        words = [value_key(w) for w in text.split()]
        words = [w for w in words if w]
        if len(words) < 2:
            return None
        spans = [" ".join(words[i : i + 2]).replace(" ", "") for i in range(len(words) - 1)] + words
        for span in spans:
            value = self._words.get(span) or self._stems.get(_singular(span))
            if value is not None and len(span) >= 3:
                return ValueSuggestion(value, ACCEPT_CONFIDENCE, f"contains {span!r}")
        return None


UnknownAction = Literal["add", "map", "empty", "fail"]


@dataclass(frozen=True, slots=True)
class UnknownPolicy:
    """What a word that names no value of the picklist gets."""

    action: UnknownAction
    value: str | None = None  # the value every unknown word is mapped to (action "map")

    def describe(self) -> str:
        return f"map:{self.value}" if self.action == "map" else self.action


def parse_unknown(spec: object, default: UnknownAction = "empty") -> dict[str, UnknownPolicy]:
    """A job's ``unknown_values``: one policy ("add", "empty", "fail", "map:VALUE") or one per field, "*" for the rest.

    The result maps field names (and "*") to policies; ValueMappingError names a bad one.
    """
    if spec is None or spec == "":
        return {"*": UnknownPolicy(default)}
    if isinstance(spec, str):
        return {"*": _policy(spec, "unknown_values")}
    if isinstance(spec, Mapping):
        out = {"*": UnknownPolicy(default)}
        for name, one in spec.items():
            if not isinstance(name, str) or not isinstance(one, str):
                raise ValueMappingError(f"unknown_values must map field names to a policy, not {name!r}: {one!r}")
            out[name] = _policy(one, f"unknown_values[{name!r}]")
        return out
    raise ValueMappingError(
        f"unknown_values must be one of add, empty, fail, map:VALUE (or an object per field), not {spec!r}"
    )


def _policy(text: str, where: str) -> UnknownPolicy:
    word, _, value = text.strip().partition(":")
    if word in ("add", "empty", "fail") and not value:
        return UnknownPolicy(word)  # type: ignore[arg-type]
    if word == "map" and value.strip():
        return UnknownPolicy("map", value.strip())
    raise ValueMappingError(f"{where} is {text!r}; use add, empty, fail or map:VALUE (e.g. map:other)")


@dataclass(frozen=True, slots=True)
class ValuePolicy:
    """Everything a choice field's cleaner needs: the company's picklist and the job's decisions."""

    picklist: Picklist
    mapped: Mapping[str, str | None] = field(default_factory=dict)  # value_key(file word) -> value or None (empty)
    unknown: UnknownPolicy = UnknownPolicy("empty")
    suggest: bool = False  # take suggestions at least ACCEPT_CONFIDENCE sure (--accept-suggestions)
    memory: Mapping[str, str | None] = field(default_factory=dict)


def builtin_picklists() -> dict[str, Picklist]:
    """Every picklist with its built-in values only (a company that changed nothing)."""
    return merge_company_rows([])


def merge_company_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, Picklist]:
    """The built-in values overlaid with a company's rows (picklist, value, label, synonyms, position, is_active)."""
    merged: dict[str, dict[str, Choice]] = {
        name: {v.value: Choice(v.value, v.label, v.synonyms, True, True, i) for i, v in enumerate(values)}
        for name, values in BUILTIN.items()
    }
    for row in rows:
        values = merged.setdefault(row["picklist"], {})
        base = values.get(row["value"])
        position = row.get("position")
        values[row["value"]] = Choice(
            row["value"],
            row["label"],
            tuple(row.get("synonyms") or ()),  # a company row holds its value's whole list of synonyms
            bool(row.get("is_active", True)),
            base is not None,
            position if position is not None else (base.position if base else 1000 + len(values)),
        )
    return {name: Picklist(name, values.values()) for name, values in merged.items()}


def check_value_mapping(
    value_mapping: object, fields: Mapping[str, Picklist], require_active: bool = True
) -> dict[str, dict[str, str | None]]:
    """A job's value_mapping ({field: {file word: value or null}}) checked against the picklists of ``fields``.

    Every target must be an active value of the field's picklist (add new values to the picklist
    first, or let unknown_values=add do it). Returns it normalized; ValueMappingError names every problem.
    """
    if value_mapping is None:
        return {}
    if not isinstance(value_mapping, Mapping):
        raise ValueMappingError("value_mapping must be an object of field -> {file value: picklist value}")
    problems: list[str] = []
    out: dict[str, dict[str, str | None]] = {}
    for name, pairs in value_mapping.items():
        picklist = fields.get(name)
        if picklist is None:
            problems.append(
                f"{name!r} is not a choice field of this model (choice fields: {', '.join(fields) or 'none'})"
            )
            continue
        if not isinstance(pairs, Mapping):
            problems.append(f"value_mapping[{name!r}] must be an object of file value -> picklist value")
            continue
        field_out: dict[str, str | None] = {}
        for source, target in pairs.items():
            if target is not None and not isinstance(target, str):
                problems.append(f"value_mapping[{name!r}][{source!r}] must be a picklist value or null")
            elif require_active and target not in (None, "") and not picklist.has(target):
                problems.append(
                    f"value_mapping[{name!r}] maps {source!r} to {target!r}, which is not an active value of the "
                    f"{picklist.name} picklist ({', '.join(picklist.values)}); add it to the picklist first"
                )
            else:
                field_out[str(source)] = target or None
        out[name] = field_out
    if problems:
        raise ValueMappingError("invalid value_mapping: " + "; ".join(problems))
    return out


def check_unknown_targets(policies: Mapping[str, UnknownPolicy], fields: Mapping[str, Picklist]) -> None:
    """A field's map:VALUE must name an active value of its picklist; the job-wide one, a value of at least one."""
    for name, policy in policies.items():
        if name != "*" and name not in fields:
            raise ValueMappingError(
                f"unknown_values names {name!r}, not a choice field (choice fields: {', '.join(fields)})"
            )
        if policy.action != "map":
            continue
        targets = fields if name == "*" else {name: fields[name]}
        if targets and not any(p.has(policy.value or "") for p in targets.values()):
            lists = "; ".join(f"{f}: {', '.join(p.values)}" for f, p in targets.items())
            raise ValueMappingError(
                f"unknown_values map:{policy.value}: {policy.value!r} is not an active value of "
                f"{'any picklist of this model' if name == '*' else f'the {fields[name].name} picklist'} ({lists})"
            )


def value_policies(
    fields: Mapping[str, Picklist],
    value_mapping: Mapping[str, Mapping[str, str | None]] | None,
    unknown_values: object,
    *,
    strict: bool = False,
    suggest: bool = False,
    memory: Mapping[str, Mapping[str, str | None]] | None = None,
    started: bool = False,
) -> dict[str, ValuePolicy]:
    """Per choice field, what its cleaner does with a file's words under a job's decisions.

    ``fields``: choice field -> the company's picklist; ``memory``: picklist -> earlier decisions.
    ValueMappingError names a value map or unknown-values policy that does not fit the picklists.
    ``started``: the job was checked when it started; a value retired since is still what the
    user chose for its words, so it is not refused half way through the file.
    """
    mapping = check_value_mapping(value_mapping, fields, require_active=not started)
    unknown = parse_unknown(unknown_values, "fail" if strict else "empty")
    if not started:
        check_unknown_targets(unknown, fields)
    fallback = UnknownPolicy("fail" if strict else "empty")

    def policy_of(name: str, picklist: Picklist) -> UnknownPolicy:
        own = unknown.get(name)
        if own is not None:
            return own
        job_wide = unknown["*"]
        # A job-wide map:other serves the fields whose picklist has "other"; the rest warn (or fail if strict).
        return fallback if job_wide.action == "map" and not picklist.has(job_wide.value or "") else job_wide

    return {
        name: ValuePolicy(
            picklist,
            {value_key(source): target for source, target in mapping.get(name, {}).items()},
            policy_of(name, picklist),
            suggest,
            (memory or {}).get(picklist.name, {}),
        )
        for name, picklist in fields.items()
    }
