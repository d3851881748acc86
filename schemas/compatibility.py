"""Avro schema resolution as a structural check: can a reader schema read everything a writer schema writes?

Avro's rules (the specification's "Schema Resolution"), as Confluent's FULL_TRANSITIVE applies them to every
pair of a subject's versions: numbers promote (int -> long -> float -> double), string and bytes read each
other, a reader's record field missing from the writer needs a default, a writer's enum symbol missing from
the reader needs the reader's enum default, named types match by full name or alias, a writer's union is
readable when each of its branches is. Reading real data (fastavro) checks only the values it meets; this
checks every path, so a symbol or branch no sample holds is still caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Any

from fastavro.schema import expand_schema

__all__ = ["incompatibilities", "full_transitive"]

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "double": {"double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def incompatibilities(reader: Any, writer: Any) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (JSON schemas); empty when it can."""
    out: list[str] = []
    _check(expand_schema(reader), expand_schema(writer), "", out)
    return out


def full_transitive(versions: Sequence[Any]) -> list[str]:
    """Every problem between two versions, each pair both ways (Confluent's FULL_TRANSITIVE)."""
    out = []
    for (r, reader), (w, writer) in permutations(enumerate(versions, 1), 2):
        out += [f"version {r} reading version {w}: {problem}" for problem in incompatibilities(reader, writer)]
    return out


def _type(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema["type"]) if not isinstance(schema["type"], (dict, list)) else _type(schema["type"])
    return str(schema)


def _names(schema: dict[str, Any]) -> set[str]:
    name = str(schema["name"])
    space = schema.get("namespace")
    full = name if "." in name or not space else f"{space}.{name}"
    return {full, full.rsplit(".", 1)[-1], *map(str, schema.get("aliases", []))}


def _resolves(reader: Any, writer: Any) -> bool:
    out: list[str] = []
    _check(reader, writer, "", out)
    return not out


def _check(reader: Any, writer: Any, at: str, out: list[str]) -> None:
    rtype, wtype = _type(reader), _type(writer)
    where = at or "the top level"
    # A wrapper such as {"type": {"type": "enum", ...}} or {"type": [...]} is the type it wraps.
    if isinstance(reader, dict) and isinstance(reader["type"], (dict, list)):
        _check(reader["type"], writer, at, out)
    elif isinstance(writer, dict) and isinstance(writer["type"], (dict, list)):
        _check(reader, writer["type"], at, out)
    elif wtype == "union":
        for branch in writer:
            _check(reader, branch, at, out)
    elif rtype == "union":
        if not any(_resolves(branch, writer) for branch in reader):
            out.append(f"{where}: no branch of the reader's union reads the writer's {wtype}")
    elif wtype in _PROMOTIONS or wtype in ("null", "boolean") or rtype != wtype:
        if rtype != wtype and rtype not in _PROMOTIONS.get(wtype, set()):
            out.append(f"{where}: the writer's {wtype} cannot be read as {rtype}")
    elif wtype in ("record", "enum", "fixed") and not (_names(reader) & _names(writer)):
        out.append(f"{where}: the writer's {wtype} {writer['name']} is not the reader's {reader['name']}")
    else:
        _check_named(reader, writer, wtype, at, out)


def _check_named(reader: Any, writer: Any, wtype: str, at: str, out: list[str]) -> None:
    where = at or "the top level"
    if wtype == "record":
        written = {}
        for field in writer["fields"]:
            for name in (field["name"], *field.get("aliases", [])):
                written[name] = field
        for field in reader["fields"]:
            source = next((written[n] for n in (field["name"], *field.get("aliases", [])) if n in written), None)
            if source is not None:
                _check(field["type"], source["type"], f"{at}.{field['name']}".lstrip("."), out)
            elif "default" not in field:
                out.append(f"{at}.{field['name']}".lstrip(".") + ": the reader's field has no default")
    elif wtype == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            out.append(f"{where}: the reader's enum {reader['name']} lacks {missing} and has no default")
    elif wtype == "fixed" and reader["size"] != writer["size"]:
        out.append(f"{where}: fixed of {writer['size']} bytes read as {reader['size']}")
    elif wtype == "array":
        _check(reader["items"], writer["items"], f"{at}[]", out)
    elif wtype == "map":
        _check(reader["values"], writer["values"], f"{at}{{}}", out)
