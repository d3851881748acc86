"""What a column's values say: sampling the first rows of a file, recognizing a column by its values, and
flagging a mapped column whose values its field would refuse.

Pure functions over sampled raw values; the judging is done by the real cleaners
(services/cleansing/cleaning.py), so what counts as an email, a phone number, a website or a date here is what the
import accepts. Only peek_rows touches a reader's row iterator, and it never reads past the sample.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from schemas.models import Field, FieldType, TargetModel
from services.cleansing.cleaning import Cleaner, CleanOptions, Invalid, cleaner_for, default_policy
from services.cleansing.picklists import ValuePolicy
from services.ingest.readers import FileFormat, ReaderLimits, open_table
from services.ingest.readers.base import RawRow
from services.ingest.readers.source import Source

__all__ = [
    "SAMPLE_ROWS",
    "ValueEvidence",
    "peek_rows",
    "column_samples",
    "sample_file",
    "sniff_column",
    "mapping_flags",
]

SAMPLE_ROWS = 200  # rows sampled per file: enough for a share, cheap to clean twice
# Share of a column's non-empty sampled values that must be of one kind for the values to choose a field.
KIND_SHARE = 0.8
MIN_VALUES = 3  # fewer non-empty values than this say nothing about a column
FLAG_SHARE = 0.5  # a mapped column is flagged when at least this share of its values fails its field


@dataclass(frozen=True, slots=True)
class ValueEvidence:
    """A column's values are mostly of one kind; ``fields`` are the model's fields of that kind, best first."""

    kind: str  # email, url, date, phone, or a choice field's name
    fields: tuple[str, ...]
    share: float  # of the non-empty sampled values
    label: str  # plural noun for messages: "emails", "lead statuses"

    @property
    def reason(self) -> str:
        return f"values: {_percent(self.share)} % {self.label}"


# ----------------------------------------------------------------------------- sampling


def peek_rows(rows: Iterable[RawRow], n: int = SAMPLE_ROWS) -> tuple[list[RawRow], Iterator[RawRow]]:
    """The first ``n`` rows, and an iterator over every row (those first) that reads the rest lazily.

    A reader's error while peeking (a malformed row, a row limit) is held back and raised when the
    returned iterator reaches that row, so sampling never changes where or whether a file is refused.
    """
    it = iter(rows)
    head: list[RawRow] = []
    try:
        head.extend(islice(it, n))
    except Exception as exc:  # raised again at its place in the stream
        held = exc

        def replay() -> Iterator[RawRow]:
            yield from head
            raise held

        return head, replay()
    return head, chain(list(head), it)


def column_samples(headers: Sequence[str], rows: Iterable[RawRow]) -> dict[str, list[str | None]]:
    """Column -> its values in ``rows`` (None where a short row has no cell); a repeated header keeps its first column."""
    positions: dict[str, int] = {}
    for i, header in enumerate(headers):
        positions.setdefault(header, i)
    out: dict[str, list[str | None]] = {h: [] for h in positions}
    for row in rows:
        cells, size = row.cells, len(row.cells)
        for header, i in positions.items():
            out[header].append(cells[i] if i < size else None)
    return out


def sample_file(
    path: Source,
    file_format: FileFormat,
    display_name: str,
    *,
    limits: ReaderLimits,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    rows: int = SAMPLE_ROWS,
) -> dict[str, list[str | None]]:
    """Column -> raw values of the file's first ``rows`` rows, read as the import reads it. Blocking: run in a thread.

    For callers that settle a mapping apart from reading the file (the API's job request). Reading stops
    after ``rows`` rows; a row the reader refuses ends the sample early, since refusing rows is the
    import's job, not the sampler's. A file that cannot be opened raises as open_table does.
    """
    with open_table(
        path, file_format, display_name=display_name, sheet=sheet, encoding=encoding, delimiter=delimiter, limits=limits
    ) as reader:
        head, _ = peek_rows(reader.rows(), rows)
        return column_samples(reader.info.headers, head)


def _filled(values: Iterable[str | None]) -> list[str]:
    return [v.strip() for v in values if v is not None and v.strip()]


def _percent(share: float) -> int:
    # Never round a minority up to 100 % or a few down to 0 %.
    pct = round(share * 100)
    return 99 if pct == 100 and share < 1 else 1 if pct == 0 and share > 0 else pct


# ----------------------------------------------------------------------------- recognizing a column


def _accepts(cleaner: Cleaner, text: str) -> bool:
    """The cleaner keeps ``text`` as a value of its field without doubt (a warning's kept value is a doubt)."""
    try:
        cleaner.clean(text)
    except Invalid:
        return False
    return True


# Phone shapes the cleaner doubts (made-up area codes in sample files, extensions) still look like phone
# numbers: 7-15 digits with the separators people type, optionally an extension.
_PHONE_SHAPE = re.compile(r"\+?[\d\s().\-/]{7,22}(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?", re.IGNORECASE)
_HAS_FORMATTING = re.compile(r"[+\s().\-/]")
_DIGIT = re.compile(r"\d")
_DECIMAL = re.compile(r"[-+]?\d+[.,]\d+")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d", re.IGNORECASE)


def _phone_like(cleaner: Cleaner, text: str) -> bool:
    main = _EXTENSION.split(text, maxsplit=1)[0]
    # A bare run of digits is as likely an id or an amount, "12345.67" is an amount: only numbers
    # formatted as phone numbers count as evidence.
    if not _HAS_FORMATTING.search(main.strip()) or _DECIMAL.fullmatch(text):
        return False
    if _accepts(cleaner, text):
        return True
    return bool(_PHONE_SHAPE.fullmatch(text)) and 7 <= len(_DIGIT.findall(main)) <= 15


def _date_like(cleaner: Cleaner, text: str) -> bool:
    # A bare number ("1990", "45123", "45123.5": a year or a spreadsheet serial) is a date only to a field
    # that says so; as evidence it is as likely a count or an amount.
    return not text.isdigit() and not _DECIMAL.fullmatch(text) and _accepts(cleaner, text)


def _url_like(cleaner: Cleaner, text: str) -> bool:
    # "Smith.John" passes as a domain; a website is written with a scheme, www., a path or a lowercase domain.
    if " " in text or "@" in text or not _accepts(cleaner, text):
        return False
    lowered = text.lower()
    if "://" in lowered or lowered.startswith("www.") or "/" in text:
        return True
    last = text.rsplit(".", 1)[-1]
    return last.isalpha() and last.islower() and 2 <= len(last) <= 24


def _email_like(cleaner: Cleaner, text: str) -> bool:
    return "@" in text and _accepts(cleaner, text)


_KIND_TESTS: dict[FieldType, Callable[[Cleaner, str], bool]] = {
    "email": _email_like,
    "url": _url_like,
    "date": _date_like,
    "phone": _phone_like,
}
_KIND_LABELS = {"email": "emails", "url": "websites", "date": "dates", "phone": "phone numbers"}
_DEFAULT_OPTIONS = CleanOptions()


@lru_cache(maxsize=64)
def _cleaner(f: Field, options: CleanOptions) -> Cleaner:
    return cleaner_for(f, options)


@lru_cache(maxsize=64)
def _builtin_policy(model: TargetModel, name: str) -> ValuePolicy:
    # Building the built-in picklists costs more than judging a column: once per model and field.
    return default_policy(model.name, model.by_name[name])


def _share(values: Sequence[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values)


def sniff_column(
    model: TargetModel,
    values: Sequence[str | None],
    *,
    options: CleanOptions = _DEFAULT_OPTIONS,
    policies: Mapping[str, ValuePolicy] | None = None,
) -> ValueEvidence | None:
    """The kind of value ``values`` mostly are (≥ 80 % of at least 3 non-empty ones) and the model's fields of
    that kind, or None when the values say nothing sure.

    Kinds are tried from the least to the most ambiguous (emails, websites, dates, phone numbers), then the
    model's choice fields by their picklists' values and synonyms (``policies``: the company's, else the
    built-in ones); a column two choice fields fit equally well says nothing.
    """
    filled = _filled(values)
    if len(filled) < MIN_VALUES:
        return None
    weights = Counter(filled)  # each distinct value is judged once
    total = len(filled)
    allowed = total * (1 - KIND_SHARE)  # misses past this and the kind cannot reach KIND_SHARE

    def share(test: Any) -> float:
        hits = misses = 0
        for value, count in weights.items():
            if test(value):
                hits += count
            else:
                misses += count
                if misses > allowed:
                    return 0.0
        return hits / total

    for kind, test in _KIND_TESTS.items():
        # Values say what a column is, not that it names a linked record's field ("account.website").
        fields = [f for f in model.own_fields if f.type == kind]
        if not fields:
            continue
        cleaner = _cleaner(fields[0], options)
        got = share(lambda v, c=cleaner, t=test: t(c, v))
        if got >= KIND_SHARE:
            return ValueEvidence(kind, tuple(f.name for f in fields), got, _KIND_LABELS[kind])
    best: list[tuple[float, Field]] = []
    for f in model.own_fields:
        if f.type != "choice":
            continue
        policy = (policies or {}).get(f.name) or _builtin_policy(model, f.name)
        got = share(lambda v, p=policy: p.picklist.find(v) is not None)
        if got >= KIND_SHARE:
            best.append((got, f))
    best.sort(key=lambda pair: -pair[0])
    if not best or (len(best) > 1 and best[1][0] == best[0][0]):
        return None
    got, f = best[0]
    return ValueEvidence(f.name, (f.name,), got, f"{f.title.lower()} values")


# ----------------------------------------------------------------------------- flags


_TYPE_NOUNS = {
    "email": "email addresses",
    "phone": "phone numbers",
    "url": "websites",
    "integer": "whole numbers",
    "decimal": "numbers",
    "date": "dates",
    "boolean": "yes/no values",
    "choice": "values of its picklist",
    "string": "short texts",
    "text": "texts",
}
_EVERY_KIND = TargetModel("any", "", tuple(Field(kind, kind) for kind in _KIND_TESTS), ())
_YEAR = re.compile(r"(1[0-9]|20)\d\d")
_NUMBER = re.compile(r"[-+]?\d[\d,. ]*")


def _what_they_are(model: TargetModel, failing: Sequence[str], options: CleanOptions) -> str | None:
    """A plural noun for what most failing values are instead, if they are mostly one thing."""
    if _share(failing, _YEAR.fullmatch) >= KIND_SHARE:
        return "years"
    # Any kind, not only the model's: an account has no email field, yet emails in its phone column are emails.
    evidence = sniff_column(_EVERY_KIND, failing, options=options) or sniff_column(model, failing, options=options)
    if evidence is not None:
        return evidence.label
    if _share(failing, _NUMBER.fullmatch) >= KIND_SHARE:
        return "numbers"
    return None


def _other_field(
    model: TargetModel, evidence: ValueEvidence | None, mapping: Mapping[str, str | None], own: str
) -> str | None:
    if evidence is None:
        return None
    taken = {f for f in mapping.values() if f}
    return next((f for f in evidence.fields if f != own and f not in taken), None)


def mapping_flags(
    model: TargetModel,
    mapping: Mapping[str, str | None],
    samples: Mapping[str, Sequence[str | None]],
    *,
    options: CleanOptions = _DEFAULT_OPTIONS,
    policies: Mapping[str, ValuePolicy] | None = None,
    min_share: float = FLAG_SHARE,
) -> list[dict[str, Any]]:
    """Mapped columns whose field refuses most of their sampled values, before a job runs them.

    One flag per such column, in mapping order: {column, field, share_failing (0..1), message,
    suggestion}. A value fails when its field's cleaner refuses it or it is longer than the field
    allows; a doubt the cleaner keeps lands and is no failure, except a "phone number" that does not
    even look like one (an email in a phone column).
    Columns without samples, unmapped columns and unknown fields are left to check_mapping.
    """
    flags: list[dict[str, Any]] = []
    for column, name in mapping.items():
        f = model.by_name.get(name) if name else None
        filled = _filled(samples.get(column) or ())
        if f is None or not filled:
            continue
        policy = (policies or {}).get(f.name) if f.type == "choice" else None
        if f.type == "choice" and policy is None:
            policy = _builtin_policy(model, f.name)
        cleaner = cleaner_for(f, options, policy)
        failing = [v for v in filled if not _lands(cleaner, f, v)]
        share = len(failing) / len(filled)
        if not failing or share < min_share:
            continue
        flags.append(_flag(model, mapping, column, f, failing, share, options))
    return flags


def _lands(cleaner: Cleaner, f: Field, text: str) -> bool:
    if f.max_length is not None and len(text) > f.max_length:
        return False
    try:
        cleaner.clean(text)
    except Invalid as exc:
        # A doubt keeps the value as written: it lands, but only a number that looks like one belongs there.
        return exc.level == "warning" and (f.type != "phone" or _phone_like(cleaner, text))
    return True


def _flag(
    model: TargetModel,
    mapping: Mapping[str, str | None],
    column: str,
    f: Field,
    failing: Sequence[str],
    share: float,
    options: CleanOptions,
) -> dict[str, Any]:
    noun = _TYPE_NOUNS.get(f.type, "values")
    pct = _percent(share)
    instead = _what_they_are(model, failing, options)
    if f.max_length is not None and all(len(v) > f.max_length for v in failing):
        message = (
            f"{column}: {pct} % of sampled values are longer than {f.max_length} characters, the most {f.name} holds"
        )
    elif instead is not None and instead != noun:
        message = f"{column}: {pct} % of sampled values are {instead}, not {noun}"
    else:
        example = failing[0] if len(failing[0]) <= 40 else failing[0][:37] + "..."
        message = f"{column}: {pct} % of sampled values are not {noun} (e.g. {example!r})"
    other = _other_field(model, sniff_column(model, failing, options=options), mapping, f.name)
    if other is not None:
        suggestion = f"map {column!r} to {other} instead"
    elif f.type == "choice":
        suggestion = (
            f"map the column's values to {f.name} values (value_mapping), add them to the picklist, "
            f"or leave {column!r} unmapped"
        )
    elif f.required:
        suggestion = (
            f"correct the values of {column!r} or map another column to {f.name}; rows without a valid {f.name} fail"
        )
    else:
        suggestion = f"leave {column!r} unmapped or correct its values; rows import without {f.name} where it fails"
    return {
        "column": column,
        "field": f.name,
        "share_failing": round(share, 4),
        "message": message,
        "suggestion": suggestion,
    }
