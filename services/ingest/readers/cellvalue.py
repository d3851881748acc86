"""The cell-value convention: how every spreadsheet format's typed cells become text (docs/formats.md).

One module so .xlsx, .xls, .xlsb and .ods agree on the same workbook:

- numbers: integers without ".0", others in shortest round-trip form (``format_number``);
- a number whose format is a date or time format is a moment; the value decides how much of it
  is written, so no non-zero part is ever dropped: below 1 a time ``HH:MM:SS``, a whole number a
  date ``YYYY-MM-DD``, otherwise a date-time ``YYYY-MM-DDTHH:MM:SS``; fractions of a second as
  milliseconds (``.250``), the precision Excel keeps;
- a number whose format counts elapsed time (``[h]:mm:ss``) is a duration ``H:MM:SS`` with the
  hours unbounded (``36:30:00``), as Excel shows it;
- booleans ``true`` / ``false``; error cells are empty and the row carries a problem naming
  the error; rich text is its runs joined, phonetic guides left out.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

__all__ = [
    "FormatKind",
    "format_kind",
    "serial_text",
    "format_number",
    "moment_text",
    "duration_text",
    "python_value_text",
    "unescape_ooxml",
]

# "date": the format shows a date (maybe with a time); "time": only a time of day.
FormatKind = Literal["date", "time", "duration"]

_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)

# Parts of a format code that are never date/time letters: quoted literals, escaped characters,
# fill/padding characters, and scientific exponents (E+ / E-).
_LITERALS = re.compile(r'"[^"]*"|\\.|[_*].|e[+-]', re.IGNORECASE)
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_ELAPSED = re.compile(r"^(h+|m+|s+)$", re.IGNORECASE)


def format_kind(code: str | None) -> FormatKind | None:
    """What a number format makes of a number: a date, a time of day, a duration, or None (a number).

    Excel reads format letters case-insensitively (``DD/MM/YYYY`` is a date), so this does too.
    Only the first section (positive numbers) decides, as in Excel's own classification.
    """
    if not code:
        return None
    section = code.split(";", 1)[0]
    elapsed = False
    for inner in _BRACKETS.findall(section):
        if _ELAPSED.match(inner):
            elapsed = True
    section = _BRACKETS.sub("", _LITERALS.sub("", section)).lower()
    if elapsed:
        return "duration"
    if "general" in section:
        section = section.replace("general", "")
    section = section.replace("am/pm", "").replace("a/p", "")
    # d, y (and the era letters e, g, b) only appear in date formats; h, s in time formats; m in both.
    if any(ch in section for ch in "dyegb"):
        return "date"
    if "h" in section or "s" in section:
        return "time"
    return "date" if "m" in section else None


def format_number(text: str) -> str:
    """A stored number as text: integers without ".0", other values in shortest repr form."""
    if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):
        return text
    value = float(text)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _round_ms(seconds: float) -> int:
    return round(seconds * 1000)


def _fraction(ms: int) -> str:
    return f".{ms:03d}" if ms else ""


def serial_text(serial: float, kind: FormatKind, date1904: bool) -> str:
    """A spreadsheet serial number (days since the epoch) under a date, time or duration format.

    Raises ValueError/OverflowError for serials no date can hold (negative, past year 9999).
    """
    if kind == "duration":
        return duration_text(serial * 86400)
    if serial < 0:
        raise ValueError(f"negative date serial {serial!r}")
    # Serial 60 is the 1900 leap-year bug (29 Feb 1900); serials from 1 to 59 are one day early.
    if not date1904 and 1 <= serial < 60:
        serial += 1
    days = int(serial)
    ms = _round_ms((serial - days) * 86400)
    if ms >= 86_400_000:
        days, ms = days + 1, 0
    # 1900's day zero is no date (Excel shows "1900-01-00"); 1904's is 1 January 1904.
    if days == 0 and (serial > 0 or kind == "time" or not date1904):
        return _time_text(ms)
    date = ((_EPOCH_1904 if date1904 else _EPOCH_1900) + dt.timedelta(days=days)).date()
    if ms == 0:
        return date.isoformat()
    return f"{date.isoformat()}T{_time_text(ms)}"


def _time_text(ms: int) -> str:
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{_fraction(ms)}"


def duration_text(seconds: float) -> str:
    """Elapsed time as ``H:MM:SS[.fff]``, hours unbounded, a leading "-" when negative."""
    sign = "-" if seconds < 0 else ""
    total = _round_ms(abs(seconds))
    secs, ms = divmod(total, 1000)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}{_fraction(ms)}"


def moment_text(value: dt.date | dt.datetime | dt.time) -> str:
    """A date, time or date-time from a format that stores them directly (.ods), by the same rule."""
    if isinstance(value, dt.datetime):
        ms = _round_ms(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)
        if ms >= 86_400_000:
            return moment_text(value.date() + dt.timedelta(days=1))
        return value.date().isoformat() + (f"T{_time_text(ms)}" if ms else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    ms = _round_ms(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)
    return _time_text(min(ms, 86_399_999))


def python_value_text(value: object) -> str | None:
    """A typed value as python-calamine returns it, as convention text (None for empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(repr(value))
    if isinstance(value, dt.timedelta):
        return duration_text(value.total_seconds())
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return moment_text(value)
    return str(value)


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape_one(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    # A lone surrogate or NUL cannot be stored as text: such an escape stays as written.
    return match.group(0) if code == 0 or 0xD800 <= code <= 0xDFFF else chr(code)


def unescape_ooxml(text: str) -> str:
    """Undo Office Open XML's ``_xHHHH_`` escapes (``_x000D_`` is a carriage return).

    A literal "_x000D_" is stored as "_x005F_x000D_"; one left-to-right pass turns the
    "_x005F_" into "_" and leaves the rest as written, as Excel does.
    """
    if "_x" not in text:
        return text
    return _ESCAPE.sub(_unescape_one, text)
