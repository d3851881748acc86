"""Cleansing and validation of import records: a cleaner per field type, every issue of a row, match keys."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Literal

import phonenumbers
from crmio_native import PhoneFast, RowCleaner, clean_email, clean_money
from phonenumbers import NumberParseException, PhoneMetadata

from schemas.models import Field, TargetModel, own_name
from schemas.picklists import FIELD_PICKLISTS, picklist_of
from services.cleansing.picklists import (
    ACCEPT_CONFIDENCE,
    Choice,
    Picklist,
    UnknownPolicy,
    ValuePolicy,
    builtin_picklists,
    new_value_name,
    value_key,
)
from services.cleansing.validation import Check, compile_checks, required_by_rules, text_form, validate_rules
from services.core.errors import ValidationRulesError

__all__ = [
    "CleanOptions",
    "Issue",
    "CleanedRecord",
    "Invalid",
    "Cleaner",
    "TextCleaner",
    "EmailCleaner",
    "PhoneCleaner",
    "UrlCleaner",
    "IntegerCleaner",
    "DecimalCleaner",
    "DateCleaner",
    "PartialDate",
    "excel_serial_date",
    "BooleanCleaner",
    "ChoiceCleaner",
    "CLEANERS",
    "cleaner_for",
    "validate_rules",
    "RecordCleaner",
    "match_key",
    "key_kind",
    "EXTERNAL_KEY",
]


@dataclass(frozen=True, slots=True)
class CleanOptions:
    date_order: Literal["DMY", "MDY"] = "MDY"  # which wins for ambiguous dates like 03/04/2024
    phone_region: str = "US"  # region for national-format phone numbers

    def __post_init__(self) -> None:
        if self.date_order not in ("DMY", "MDY"):
            raise ValidationRulesError(f"date_order must be 'DMY' or 'MDY', not {self.date_order!r}")
        region = self.phone_region.upper() if isinstance(self.phone_region, str) else ""
        if not phonenumbers.country_code_for_region(region):
            raise ValidationRulesError(
                f"phone_region must be a two-letter region code like 'US' or 'GB', not {self.phone_region!r}"
            )
        object.__setattr__(self, "phone_region", region)


@dataclass(frozen=True, slots=True)
class Issue:
    field: str  # target field name
    value: str | None  # the raw value as received
    message: str  # what is wrong
    hint: str  # how to fix it
    level: Literal["error", "warning"]


@dataclass(slots=True)
class CleanedRecord:
    # Typed values of the input's fields; a field whose value has an error is left out.
    values: dict[str, object]
    issues: list[Issue]
    match_key: str | None
    # Required fields the row leaves empty in an update import: only a record the row would create needs them
    # (the plan fails the row then); a record it updates keeps its stored values.
    needs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No error-level issue (warnings allowed)."""
        return not self.issues or not any(i.level == "error" for i in self.issues)


class Invalid(Exception):
    """A cleaner refuses a cell (level error), or keeps ``kept`` with a doubt (level warning).

    An error in an optional field becomes a warning (the record lands without the value) unless
    the job is strict or the error is ``sticky``: the job itself asked for the row to fail.
    """

    def __init__(
        self,
        message: str,
        hint: str,
        level: Literal["error", "warning"] = "error",
        kept: object = None,
        sticky: bool = False,
    ) -> None:
        super().__init__(message)
        self.message, self.hint, self.level, self.kept, self.sticky = message, hint, level, kept, sticky


_QUOTED = 60  # the characters of a value a message quotes

# The common forms of text, e-mail, phone and money values are cleaned by native/src/cleaner.rs, which gives
# the value the Python cleaner gives or leaves the value to it. False: Python alone (tests run both ways).
COMPILED = True


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTED else text[: _QUOTED - 3] + "...")


# --------------------------------------------------------------------------- cleaners per type


class Cleaner:
    """Cleans one stripped, non-empty cell into the field's value; render() writes a value back as text."""

    __slots__ = ("field",)
    # Values of this type repeat across rows (dates, numbers, choices): the record cleaner memoizes clean().
    repeats: ClassVar[bool] = False

    def __init__(self, field: Field, options: CleanOptions) -> None:
        self.field = field

    def clean(self, text: str) -> object:
        return text

    def render(self, value: object) -> str:
        return "" if value is None else text_form(value)


class TextCleaner(Cleaner):
    """string and text: kept as written (length limits are checked for every type by the record cleaner)."""

    __slots__ = ()


# Nearly every address is plain ASCII: a cheaper pattern first, the full one when it fails.
_ASCII_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.A,
)
_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
)


def _email_problem(text: str) -> str:
    if any(c.isspace() for c in text):
        return "it contains a space"
    if "@" not in text:
        return "it has no @"
    local, _, domain = text.partition("@")
    if "@" in domain:
        return "it has more than one @"
    if not local:
        return "nothing comes before the @"
    if "." not in domain:
        return f"the domain {domain!r} has no dot (like example.com)" if domain else "no domain follows the @"
    if len(local) > 64 or len(text) > 254:
        return "it is too long (64 characters before the @, 254 in all)"
    return "it has characters or dots an address cannot have"


class EmailCleaner(Cleaner):
    """Lower-cased local@domain.tld: a pragmatic RFC 5322 subset (dot-atom local part), letters of any script allowed."""

    __slots__ = ()

    def clean(self, text: str) -> object:
        if COMPILED:
            fast = clean_email(text)
            if fast is not None:
                return fast
        email = text.lower()
        valid = _ASCII_EMAIL.fullmatch(email) is not None or _EMAIL.fullmatch(email) is not None
        if not valid or len(email) > 254 or email.index("@") > 64:
            raise Invalid(
                f"{_quote(text)} is not a valid email address: {_email_problem(email)}",
                "use the form name@example.com",
            )
        return email


_NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def _region_patterns(country_code: int, region: str) -> list[str]:
    if region == "001":
        meta = PhoneMetadata.metadata_for_nongeo_region(country_code)
    else:
        meta = PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return []
    descs = (getattr(meta, kind) for kind in _NUMBER_TYPES)
    return [d.national_number_pattern for d in descs if d is not None and d.national_number_pattern]


def _alternation(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(patterns))) if patterns else None


def _build_number_patterns(country_code: int) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """Valid national numbers of a country code: its main region's, then its other regions' (+1: US, then CA, ...).

    phonenumbers.is_valid_number tries each number type's pattern in turn (12-18 µs); one
    compiled alternation of the same patterns answers in well under a microsecond.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if not regions:
        return None, None
    rest = [p for region in regions[1:] for p in _region_patterns(country_code, region)]
    return _alternation(_region_patterns(country_code, regions[0])), _alternation(rest)


_NUMBER_PATTERNS: dict[int, tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {}


def _valid_number(country_code: int, national: str) -> bool:
    patterns = _NUMBER_PATTERNS.get(country_code)
    if patterns is None:
        patterns = _NUMBER_PATTERNS[country_code] = _build_number_patterns(country_code)
    main, rest = patterns
    return (main is not None and main.fullmatch(national) is not None) or (
        rest is not None and rest.fullmatch(national) is not None
    )


def _pattern_texts(country_code: int) -> tuple[str | None, str | None]:
    """The patterns _valid_number uses for a country code, as text (the compiled phone cleaner's)."""
    patterns = _NUMBER_PATTERNS.get(country_code)
    if patterns is None:
        patterns = _NUMBER_PATTERNS[country_code] = _build_number_patterns(country_code)
    return tuple(p.pattern if p is not None else None for p in patterns)  # type: ignore[return-value]


def _compact_phone(text: str) -> str:
    # Chained replace beats str.translate (a dict lookup per character) by 3x on short strings.
    return text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "").replace(".", "").replace("/", "")


def _split_international(digits: str) -> str | None:
    """'+' + digits as E.164 when the digits start with a country code and form a valid number."""
    # Country codes are prefix-free, so the first length that names one is the one.
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return "+" + digits if _valid_number(code, digits[size:]) else None
    return None


_EXTENSION = re.compile(r"(.*?[0-9)])\s*[,;]?\s*(?:ext\.?|extension|x|#)\s*([0-9]{1,7})", re.I)


class PhoneCleaner(Cleaner):
    """E.164 ("+14155550132", " ext. 12" appended when given); unrecognized numbers are kept with a warning."""

    __slots__ = ("region", "country_code", "national_prefix", "hint", "_slow_cache", "compiled")
    _CACHE_SIZE = 4096

    def __init__(self, field: Field, options: CleanOptions) -> None:
        super().__init__(field, options)
        self.region = options.phone_region
        self.country_code = phonenumbers.country_code_for_region(self.region)
        meta = PhoneMetadata.metadata_for_region(self.region)
        self.national_prefix = (meta.national_prefix or "") if meta is not None else ""
        example = phonenumbers.example_number(self.region)
        shown = (
            phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            if example
            else "+1 415 555 0132"
        )
        self.hint = f"write it in international form like {shown} (numbers without a country code are read as {self.region} numbers)"
        self._slow_cache: dict[str, str | None] = {}
        codes = list(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
        self.compiled = PhoneFast(self.country_code, self.national_prefix, codes, _pattern_texts)

    def clean(self, text: str) -> object:
        e164 = self.compiled.clean(text) if COMPILED else None
        if e164 is None:
            e164 = self._fast(_compact_phone(text))
        if e164 is None:
            m = _EXTENSION.fullmatch(text)
            if m is not None:
                main = self._fast(_compact_phone(m[1]))
                if main is not None:
                    return f"{main} ext. {m[2]}"
            e164 = self._parse(text)
        if e164 is None:
            raise Invalid(
                f"{_quote(text)} is not a recognizable phone number; kept as written", self.hint, "warning", text
            )
        return e164

    def _fast(self, compact: str) -> str | None:
        """E.164 for digits with an optional leading "+", without phonenumbers.parse (20-40 µs)."""
        if compact.isascii():
            if compact.isdigit():
                return self._national(compact)
            if compact[:1] == "+" and compact[1:].isdigit():
                return _split_international(compact[1:])
        return None

    def _national(self, digits: str) -> str | None:
        prefix = self.national_prefix
        # A national prefix (trunk code, "0" in GB, "1" in US) is dropped when what follows is valid.
        if prefix and digits.startswith(prefix) and _valid_number(self.country_code, digits[len(prefix) :]):
            return f"+{self.country_code}{digits[len(prefix) :]}"
        if _valid_number(self.country_code, digits):
            return f"+{self.country_code}{digits}"
        return None

    def _parse(self, text: str) -> str | None:
        """The slow path (letters, international prefixes like 011, unusual forms): phonenumbers.parse, cached."""
        cache = self._slow_cache
        if text in cache:
            return cache[text]
        try:
            number = phonenumbers.parse(text, self.region)
        except NumberParseException:
            result = None
        else:
            national = phonenumbers.national_significant_number(number)
            result = None
            if number.country_code and _valid_number(number.country_code, national):
                result = f"+{number.country_code}{national}"
                if number.extension:
                    result += f" ext. {number.extension}"
        if len(cache) >= self._CACHE_SIZE:
            cache.clear()
        cache[text] = result
        return result


_URL = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>[^\s/?#:@]+)(?P<port>:[0-9]{1,5})?(?P<rest>[/?#]\S*)?"
)
_HOST = re.compile(r"(?:[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})")
# Most websites: http(s) or no scheme, an ASCII host name, maybe a port and a path.
_ASCII_WEB = re.compile(
    r"(?:(https?)://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59}))"
    r"((?::[0-9]{1,5})?[/?#]\S*|:[0-9]{1,5})?",
    re.I | re.A,
)
_URL_HINT = "use a web address like https://www.example.com or example.com"


class UrlCleaner(Cleaner):
    """Web addresses with or without http(s)://: scheme and host lower-cased, the rest kept as written.

    No scheme is invented: "acme.com" stays "acme.com" (guessing http or https would change data).
    """

    __slots__ = ()
    repeats = True

    def clean(self, text: str) -> object:
        m = _ASCII_WEB.fullmatch(text)
        if m is not None:
            scheme, host, tail = m[1], m[2].lower(), m[3] or ""
            return f"{scheme.lower()}://{host}{tail}" if scheme else host + tail
        m = _URL.fullmatch(text)
        if m is None:
            raise Invalid(f"{_quote(text)} is not a web address", _URL_HINT)
        scheme, host = m["scheme"], m["host"].lower().rstrip(".")
        if scheme is not None and scheme.lower() not in ("http", "https"):
            raise Invalid(f"{_quote(text)} uses the scheme {scheme!r}; a website uses http or https", _URL_HINT)
        if _HOST.fullmatch(host) is None or len(host) > 253:
            raise Invalid(f"{_quote(text)} is not a web address: {host!r} is not a domain name", _URL_HINT)
        start = f"{scheme.lower()}://{host}" if scheme else host
        return start + (m["port"] or "") + (m["rest"] or "")


# The common forms in one go: sign, a currency symbol, "1,200,000" or "1200", a fraction.
_SIMPLE_AMOUNT = re.compile(r"([-+]?)[$€£¥]?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]+)?")
# The common European forms: "1.200.000,00 €", "€1.200,50", "12,50".
_SIMPLE_COMMA_AMOUNT = re.compile(r"([-+]?)(?:€\s*)?([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,([0-9]+))?\s*€?")
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
# Currency codes seen in CRM exports; any three letters would let "12abc" pass as a number.
_CURRENCY_CODES = (
    "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|CNY|RMB|HKD|SGD|INR|KRW|SEK|NOK|DKK|PLN|CZK|HUF|BRL|MXN|ZAR|TRY|ILS|AED|SAR|RUB"
)
# Sign, currency (symbol, code or "US$") and sign again, then the digits, then a currency after them.
_AMOUNT = re.compile(
    rf"(?P<sign>[-+\u2212])?\s*(?:(?:{_CURRENCY_CODES}|[A-Z]{{0,2}}[$€£¥])\s*)?(?P<sign2>[-+\u2212])?\s*"
    rf"(?P<body>[0-9][0-9.,' \u00a0\u202f]*[0-9]|[0-9]|[.,][0-9]+)\s*(?:{_CURRENCY_CODES}|[$€£¥])?",
    re.I,
)
_GROUPED_DOT_DECIMAL = re.compile(r"[0-9]{1,3}([, '\u00a0\u202f])[0-9]{3}(?:\1[0-9]{3})*(?:\.[0-9]+)?")
_GROUPED_COMMA_DECIMAL = re.compile(r"[0-9]{1,3}([. '\u00a0\u202f])[0-9]{3}(?:\1[0-9]{3})*(?:,[0-9]+)?")
# "12,50" or "1200,5": a comma followed by anything but exactly three digits can only be a decimal comma.
_COMMA_DECIMAL = re.compile(r"[0-9]*,[0-9]+")
_CENT = Decimal("0.01")
_DECIMAL_LIMIT = Decimal(10) ** 16  # numeric(18,2)
_CUSTOM_DECIMAL_LIMIT = Decimal(10) ** 38  # as many whole digits as a numeric column is ever declared with
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def _plain_body(body: str) -> str | None:
    """The plain decimal form of a number body written with grouping and a decimal point or comma."""
    if _PLAIN_NUMBER.fullmatch(body) is not None:
        return body
    m = _GROUPED_DOT_DECIMAL.fullmatch(body)
    if m is not None:
        return body.replace(m[1], "")
    m = _GROUPED_COMMA_DECIMAL.fullmatch(body)
    if m is not None:
        return body.replace(m[1], "").replace(",", ".")
    if _COMMA_DECIMAL.fullmatch(body) is not None:
        return body.replace(",", ".")
    return None


def _amount(text: str) -> str | None:
    """A number as people write it in spreadsheets, as a plain ASCII "-1200.50"; None when it is not one."""
    m = _SIMPLE_AMOUNT.fullmatch(text)
    if m is not None:
        return ("-" if m[1] == "-" else "") + m[2].replace(",", "") + (m[3] or "")
    m = _SIMPLE_COMMA_AMOUNT.fullmatch(text)
    if m is not None:
        return ("-" if m[1] == "-" else "") + m[2].replace(".", "") + ("." + m[3] if m[3] else "")
    negative = False
    if text[:1] == "(" and text[-1:] == ")":  # accounting negative: (1,200.50)
        negative, text = True, text[1:-1].strip()
    m = _AMOUNT.fullmatch(text)
    if m is None or (m["sign"] and m["sign2"]):
        return None
    plain = _plain_body(m["body"])
    if plain is None:
        return None
    if (m["sign"] or m["sign2"] or "+") != "+":
        if negative:  # "(-5)" is not a way anyone writes a number
            return None
        negative = True
    return "-" + plain if negative else plain


_NUMBER_HINT = (
    "write digits with an optional sign, currency and thousands separators, e.g. 1,200.50, (1 200,50) or $1,200"
)


class DecimalCleaner(Cleaner):
    """Amounts as Decimal: thousands separators, currency, (negatives), 1.200,50. A built-in field (a numeric(18,2)
    column: money) keeps 2 places; a custom one (jsonb text: a rate, a probability) keeps every digit given."""

    __slots__ = ()
    repeats = True

    def clean(self, text: str) -> object:
        if COMPILED and not self.field.custom:
            fast = clean_money(text)
            if fast is not None:
                return Decimal(fast)
        plain = _amount(text)
        if plain is None:
            raise Invalid(f"{_quote(text)} is not a number", _NUMBER_HINT)
        if self.field.custom:
            exact = Decimal(plain)
            if abs(exact) >= _CUSTOM_DECIMAL_LIMIT:
                raise Invalid(
                    f"{_quote(text)} is too large for {self.field.name}",
                    "use at most 38 digits before the decimal point",
                )
            return exact
        dot = plain.find(".")
        # Exactly two places already, or none: build the 2-place Decimal without a quantize.
        if dot == -1:
            value = Decimal(plain + ".00")
        elif len(plain) - dot == 3:
            value = Decimal(plain)
        else:
            value = Decimal(plain)
            if abs(value) < _DECIMAL_LIMIT:
                value = value.quantize(_CENT, ROUND_HALF_UP)  # half-up, as PostgreSQL rounds numeric(18,2)
        if abs(value) >= _DECIMAL_LIMIT:
            raise Invalid(
                f"{_quote(text)} is too large for {self.field.name}", "use at most 16 digits before the decimal point"
            )
        return value

    def render(self, value: object) -> str:
        return "" if value is None else format(value, "f")


class IntegerCleaner(Cleaner):
    """Whole numbers: "1,200", "1 200" and "1200.0" are 1200; "12.5" is refused."""

    __slots__ = ()
    repeats = True

    def clean(self, text: str) -> object:
        plain = _amount(text)
        if plain is None:
            raise Invalid(f"{_quote(text)} is not a whole number", "use a whole number such as 1200 or 1,200")
        whole, _, fraction = plain.partition(".")
        if fraction.strip("0"):
            raise Invalid(f"{_quote(text)} is not a whole number", "use a whole number such as 1200 (no fraction)")
        number = int(whole) if whole not in ("", "-") else 0
        if not _BIGINT_MIN <= number <= _BIGINT_MAX:
            raise Invalid(f"{_quote(text)} is too large for {self.field.name}", "use a number of at most 18 digits")
        return number


_TIME = (
    r"(?:(?:T|\s+)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?\s*(?:[ap]\.?m\.?)?"
    r"\s*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?|UTC|GMT)?)?"
)
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s*)?"
_NUMERIC_DATE = re.compile(r"([0-9]{1,4})([-/.])([0-9]{1,2})\2([0-9]{4}|[0-9]{1,2})")
_YEAR_FIRST = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})" + _TIME, re.I)
_YEAR_LAST = re.compile(r"([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})" + _TIME, re.I)
_DAY_MONTH_NAME = re.compile(
    _WEEKDAY + r"([0-9]{1,2})(?:st|nd|rd|th)?[\s/.-]*([a-z]{3,9})\.?,?[\s/.-]*([0-9]{4}|[0-9]{2})" + _TIME, re.I
)
_MONTH_NAME_DAY = re.compile(
    _WEEKDAY + r"([a-z]{3,9})\.?[\s/.-]*([0-9]{1,2})(?:st|nd|rd|th)?,?[\s/.-]+([0-9]{4}|[0-9]{2})" + _TIME, re.I
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


def _year(text: str) -> int:
    # Two-digit years pivot as in Excel, where most of these files come from: 00-29 -> 20xx, 30-99 -> 19xx.
    year = int(text)
    if len(text) == 2:
        return year + (2000 if year < 30 else 1900)
    return year


Precision = Literal["year", "month"]


class PartialDate(dt.date):
    """A date known only to the year or the month: the first day of the period, with its ``precision``.

    It is a ``date`` everywhere a date is expected (comparisons, the database's ``date`` column,
    rules' min/max), and writes itself in ISO 8601's reduced forms: ``isoformat()`` and ``str()`` are
    "1990" or "2024-03", so every text form of the value says no more than what was written. Built
    without a precision (date arithmetic and ``replace`` do that) it is a plain ``date``.
    """

    __slots__ = ("precision",)
    precision: Precision

    def __new__(  # type: ignore[misc]  # without a precision it is a plain date, by design
        cls, year: int, month: int = 1, day: int = 1, precision: Precision | None = None
    ) -> dt.date:
        if precision is None:
            return dt.date(year, month, day)
        if precision not in ("year", "month") or day != 1 or (precision == "year" and month != 1):
            raise ValueError(f"a {precision!r} date is the first day of its period, not {year}-{month}-{day}")
        self = super().__new__(cls, year, month, 1)
        self.precision = precision
        return self

    @classmethod
    def year_of(cls, year: int) -> PartialDate:
        return cls(year, 1, 1, "year")  # type: ignore[return-value]

    @classmethod
    def month_of(cls, year: int, month: int) -> PartialDate:
        return cls(year, month, 1, "month")  # type: ignore[return-value]

    def isoformat(self) -> str:
        if getattr(self, "precision", None) == "year":
            return f"{self.year:04d}"
        if getattr(self, "precision", None) == "month":
            return f"{self.year:04d}-{self.month:02d}"
        return dt.date.isoformat(self)

    __str__ = isoformat

    def __repr__(self) -> str:
        return f"PartialDate({self.year}, {self.month}, precision={getattr(self, 'precision', None)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartialDate, (self.year, self.month, 1, self.precision))

    def replace(self, *args: Any, **kwargs: Any) -> dt.date:  # type: ignore[override]
        return dt.date(self.year, self.month, self.day).replace(*args, **kwargs)

    def full(self) -> dt.date:
        """The first day of the period as a plain date."""
        return dt.date(self.year, self.month, 1)


# Excel's 1900 date system: serial 1 is 1900-01-01, and Excel counts a 29 February 1900 that never
# was (serial 60), so from serial 61 on the day is 1899-12-30 + serial.
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_FAKE_LEAP_DAY = 60
_EXCEL_SERIAL_MAX = 2958465  # 9999-12-31
# A number alone in a date cell: a year (four digits, 1000-2999) or, from five digits on, an Excel serial.
_YEAR_MIN, _YEAR_MAX = 1000, 2999
_SERIAL_MIN = 10000  # 1927-05-18: smaller numbers could be anything (a day, a month, a typo)
_NUMBER_ALONE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_YEAR_MONTH = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})")
_MONTH_YEAR = re.compile(r"([0-9]{1,2})([-/.])([0-9]{4})")
_MONTH_NAME_YEAR = re.compile(r"([a-z]{3,9})\.?,?[\s/.-]*([0-9]{4})", re.I)
_NUMBER_HINT_DATE = (
    f"a number alone is read as a year (1000 to 2999) or as an Excel date serial ({_SERIAL_MIN} to {_EXCEL_SERIAL_MAX})"
)


def excel_serial_date(serial: int) -> dt.date:
    """The day of an Excel (1900 date system) serial number, 1 to 2958465.

    Excel believes 1900 was a leap year: serial 60 is its 29 February 1900, a day that never was
    (ValueError), and every serial after it is one more than the days since 1899-12-31.
    """
    if not 1 <= serial <= _EXCEL_SERIAL_MAX:
        raise ValueError(f"Excel date serials run from 1 to {_EXCEL_SERIAL_MAX}, not {serial}")
    if serial == _EXCEL_FAKE_LEAP_DAY:
        raise ValueError("serial 60 is Excel's 29 February 1900, a day that never was")
    if serial < _EXCEL_FAKE_LEAP_DAY:
        return _EXCEL_EPOCH + dt.timedelta(days=serial + 1)
    return _EXCEL_EPOCH + dt.timedelta(days=serial)


class DateCleaner(Cleaner):
    """Dates as people write them; a full date becomes a ``date``, a year or a month a ``PartialDate``.

    - Full dates: ISO (a time part is dropped), D/M/Y and M/D/Y with / - . separators (the job's
      date_order settles 03/04/2024; a number above 12 settles it by itself), and month names
      ("4 Mar 2024", "March 4, 2024").
    - A month: "2024-03", "2024/03", "03/2024", "3-2024", "March 2024", "Mar 2024", "Mar. 2024"
      (always a four-digit year: "03/24" stays refused, it could be 24 March) -> the 1st of the month,
      precision "month".
    - A number alone, decided per value (the cleaner sees one cell at a time):
      four digits 1000-2999 are a year -> 1 January, precision "year" ("1990.0" too, as programs
      write whole numbers); with a dot, a month ("2024.03" with two digits after the dot, "03.2024");
      10000-2958465, with or without a fraction, is an Excel (1900 date system) serial -> its day,
      the fraction (the time of day) dropped: "45292" and "45292.5" are 2024-01-01. Serials below
      10000 (before 1927-05-18) and every other number are refused: they could be anything.
    """

    __slots__ = ("day_first", "hint")
    repeats = True

    def __init__(self, field: Field, options: CleanOptions) -> None:
        super().__init__(field, options)
        self.day_first = options.date_order == "DMY"
        order = "DD/MM/YYYY (03/04/2024 is 3 April)" if self.day_first else "MM/DD/YYYY (03/04/2024 is March 4)"
        self.hint = (
            f"write dates as YYYY-MM-DD, {order} or 4 Mar 2024; a month as YYYY-MM or March 2024; a year as YYYY"
        )

    def clean(self, text: str) -> object:
        if len(text) == 10 and text.isascii():  # the fixed-width forms, without a regex
            if text[4] == "-" == text[7]:
                try:
                    return dt.date.fromisoformat(text)
                except ValueError:
                    pass  # the general path below explains what is wrong
            elif (
                text[2] == text[5]
                and text[2] in "/-."
                and text[:2].isdigit()
                and text[3:5].isdigit()
                and text[6:].isdigit()
            ):
                return self._numeric(text, int(text[:2]), int(text[3:5]), text[6:])
        if text.isascii() and text[:1].isdigit():
            m = _NUMBER_ALONE.fullmatch(text)
            if m is not None:
                return self._number(text, m[1], m[2])
        m = _NUMERIC_DATE.fullmatch(text)  # the common forms without a time part, in one regex
        if m is None:
            m = _YEAR_FIRST.fullmatch(text) or _YEAR_LAST.fullmatch(text)
        if m is not None:
            if len(m[1]) == 4:
                if len(m[4]) <= 2:
                    return self._date(text, int(m[1]), int(m[3]), int(m[4]))
            elif len(m[1]) <= 2 and len(m[4]) != 1:
                return self._numeric(text, int(m[1]), int(m[3]), m[4])
            raise Invalid(f"{_quote(text)} is not a date", self.hint)
        m = _DAY_MONTH_NAME.fullmatch(text)
        if m is not None:
            return self._date(text, _year(m[3]), self._month(text, m[2]), int(m[1]))
        m = _MONTH_NAME_DAY.fullmatch(text)
        if m is not None:
            return self._date(text, _year(m[3]), self._month(text, m[1]), int(m[2]))
        m = _YEAR_MONTH.fullmatch(text)
        if m is not None:
            return self._month_date(text, int(m[1]), int(m[3]))
        m = _MONTH_YEAR.fullmatch(text)
        if m is not None:
            return self._month_date(text, int(m[3]), int(m[1]))
        m = _MONTH_NAME_YEAR.fullmatch(text)
        if m is not None:
            return self._month_date(text, int(m[2]), self._month(text, m[1]))
        raise Invalid(f"{_quote(text)} is not a date", self.hint)

    def _number(self, text: str, whole: str, fraction: str | None) -> dt.date:
        """Digits with an optional fraction: a year, an Excel serial (the class docstring has the rule)
        or, with a dot, a month ("2024.03", "03.2024"); anything else is refused."""
        value = int(whole)
        if len(whole) == 4 and _YEAR_MIN <= value <= _YEAR_MAX and not (fraction or "").strip("0"):
            return PartialDate.year_of(value)  # "1990", and "1990.0" as programs write whole numbers
        if _SERIAL_MIN <= value <= _EXCEL_SERIAL_MAX and whole[0] != "0":
            return excel_serial_date(value)
        if fraction is not None:
            # "2024.03" is a month, "2024.3" could be a fraction of a year: two digits after the dot.
            m = _YEAR_MONTH.fullmatch(text) if len(fraction) == 2 else None
            if m is not None:
                return self._month_date(text, int(m[1]), int(m[3]))
            m = _MONTH_YEAR.fullmatch(text)
            if m is not None:
                return self._month_date(text, int(m[3]), int(m[1]))
        if len(whole) == 4 and fraction is None:
            why = f"a year alone must be from {_YEAR_MIN} to {_YEAR_MAX}"
        else:
            why = _NUMBER_HINT_DATE
        raise Invalid(f"{_quote(text)} is not a date: {why}", self.hint)

    def _month_date(self, text: str, year: int, month: int) -> dt.date:
        try:
            return PartialDate.month_of(year, month)
        except ValueError as exc:
            raise Invalid(f"{_quote(text)} is not a valid month ({exc})", self.hint) from None

    def _numeric(self, text: str, first: int, second: int, year: str) -> dt.date:
        # Only a number above 12 settles the order; otherwise the job's date_order does.
        day_first = first > 12 or (self.day_first and second <= 12)
        day, month = (first, second) if day_first else (second, first)
        return self._date(text, _year(year), month, day)

    def _month(self, text: str, name: str) -> int:
        month = _MONTHS.get(name.lower())
        if month is None:
            raise Invalid(f"{_quote(text)} is not a date: {name!r} is not a month name", self.hint)
        return month

    def _date(self, text: str, year: int, month: int, day: int) -> dt.date:
        try:
            return dt.date(year, month, day)
        except ValueError as exc:
            raise Invalid(f"{_quote(text)} is not a valid date ({exc})", self.hint) from None


_BOOLEANS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "x": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
}


class BooleanCleaner(Cleaner):
    """true/false, yes/no, y/n, 1/0, t/f, and x for a ticked box (case-insensitive)."""

    __slots__ = ()
    repeats = True

    def clean(self, text: str) -> object:
        value = _BOOLEANS.get(text.lower())
        if value is None:
            raise Invalid(
                f"{_quote(text)} is not a yes/no value",
                "use one of: true, false, yes, no, y, n, 1, 0, t, f, x (x means yes)",
            )
        return value


class ChoiceCleaner(Cleaner):
    """A value of the company's picklist: the job's value map first, then the picklist's values, labels and
    synonyms (case, accents, spaces and punctuation ignored), then suggestions if the job takes them; a word
    that names none gets the job's unknown-values policy (add it, map it, leave it empty, fail the row)."""

    __slots__ = ("policy", "hint", "added")
    repeats = True

    def __init__(self, field: Field, options: CleanOptions, policy: ValuePolicy | None = None) -> None:
        super().__init__(field, options)
        self.policy = policy = policy or default_policy("", field)
        shown = policy.picklist.values
        self.hint = (
            f"use one of: {', '.join(shown[:30])}{' ...' if len(shown) > 30 else ''}, add the value to the "
            f"{policy.picklist.name} picklist, or map it in the job's value_mapping"
        )
        # New values this cleaner added to the picklist (value -> label); the apply step stores them.
        self.added: dict[str, str] = {}

    def clean(self, text: str) -> object:
        policy = self.policy
        key = value_key(text)
        if key in policy.mapped:
            return policy.mapped[key]  # the job's own decision; None leaves the field empty
        value = policy.picklist.find(text)
        if value is not None:
            return value
        if policy.suggest:
            suggestion = policy.picklist.suggest(text, policy.memory)
            if suggestion.value is not None and suggestion.confidence >= ACCEPT_CONFIDENCE:
                return suggestion.value
        return self._unknown(text)

    def _unknown(self, text: str) -> object:
        unknown, picklist = self.policy.unknown, self.policy.picklist
        retired = picklist.retired(text)
        what = (
            f"{_quote(text)} is the retired value {retired!r} of the {picklist.name} picklist"
            if retired
            else f"{_quote(text)} is not a value of the {picklist.name} picklist"
        )
        if unknown.action == "map":
            return unknown.value
        if unknown.action == "add" and not retired:
            name = new_value_name(text)
            existing = picklist.find(name)
            if existing is not None:
                return existing
            self.added.setdefault(name, text.strip()[:255])
            return name
        if unknown.action == "fail":
            raise Invalid(what, self.hint, sticky=True)
        raise Invalid(what, self.hint)


# The default cleaner per field type (django-import-export's WIDGETS_MAP).
CLEANERS: dict[str, type[Cleaner]] = {
    "string": TextCleaner,
    "text": TextCleaner,
    "email": EmailCleaner,
    "phone": PhoneCleaner,
    "url": UrlCleaner,
    "integer": IntegerCleaner,
    "decimal": DecimalCleaner,
    "date": DateCleaner,
    "boolean": BooleanCleaner,
    "choice": ChoiceCleaner,
}


def cleaner_for(field: Field, options: CleanOptions = CleanOptions(), policy: ValuePolicy | None = None) -> Cleaner:
    """The registered cleaner for ``field``'s type; a choice field's under ``policy`` (default: the built-in picklist)."""
    if field.type == "choice":
        return ChoiceCleaner(field, options, policy)
    return CLEANERS[field.type](field, options)


def default_policy(model_name: str, field: Field, strict: bool = False) -> ValuePolicy:
    """A choice field's built-in picklist (its own choices for a field without one); unknown words warn, or fail if strict."""
    builtin = builtin_picklists()
    # The built-in list only (a custom field's own list is the company's, loaded by the job's cleaner).
    name = picklist_of(field.related or model_name, own_name(field)) or next(
        (p for (_, f), p in FIELD_PICKLISTS.items() if f == field.name and builtin[p].values == field.choices), None
    )
    picklist = builtin[name] if name else Picklist(field.name, [Choice(c, c) for c in field.choices])
    return ValuePolicy(picklist, unknown=UnknownPolicy("fail" if strict else "empty"))


# --------------------------------------------------------------------------- records

# Returned by a field step whose value has an error: the field stays out of CleanedRecord.values.
_INVALID: Any = object()
# Tab, LF and CR (CRLF line breaks inside a cell) are text; every other C0/C1 control is not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Invisible characters str.strip() keeps: zero-width space and byte-order mark.
_INVISIBLE = " \t\n\r\x0b\x0c\xa0\u200b\ufeff"
_CONTROL_HINT = "remove the control character; it often comes from a wrong file encoding or a binary file"

Step = Callable[[Any, list[Issue]], object]
_MISSING: Any = object()
# Distinct spellings remembered per field for types whose values repeat across rows.
_MEMO_SIZE = 4096


def _required_issue(name: str, raw: str | None, mapped: bool) -> Issue:
    hint = f"fill in {name} in every row" if mapped else f"map a column of the file to {name}"
    return Issue(name, raw, f"{name} is required", hint, "error")


def _too_long(name: str, raw: str, value: str, limit: int) -> Issue:
    message = f"{_quote(value)} is {_length(value)} characters long; {name} allows at most {limit}"
    return Issue(name, raw, message, f"shorten it to {limit} characters", "error")


def _passes(checks: tuple[Check, ...], name: str, raw: str, value: object, issues: list[Issue]) -> bool:
    passed = True
    for check in checks:
        problem = check(value)
        if problem is not None:
            issues.append(Issue(name, raw, problem[0], problem[1], "error"))
            passed = False
    return passed


_LEFT_OUT = "; the value was not imported (the rest of the record was)"
# The longest cell each type's cleaner is given. Its patterns cost more than linear time on some
# shapes (a run of spaces before an extension, a date's time part): a 128 KiB cell must never
# reach them (it cost minutes). Generous for real values: RFC 5321 caps an address at 254.
_CLEAN_MAX = {
    "email": 320,
    "phone": 100,
    "url": 2048,
    "integer": 100,
    "decimal": 100,
    "date": 100,
    "boolean": 20,
    "choice": 255,
}


def longest_value(field: Field) -> int | None:
    """The longest cell (stripped) ``field`` can take: a longer one is refused whatever it holds. None: no bound."""
    return max(_CLEAN_MAX.get(field.type, 0), field.max_length or 0) or None


def cell_text(raw: str) -> str:
    """A cell as its field's cleaner reads it: spaces, and invisible characters at its ends, stripped."""
    text = raw.strip()
    return text.strip(_INVISIBLE) if text and not text.isprintable() else text


# A cell far longer than its field takes is cut before it travels (a row of 128 KiB cells would not
# fit a Kafka message); the cut keeps the start and the length, so its refusal reads as before.
_CUT = re.compile(r" … \[(\d+) characters in the file\]\Z")


def cut_overlong(raw: str, longest: int) -> str:
    """``raw``, or, when the field refuses it for its length whatever it holds, its start and a note of
    its length: still refused, by a message that quotes the same start and gives the same length."""
    keep = max(longest, _QUOTED)
    text = cell_text(raw)
    if len(text) <= 2 * keep:  # cut only what saves much; what it keeps is still too long
        return raw
    return f"{text[:keep]} … [{len(text)} characters in the file]"


def _length(text: str) -> int:
    """The length of a cell in the file: a cut one's (cut_overlong) is in its note."""
    cut = _CUT.search(text)
    return int(cut[1]) if cut else len(text)


def _compile_step(
    field: Field, cleaner: Cleaner, checks: tuple[Check, ...], required: bool, lenient: bool, strict: bool
) -> Step:
    """One field's whole cleaning, with everything looked up once: strip, required, controls, type, limits, rules.

    ``lenient``: a value the field cannot take is left out with a warning instead of failing the row
    (optional fields of a job that is not strict); the job's own rules still fail it. ``strict``: a
    value a cleaner keeps only with a doubt (a phone number it cannot recognize) fails the row too.
    """
    name, limit = field.name, field.max_length
    longest = longest_value(field) or 0
    # Plain text needs no call at all: on most rows most fields are text.
    clean = None if type(cleaner) is TextCleaner else cleaner.clean
    memo: dict[str, object] | None = {} if cleaner.repeats else None

    def refuse(issues: list[Issue], raw: str, message: str, hint: str, sticky: bool = False) -> object:
        if lenient and not sticky:
            issues.append(Issue(name, raw, message + _LEFT_OUT, hint, "warning"))
        else:
            issues.append(Issue(name, raw, message, hint, "error"))
        return _INVALID

    def step(raw: Any, issues: list[Issue]) -> object:
        if raw.__class__ is not str:
            if raw is None:
                if required:
                    issues.append(_required_issue(name, raw, True))
                    return _INVALID
                return None
            raw = text_form(raw)  # JSON numbers and booleans arrive typed
        text = raw.strip()
        if text and not text.isprintable():
            text = text.strip(_INVISIBLE)
            bad = _CONTROL.search(text)
            if bad is not None:
                message = f"{_quote(text)} contains a control character (U+{ord(bad[0]):04X})"
                return refuse(issues, raw, message, _CONTROL_HINT)
        if not text:
            if required:
                issues.append(_required_issue(name, raw, True))
                return _INVALID
            return None
        if clean is None:
            value: Any = text
        elif len(text) > longest:
            # Far longer than any value of its type: refused before a pattern sees it.
            message = (
                f"{_quote(text)} is {_length(text)} characters long; no {field.type} value is longer than {longest}"
            )
            return refuse(issues, raw, message, f"put only the {field.type} in this cell")
        else:
            value = _MISSING if memo is None else memo.get(text, _MISSING)
            if value is _MISSING:
                try:
                    value = clean(text)
                except Invalid as exc:
                    exc.__traceback__ = None  # kept in the memo: hold no frames
                    value = exc
                if memo is not None:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[text] = value
            if value.__class__ is Invalid:
                if value.level == "error" or strict:
                    return refuse(issues, raw, value.message, value.hint, value.sticky)
                issues.append(Issue(name, raw, value.message, value.hint, value.level))
                value = value.kept
            if value is None:  # the job mapped the word to nothing
                return None
        if limit is not None and value.__class__ is str and len(value) > limit:
            too_long = _too_long(name, raw, value, limit)
            refuse(issues, raw, too_long.message, too_long.hint)
            _passes(checks, name, raw, value, issues)  # the job's rules are reported too
            return _INVALID
        if checks and not _passes(checks, name, raw, value, issues):
            return _INVALID
        return value

    return step


def _compiled_kind(cleaner: Cleaner) -> str:
    """Which of native/src/cleaner.rs's fast paths cleans the common forms of the cleaner's values: "memo"
    remembers the clean outcomes of a type whose values repeat, "python" leaves every value to the step."""
    if type(cleaner) is DecimalCleaner and not cleaner.field.custom:
        return "money"
    kinds: dict[type[Cleaner], str] = {TextCleaner: "text", EmailCleaner: "email", PhoneCleaner: "phone"}
    return kinds.get(type(cleaner), "memo" if cleaner.repeats else "python")


class RecordCleaner:
    """Cleans and validates mapped rows of one target model under one job's rules and options.

    ``values``: per choice field, the company's picklist and the job's value decisions (default: the
    built-in picklists, unknown words left out with a warning). ``strict``: a value an optional
    field cannot take fails the row (by default it is left out with a warning). Required fields,
    the duplicate-match fields and the job's validation_rules always fail the row. ``field_rules``: the
    rules the company's custom fields carry, checked as well as the job's ``rules`` for the same field.
    ``required_to_create``: an update import's, where the model's required fields are needed only by a row
    that creates a record (CleanedRecord.needs); a required rule of the job still holds for every row.
    """

    __slots__ = (
        "model",
        "rules",
        "options",
        "strict",
        "required",
        "_required_order",
        "_needs_order",
        "_steps",
        "_keyers",
        "_choices",
        "_compiled",
    )

    def __init__(
        self,
        model: TargetModel,
        rules: Mapping[str, Any] | None = None,
        options: CleanOptions = CleanOptions(),
        values: Mapping[str, ValuePolicy] | None = None,
        strict: bool = False,
        field_rules: Mapping[str, Any] | None = None,
        required_to_create: bool = False,
    ) -> None:
        self.model = model
        self.options = options
        self.strict = strict
        self.rules = validate_rules(model, rules)
        # A custom field's own rules are checked beside the job's, never replaced by them: a job may only add.
        own = validate_rules(model, field_rules)
        by_field, by_job = frozenset(model.required_fields) | required_by_rules(own), required_by_rules(self.rules)
        self.required: frozenset[str] = by_field | by_job
        create_only = by_field - by_job if required_to_create else frozenset()
        # Model order, so the issues of a row come out the same in every process.
        self._required_order = tuple(f.name for f in model.fields if f.name in self.required - create_only)
        self._needs_order = tuple(f.name for f in model.fields if f.name in create_only)
        checks = compile_checks(model, own)
        for name, extra in compile_checks(model, self.rules).items():
            checks[name] = checks.get(name, ()) + extra
        strict_fields = self.required | frozenset(model.match_fields)
        self._choices: dict[str, ChoiceCleaner] = {}
        self._steps: dict[str, Step] = {}
        plans = []
        for f in model.fields:
            if f.type == "choice":
                policy = (values or {}).get(f.name) or default_policy(model.name, f, strict)
                cleaner: Cleaner = self._choices.setdefault(f.name, ChoiceCleaner(f, options, policy))
            else:
                cleaner = cleaner_for(f, options)
            lenient = not strict and f.name not in strict_fields
            required = f.name in self.required and f.name not in create_only
            step = self._steps[f.name] = _compile_step(f, cleaner, checks.get(f.name, ()), required, lenient, strict)
            kind = _compiled_kind(cleaner) if not checks.get(f.name) else "python"
            phone = cleaner.compiled if isinstance(cleaner, PhoneCleaner) else None
            plans.append((f.name, kind, step, required, f.max_length, longest_value(f) or 0, phone))
        self._compiled = RowCleaner(plans, _INVALID, Decimal) if COMPILED else None
        self._keyers = _keyers_for(model)

    def picklists(self) -> dict[str, Picklist]:
        """Choice field -> the picklist its words go through (the company's, when the job's cleaner was built so)."""
        return {name: c.policy.picklist for name, c in self._choices.items()}

    def added_values(self) -> list[tuple[str, str, str]]:
        """(picklist, value, label) of every value the job's unknown_values=add has added so far."""
        return [
            (c.policy.picklist.name, value, label) for c in self._choices.values() for value, label in c.added.items()
        ]

    def clean(self, raw: Mapping[str, str | None]) -> CleanedRecord:
        """Typed values, every issue of the row, and its match key; keys that are not fields are ignored."""
        issues: list[Issue] = []
        if self._compiled is not None:
            values = self._compiled.values(raw, issues)
        else:
            values = {}
            steps, invalid = self._steps, _INVALID
            for name, text in raw.items():
                step = steps.get(name)
                if step is not None:
                    value = step(text, issues)
                    if value is not invalid:
                        values[name] = value
        for name in self._required_order:
            if name not in raw:
                issues.append(_required_issue(name, None, False))
        needs = [n for n in self._needs_order if values.get(n) is None] if self._needs_order else None
        return CleanedRecord(values, issues, _first_key(self._keyers, raw), tuple(needs) if needs else ())


# --------------------------------------------------------------------------- match keys

KeyFn = Callable[[str], "str | None"]
# Scheme, user info, "www." and port skipped; the host is what is left before a path, query or fragment.
_DOMAIN = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^/?#@\s]*@)?(?:www\.)?([^/?#:\s]+)", re.I)


def _email_key(text: str) -> str | None:
    email = text.strip().lower()
    return "email:" + email if "@" in email else None


def _domain_key(text: str) -> str | None:
    m = _DOMAIN.match(text)
    if m is None:
        return None
    domain = m[1].lower().rstrip(".")
    # "n/a" or "none" is no website: without a dot, let the next match field decide.
    return "domain:" + domain if "." in domain else None


def _text_key(prefix: str) -> KeyFn:
    def key(text: str) -> str | None:
        folded = " ".join(text.casefold().split())
        return prefix + folded if folded else None

    return key


def _external_key(text: str) -> str | None:
    # Another system's id, exactly as it wrote it (case included): what records store in external_id.
    stripped = text.strip()
    return EXTERNAL_KEY + stripped if stripped else None


def _key_fn(field: Field) -> KeyFn:
    """Keys say their kind ("email:", "domain:", "<field>:") so keys of different kinds never collide."""
    if field.name == "external_id":
        return _external_key
    if field.type == "email":
        return _email_key
    if field.type == "url":
        return _domain_key
    return _text_key(field.name + ":")


def key_kind(field: Field) -> str:
    """How the compiled splitter (native/src/splitter.rs) makes the field's key of an ASCII value itself: "email"
    or "external"; "python": it asks match_key."""
    kinds: dict[KeyFn, str] = {_email_key: "email", _external_key: "external"}
    return kinds.get(_key_fn(field), "python")


_KEYERS: dict[int, tuple[TargetModel, tuple[tuple[str, KeyFn], ...]]] = {}


def _keyers_for(model: TargetModel) -> tuple[tuple[str, KeyFn], ...]:
    # Keyed by identity: hashing a TargetModel walks all its fields, far too slow per row.
    hit = _KEYERS.get(id(model))
    if hit is None or hit[0] is not model:
        hit = (model, tuple((name, _key_fn(model.by_name[name])) for name in model.match_fields))
        _KEYERS[id(model)] = hit
    return hit[1]


def _first_key(keyers: tuple[tuple[str, KeyFn], ...], raw: Mapping[str, Any]) -> str | None:
    for name, key in keyers:
        text = raw.get(name)
        if text:
            if text.__class__ is not str:
                text = text_form(text)
            elif not text.isprintable():  # as the field's value: a zero-width space or BOM copied along is no part
                text = text.strip().strip(_INVISIBLE)
            found = key(text)
            if found is not None:
                return found
    return None


EXTERNAL_KEY = "external_id:"


def match_key(model: TargetModel, raw: Mapping[str, str | None]) -> str | None:
    """The duplicate-match key of a mapped row from its raw values: the first match field with a key wins.

    "email:jane@x.com" (trimmed, lower-cased), "domain:acme.com" (scheme, www., port, path and
    case removed) or "name:acme inc" (case-folded, whitespace collapsed); None when there is none.
    """
    return _first_key(_keyers_for(model), raw)
