"""Field mapping: suggest a target field per source column, check a chosen mapping, apply it fast.

A suggestion weighs, strongest first: the company's earlier choice for the header (memory), the
field's name or label, its synonyms and its headers in other languages (schemas/header_words.py), a
near spelling of any of those, and what the column's sampled values are (services/ingest/column_sniffing.py).
Values choose a field for a header that names none and overrule a near spelling that disagrees; they
never overrule memory, a name, a synonym or a header word (docs/mapping.md).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from schemas.header_words import HEADER_WORDS, LANGUAGES, NOT_A_FIELD
from schemas.models import TargetModel, own_name
from services.cleansing.cleaning import CleanOptions
from services.cleansing.picklists import ValuePolicy
from services.core.errors import MappingError
from services.ingest.column_sniffing import ValueEvidence, sniff_column

__all__ = [
    "Suggestion",
    "normalize_header",
    "suggest_mapping",
    "check_mapping",
    "default_mapping",
    "confident_mapping",
    "CompiledMapping",
    "compile_mapping",
    "EXACT",
    "SYNONYM",
    "VALUES",
    "VALUES_DATE",
    "DEFAULT_CONFIDENCE",
]

EXACT = 1.0  # the field's name or label, or the company's earlier choice
SYNONYM = 0.9  # one of Field.synonyms, or a header word in another language
FUZZY_RATIO = 0.85  # difflib ratio a near spelling needs to be suggested at all
# A near spelling's confidence is its ratio scaled down, so only typos of long names (ratio >= 0.95)
# reach DEFAULT_CONFIDENCE and are mapped without a person confirming them.
FUZZY_WEIGHT = 0.85
DEFAULT_CONFIDENCE = 0.8
# What --accept-suggestions takes: every suggestion worth showing (a date column found by its
# values, a near spelling), not only those safe without a person looking.
ACCEPTED_CONFIDENCE = 0.6
# Values that are emails, websites, phone numbers or a picklist's words say which field: mapped without
# asking. Below a synonym, so a header that names the field wins over a column that merely holds such values.
VALUES = 0.85
# Dates say a column is a date, not which date ("Subscription Date" is no birthdate): suggested, never
# mapped without a person confirming.
VALUES_DATE = 0.7
# A linked record's field ("Company Domain" -> account.website): mapping it links every record to an account,
# found or created, so a person confirms it (or takes suggestions with --accept-suggestions).
RELATED = 0.7

_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Suggestion:
    column: str
    field: str | None
    confidence: float  # 0..1; 1.0 exact name match, lower for synonyms and near spellings
    # Why: "memory", "header", "synonym", "header (German)", "similar header", "values: 98 % emails",
    # joined with " + " when header and values agree; for no field, why not ("" when nothing matched).
    reason: str = ""


def normalize_header(header: str) -> str:
    """A header without case, accents, spacing or punctuation: "E-mail " -> "email", "Prénom" -> "prenom"."""
    folded = unicodedata.normalize("NFKD", header.casefold())
    return _NOT_ALNUM.sub("", "".join(c for c in folded if not unicodedata.combining(c)))


def _legacy_key(header: str) -> str:
    # Mapping memory stored before accents were stripped keys "Prénom" as "prénom"; still found.
    return _NOT_ALNUM.sub("", header.casefold())


class _Spelling(NamedTuple):
    confidence: float
    reason: str


@lru_cache(maxsize=32)
def _spellings(model: TargetModel) -> dict[str, dict[str, _Spelling]]:
    """Normalized spelling -> {field: (confidence, reason)} for every name, label, synonym and header word of
    the model's own fields (a linked record's: _related_spellings)."""
    index: dict[str, dict[str, _Spelling]] = {}
    for f in model.fields:
        if f.related:
            continue
        names = [(f.name, EXACT, "header"), (f.title, EXACT, "header")]
        names += [(s, SYNONYM, "synonym") for s in f.synonyms]
        languages: dict[str, list[str]] = {}  # a word several languages share ("Empresa") names them all
        for lang, words in HEADER_WORDS.get(f.name, {}).items():
            for w in words:
                languages.setdefault(normalize_header(w), []).append(LANGUAGES[lang])
        names.extend((w, SYNONYM, f"header ({', '.join(langs)})") for w, langs in languages.items())
        _add(index, f.name, names)
    return index


def _add(index: dict[str, dict[str, _Spelling]], name: str, names: Sequence[tuple[str, float, str]]) -> None:
    for text, confidence, reason in names:
        spelled = index.setdefault(normalize_header(text), {})
        if confidence > spelled.get(name, _Spelling(0.0, "")).confidence:
            spelled[name] = _Spelling(confidence, reason)
    index.pop("", None)


# What a linked account's column is qualified by, before or after the field's word ("Company Domain",
# "Associated Company ID" as HubSpot exports it, "Firmen-Website", "Secteur de l'entreprise").
_OWNERS = (
    *("company", "organization", "organisation", "associated company"),
    *("firma", "firmen", "unternehmen", "unternehmens", "entreprise", "société", "empresa", "compañía"),
    *("companhia", "azienda", "bedrijf", "bedrijfs", "onderneming"),
)
_OWNED_BY = ("de l'entreprise", "de la société", "de la empresa", "da empresa", "dell'azienda", "van het bedrijf")


class _RelatedWords(NamedTuple):
    words: dict[str, dict[str, _Spelling]]  # a linked field's normalized word -> {field: spelling}
    owners: tuple[str, ...]  # normalized qualifiers, either side of the word
    owned_by: tuple[str, ...]  # normalized qualifiers after the word only


@lru_cache(maxsize=32)
def _related_words(model: TargetModel) -> _RelatedWords:
    words: dict[str, dict[str, _Spelling]] = {}
    related = []
    for f in model.fields:
        if not f.related:
            continue
        related.append(f.related)
        own = own_name(f)
        spelled = {own.replace("_", " "), *f.synonyms, *(w for ws in HEADER_WORDS.get(own, {}).values() for w in ws)}
        _add(words, f.name, [(w, RELATED, f"{f.related} column") for w in spelled])
    owners = {normalize_header(o) for o in (*related, *_OWNERS)}
    return _RelatedWords(words, tuple(sorted(owners)), tuple(normalize_header(o) for o in _OWNED_BY))


def _related(norm: str, model: TargetModel) -> dict[str, _Spelling]:
    """A linked record's fields a normalized header names: one of the field's words (its name, synonyms and
    headers in other languages) qualified by the linked record's name or a word for a company, either side.
    Suggested at RELATED, never mapped without a person confirming, since mapping one links every record; only
    exact spellings (a near spelling of a qualified name is too far from what a person wrote to guess)."""
    index = _related_words(model)
    if not index.words:
        return {}
    found: dict[str, _Spelling] = {}
    rests = [norm[len(o) :] for o in index.owners if norm.startswith(o)]
    rests += [norm[: -len(o)] for o in (*index.owners, *index.owned_by) if norm.endswith(o)]
    for rest in rests:
        found.update(index.words.get(rest, {}))
    return found


_NO_FIELD = frozenset(normalize_header(w) for w in NOT_A_FIELD)


def _fuzzy(norm: str, index: Mapping[str, Mapping[str, _Spelling]]) -> dict[str, _Spelling]:
    found: dict[str, _Spelling] = {}
    matcher = difflib.SequenceMatcher(b=norm, autojunk=False)
    for spelling, fields in index.items():
        matcher.set_seq1(spelling)
        # real_quick_ratio and quick_ratio are upper bounds: skip the costly ratio when they cannot pass.
        if matcher.real_quick_ratio() < FUZZY_RATIO or matcher.quick_ratio() < FUZZY_RATIO:
            continue
        ratio = matcher.ratio()
        if ratio >= FUZZY_RATIO:
            for name, spelled in fields.items():
                score = round(ratio * spelled.confidence * FUZZY_WEIGHT, 2)
                if score > found.get(name, _Spelling(0.0, "")).confidence:
                    found[name] = _Spelling(score, "similar header")
    return found


class _Candidate(NamedTuple):
    remembered: bool
    confidence: float
    pos: int  # header position
    order: int  # field position in the model
    field: str
    reason: str


def _value_candidates(
    evidence: ValueEvidence, pos: int, order: Mapping[str, int], header: list[_Candidate]
) -> list[_Candidate]:
    """The column's candidates once its values are known: agreeing header candidates gain, a weak header that
    disagrees is dropped, the value kind's fields are added (a phone column: phone, then mobile_phone)."""
    base = VALUES_DATE if evidence.kind == "date" else VALUES
    agreeing = {c.field: c for c in header if c.field in evidence.fields}
    out: list[_Candidate] = []
    for rank, name in enumerate(evidence.fields):
        confidence = round(base - 0.01 * rank, 2)
        if name in agreeing:
            c = agreeing[name]
            out.append(c._replace(confidence=max(c.confidence, confidence), reason=f"{c.reason} + {evidence.reason}"))
        else:
            out.append(_Candidate(False, confidence, pos, order[name], name, evidence.reason))
    return out


def _candidates(
    model: TargetModel,
    headers: Sequence[str],
    memory: Mapping[str, str] | None,
    samples: Mapping[str, Sequence[str | None]] | None,
    options: CleanOptions,
    policies: Mapping[str, ValuePolicy] | None,
) -> tuple[list[_Candidate], dict[int, str]]:
    """Every plausible (column, field) pairing, and why a column has none when it names no field."""
    index = _spellings(model)
    order = {f.name: i for i, f in enumerate(model.fields)}
    out: list[_Candidate] = []
    refused: dict[int, str] = {}
    for pos, header in enumerate(headers):
        norm = normalize_header(header)
        if not norm:
            continue
        remembered = (memory or {}).get(norm) or (memory or {}).get(_legacy_key(header))
        if remembered in order:
            out.append(_Candidate(True, EXACT, pos, order[remembered], remembered, "memory"))
        if norm in _NO_FIELD:
            refused[pos] = "names no field"
            continue
        matches = {**_related(norm, model), **index.get(norm, {})} or _fuzzy(norm, index)
        found = [_Candidate(False, s.confidence, pos, order[name], name, s.reason) for name, s in matches.items()]
        strong = remembered in order or any(c.confidence >= SYNONYM for c in found)
        values = None if strong or samples is None else samples.get(header)
        evidence = sniff_column(model, values, options=options, policies=policies) if values else None
        out.extend(found if evidence is None else _value_candidates(evidence, pos, order, found))
    return out, refused


def suggest_mapping(
    model: TargetModel,
    headers: Sequence[str],
    memory: Mapping[str, str] | None = None,
    samples: Mapping[str, Sequence[str | None]] | None = None,
    *,
    options: CleanOptions | None = None,
    policies: Mapping[str, ValuePolicy] | None = None,
) -> list[Suggestion]:
    """One suggestion per header, in header order; each field goes to at most one header, best confidence first.

    ``memory`` maps a normalized header to the field the company chose for it before; it wins.
    ``samples`` maps a column to its sampled raw values (the first rows of the file); values choose a
    field for a header that names none or only resembles one. ``options`` (date order, phone region) and
    ``policies`` (the company's picklists per choice field) judge the values as the import would.
    """
    found, refused = _candidates(model, headers, memory, samples, options or CleanOptions(), policies)
    candidates = sorted(found, key=lambda c: (not c.remembered, -c.confidence, c.pos, c.order))
    chosen: dict[int, _Candidate] = {}
    winner: dict[str, int] = {}
    for c in candidates:
        if c.pos not in chosen and c.field not in winner:
            chosen[c.pos] = c
            winner[c.field] = c.pos
    best: dict[int, _Candidate] = {}
    for c in candidates:
        best.setdefault(c.pos, c)

    def none_reason(pos: int) -> str:
        if pos in refused:
            return refused[pos]
        if pos in best:
            return f"{best[pos].field} went to column {headers[winner[best[pos].field]]!r}"
        return ""

    return [
        Suggestion(header, chosen[pos].field, chosen[pos].confidence, chosen[pos].reason)
        if pos in chosen
        else Suggestion(header, None, 0.0, none_reason(pos))
        for pos, header in enumerate(headers)
    ]


def default_mapping(
    model: TargetModel,
    headers: Sequence[str],
    memory: Mapping[str, str] | None = None,
    samples: Mapping[str, Sequence[str | None]] | None = None,
    *,
    options: CleanOptions | None = None,
    policies: Mapping[str, ValuePolicy] | None = None,
    accept_suggestions: bool = False,
) -> dict[str, str]:
    """The suggestions confident enough to use without asking (confidence >= 0.8), as column -> field.

    ``accept_suggestions``: the user takes every suggestion the preview would show (>= 0.6), as
    ``--accept-suggestions`` asks.
    """
    suggestions = suggest_mapping(model, headers, memory, samples, options=options, policies=policies)
    return confident_mapping(suggestions, ACCEPTED_CONFIDENCE if accept_suggestions else DEFAULT_CONFIDENCE)


def confident_mapping(suggestions: Sequence[Suggestion], at_least: float = DEFAULT_CONFIDENCE) -> dict[str, str]:
    """Of ``suggestions``, those sure enough to map without asking (confidence >= ``at_least``), as column -> field."""
    return {s.column: s.field for s in suggestions if s.field is not None and s.confidence >= at_least}


def _listing(names: Sequence[str], limit: int = 20, quoted: Callable[[Sequence[str]], str] | None = None) -> str:
    shown = quoted(names[:limit]) if quoted else ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _targets(mapping: Mapping[str, str | None]) -> dict[str, str]:
    """The column -> field pairs that import something; None or "" means the column is skipped."""
    if not isinstance(mapping, Mapping):
        raise MappingError(f"the field mapping must be an object of column -> field, not {type(mapping).__name__}")
    bad = [c for c, f in mapping.items() if not isinstance(c, str) or not (f is None or isinstance(f, str))]
    if bad:
        raise MappingError(
            f"the field mapping must map column names to field names; check {_listing([str(b) for b in bad])}"
        )
    return {column: target for column, target in mapping.items() if target}


class _Columns:
    """Where a mapped column is in the file: its exact name, else the same name ignoring case and outer spaces."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = headers
        self.exact: dict[str, list[int]] = {}
        self.folded: dict[str, list[int]] = {}
        for i, header in enumerate(headers):
            self.exact.setdefault(header, []).append(i)
            self.folded.setdefault(header.strip().casefold(), []).append(i)

    def positions(self, column: str) -> list[int]:
        return self.exact.get(column) or self.folded.get(column.strip().casefold(), [])


def check_mapping(
    model: TargetModel, headers: Sequence[str], mapping: Mapping[str, str | None], *, required: bool = True
) -> None:
    """Refuse an unusable mapping with one MappingError naming every problem; ``missing`` lists unmapped required
    fields. ``required`` False (an update import): a required field may be left unmapped; only a row that would
    create a record needs it (RecordCleaner's required_to_create)."""
    targets = _targets(mapping)
    problems: list[str] = []
    columns = _Columns(headers)
    unknown_columns = [c for c in targets if not columns.positions(c)]
    if unknown_columns:
        names = list(dict.fromkeys(headers))
        problems.append(f"no column {_listing(unknown_columns)} in the file (columns: {_listing(names)})")
    repeated = [c for c in targets if len(columns.positions(c)) > 1]
    if repeated:
        problems.append(f"column {_listing(repeated)} appears more than once in the file; rename one")
    unknown_fields = sorted({f for f in targets.values() if f not in model.by_name})
    if unknown_fields:
        problems.append(
            f"{model.name} has no field {_listing(unknown_fields, quoted=model.unknown)} "
            f"(fields: {', '.join(model.field_names)})"
        )
    by_field: dict[str, list[str]] = {}
    for column, target in targets.items():
        by_field.setdefault(target, []).append(column)
    for target, mapped in by_field.items():
        if len(mapped) > 1:
            problems.append(f"columns {_listing(mapped)} are all mapped to {target}; map one column per field")
    missing = [name for name in model.required_fields if name not in by_field] if required else []
    if missing:
        problems.append(
            f"required {'field' if len(missing) == 1 else 'fields'} {', '.join(missing)} not mapped; map a column to each"
        )
    if problems:
        raise MappingError("invalid field mapping: " + "; ".join(problems), missing=missing)


def _getter(indexes: tuple[int, ...]) -> Callable[[Sequence[str | None]], Sequence[str | None]]:
    if len(indexes) == 1:  # itemgetter with one index returns the item, not a tuple
        only = indexes[0]
        return lambda cells: (cells[only],)
    if not indexes:
        return lambda cells: ()
    return itemgetter(*indexes)


@dataclass(frozen=True)
class CompiledMapping:
    fields: tuple[str, ...]  # target fields in output order
    indexes: tuple[int, ...]  # source column index per target field
    _get: Callable[[Sequence[str | None]], Sequence[str | None]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_get", _getter(self.indexes))

    def apply(self, cells: Sequence[str | None]) -> list[str | None]:
        """The row's values in ``fields`` order; cells missing from a short row are None."""
        try:
            return list(self._get(cells))
        except IndexError:
            size = len(cells)
            return [cells[i] if i < size else None for i in self.indexes]

    def record(self, cells: Sequence[str | None]) -> dict[str, str | None]:
        """The row as field -> raw value, the input of RecordCleaner.clean."""
        return dict(zip(self.fields, self.apply(cells)))


def compile_mapping(headers: Sequence[str], mapping: Mapping[str, str | None]) -> CompiledMapping:
    """The mapping as column indexes, fields in file column order; MappingError for a missing or repeated column.

    Columns are found by exact name, else ignoring case and outer spaces (readers keep headers
    unique that way).
    """
    targets = _targets(mapping)
    columns = _Columns(headers)
    pairs: list[tuple[int, str]] = []
    for column, target in targets.items():
        found = columns.positions(column)
        if len(found) != 1:
            problem = "is not in the file" if not found else "appears more than once in the file"
            raise MappingError(f"invalid field mapping: column {column!r} {problem}")
        pairs.append((found[0], target))
    pairs.sort()
    return CompiledMapping(tuple(t for _, t in pairs), tuple(i for i, _ in pairs))
