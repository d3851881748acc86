"""What is wrong with a row, from its issue log(s): the issue columns of the error file and the
original cells to highlight. Pure functions.

A row has one issue log: level 'error' (the row failed; record_data["issues"] lists every issue,
warnings included) or 'warning' (the record landed, invalid optional values were left out). Rows
the database refused have a message but no issue list. Several issues of one row share one line
(the line must stay one row of the file, or a retry would import the row twice): the field,
value, message and hint columns list them in the same order, separated by "; ".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Issue", "RowIssues", "ISSUE_COLUMNS", "row_issues", "columns_by_field"]

# Named so that they cannot be mistaken for (or collide with) a column of the user's file;
# a retry recognizes an error file by them and drops them.
ISSUE_COLUMNS = ("crmio_row", "crmio_level", "crmio_field", "crmio_value", "crmio_message", "crmio_hint")


@dataclass(frozen=True, slots=True)
class Issue:
    field: str
    value: str
    message: str
    hint: str
    level: str  # 'error' | 'warning'


@dataclass(slots=True)
class RowIssues:
    number: int
    level: str  # 'error' if the row failed, else 'warning'
    issues: list[Issue] = field(default_factory=list)
    message: str = ""  # the log message, for rows without an issue list
    values: dict[str, Any] = field(default_factory=dict)  # the row's mapped values the log kept (field -> raw)

    def columns(self) -> list[str]:
        """The issue columns' values for this row (ISSUE_COLUMNS order)."""
        issues = self.issues
        if not issues:
            return [str(self.number), self.level, "", "", self.message, ""]
        several = len(issues) > 1
        return [
            str(self.number),
            self.level,
            "; ".join(i.field for i in issues),
            "; ".join(i.value for i in issues),
            "; ".join(f"{i.field}: {i.message}" if several else i.message for i in issues),
            "; ".join((f"{i.field}: {i.hint}" if several else i.hint) for i in issues if i.hint),
        ]

    def marks(self, by_field: Mapping[str, Sequence[int]]) -> dict[int, tuple[str, str]]:
        """Original-column index -> (level, comment) for every cell holding an offending value.

        A cell hit by an error and a warning is an error cell; its comment lists both.
        """
        out: dict[int, tuple[str, str]] = {}
        for issue in self.issues:
            text = issue.message + (f" (fix: {issue.hint})" if issue.hint else "")
            for index in by_field.get(issue.field, ()):
                if index in out:
                    level, before = out[index]
                    out[index] = ("error" if "error" in (level, issue.level) else "warning", f"{before}\n{text}")
                else:
                    out[index] = (issue.level, text)
        return out


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def row_issues(logs: Sequence[Mapping[str, Any]]) -> RowIssues:
    """One row's issue logs (same record_number, in id order) as one RowIssues."""
    number = logs[0]["record_number"]
    level = "error" if any(log["log_level"] == "error" for log in logs) else "warning"
    row = RowIssues(number, level)
    messages = []
    for log in logs:
        data = log["record_data"] or {}
        if not isinstance(data, Mapping):
            data = {}
        row.values.update(data.get("values") or {})
        listed = data.get("issues")
        if listed:
            row.issues.extend(
                Issue(
                    _text(i.get("field")),
                    _text(i.get("value")),
                    _text(i.get("message")),
                    _text(i.get("hint")),
                    "warning" if i.get("level") == "warning" else "error",
                )
                for i in listed
            )
        else:
            messages.append(log["message"])
    if messages and row.issues:  # a refusal message next to listed issues: keep it as an issue without a cell
        row.issues.extend(Issue(_text(None), "", m, "", level) for m in messages)
    row.message = "; ".join(messages)
    return row


def columns_by_field(headers: Sequence[str], field_mapping: Mapping[str, str | None] | None) -> dict[str, list[int]]:
    """Target field -> indexes of the original columns mapped to it (the job's mapping: header -> field)."""
    position = {h: i for i, h in enumerate(headers)}
    out: dict[str, list[int]] = {}
    for header, target in (field_mapping or {}).items():
        if target and header in position:
            out.setdefault(target, []).append(position[header])
    for indexes in out.values():
        indexes.sort()
    return out
