"""Field mapping: suggest a target field per source column, check a chosen mapping, apply it fast."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from schemas.models import TargetModel
from services.errors import MappingError

__all__ = [
    "Suggestion",
    "normalize_header",
    "suggest_mapping",
    "check_mapping",
    "default_mapping",
    "CompiledMapping",
    "compile_mapping",
    "EXACT",
    "SYNONYM",
    "DEFAULT_CONFIDENCE",
]

EXACT = 1.0  # the field's name or label, or the company's earlier choice
SYNONYM = 0.9  # one of Field.synonyms
FUZZY_RATIO = 0.85  # difflib ratio a near spelling needs to be suggested at all
# A near spelling's confidence is its ratio scaled down, so only typos of long names (ratio >= 0.95)
# reach DEFAULT_CONFIDENCE and are mapped without a person confirming them.
FUZZY_WEIGHT = 0.85
DEFAULT_CONFIDENCE = 0.8

_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Suggestion:
    column: str
    field: str | None
    confidence: float  # 0..1; 1.0 exact name match, lower for synonyms and near spellings


def normalize_header(header: str) -> str:
    """A header without case, spacing or punctuation: "E-mail " -> "email", "First Name" -> "firstname"."""
    return _NOT_ALNUM.sub("", header.casefold())


def _spellings(model: TargetModel) -> dict[str, dict[str, float]]:
    """Normalized spelling -> {field: confidence} for every name, label and synonym of the model."""
    index: dict[str, dict[str, float]] = {}
    for f in model.fields:
        names = [(f.name, EXACT), (f.title, EXACT)] + [(s, SYNONYM) for s in f.synonyms]
        for text, confidence in names:
            spelled = index.setdefault(normalize_header(text), {})
            spelled[f.name] = max(confidence, spelled.get(f.name, 0.0))
    index.pop("", None)
    return index


def _fuzzy(norm: str, index: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    found: dict[str, float] = {}
    matcher = difflib.SequenceMatcher(b=norm, autojunk=False)
    for spelling, fields in index.items():
        matcher.set_seq1(spelling)
        # real_quick_ratio and quick_ratio are upper bounds: skip the costly ratio when they cannot pass.
        if matcher.real_quick_ratio() < FUZZY_RATIO or matcher.quick_ratio() < FUZZY_RATIO:
            continue
        ratio = matcher.ratio()
        if ratio >= FUZZY_RATIO:
            for name, confidence in fields.items():
                score = round(ratio * confidence * FUZZY_WEIGHT, 2)
                found[name] = max(score, found.get(name, 0.0))
    return found


def _candidates(
    model: TargetModel, headers: Sequence[str], memory: Mapping[str, str] | None
) -> list[tuple[bool, float, int, int, str]]:
    """(remembered, confidence, header position, field position, field) for every plausible pairing."""
    index = _spellings(model)
    order = {f.name: i for i, f in enumerate(model.fields)}
    out: list[tuple[bool, float, int, int, str]] = []
    for pos, header in enumerate(headers):
        norm = normalize_header(header)
        if not norm:
            continue
        remembered = (memory or {}).get(norm)
        if remembered in order:
            out.append((True, EXACT, pos, order[remembered], remembered))  # type: ignore[index]
        matches = index.get(norm) or _fuzzy(norm, index)
        out.extend((False, conf, pos, order[name], name) for name, conf in matches.items())
    return out


def suggest_mapping(
    model: TargetModel, headers: Sequence[str], memory: Mapping[str, str] | None = None
) -> list[Suggestion]:
    """One suggestion per header, in header order; each field goes to at most one header, best confidence first.

    ``memory`` maps a normalized header to the field the company chose for it before; it wins.
    """
    candidates = sorted(_candidates(model, headers, memory), key=lambda c: (not c[0], -c[1], c[2], c[3]))
    chosen: dict[int, tuple[str, float]] = {}
    taken: set[str] = set()
    for _, confidence, pos, _, name in candidates:
        if pos not in chosen and name not in taken:
            chosen[pos] = (name, confidence)
            taken.add(name)
    return [
        Suggestion(header, *chosen[pos]) if pos in chosen else Suggestion(header, None, 0.0)
        for pos, header in enumerate(headers)
    ]


def default_mapping(
    model: TargetModel, headers: Sequence[str], memory: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The suggestions confident enough to use without asking (confidence >= 0.8), as column -> field."""
    return {
        s.column: s.field
        for s in suggest_mapping(model, headers, memory)
        if s.field is not None and s.confidence >= DEFAULT_CONFIDENCE
    }


def _listing(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _targets(mapping: Mapping[str, str | None]) -> dict[str, str]:
    """The column -> field pairs that import something; None or "" means the column is skipped."""
    if not isinstance(mapping, Mapping):
        raise MappingError(f"the field mapping must be an object of column -> field, not {type(mapping).__name__}")
    bad = [c for c, f in mapping.items() if not isinstance(c, str) or not (f is None or isinstance(f, str))]
    if bad:
        raise MappingError(f"the field mapping must map column names to field names; check {_listing([str(b) for b in bad])}")
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


def check_mapping(model: TargetModel, headers: Sequence[str], mapping: Mapping[str, str]) -> None:
    """Refuse an unusable mapping with one MappingError naming every problem; ``missing`` lists unmapped required fields."""
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
            f"{model.name} has no field {_listing(unknown_fields)} (fields: {', '.join(model.field_names)})"
        )
    by_field: dict[str, list[str]] = {}
    for column, target in targets.items():
        by_field.setdefault(target, []).append(column)
    for target, columns in by_field.items():
        if len(columns) > 1:
            problems.append(f"columns {_listing(columns)} are all mapped to {target}; map one column per field")
    missing = [name for name in model.required_fields if name not in by_field]
    if missing:
        problems.append(f"required {'field' if len(missing) == 1 else 'fields'} {', '.join(missing)} not mapped; map a column to each")
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


def compile_mapping(headers: Sequence[str], mapping: Mapping[str, str]) -> CompiledMapping:
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
