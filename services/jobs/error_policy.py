"""An import's error policy: what a failed row does to the job.

- ``continue`` (default): every valid row is applied; failed rows are reported.
- ``stop``: the job stops (status failed) once more than ``max_errors`` rows failed, or more than
  ``max_error_percent`` % of the rows processed so far (judged from ``PERCENT_SAMPLE`` rows on, and
  at the end). Rows applied before the stop stay applied: roll the job back to undo them.
- ``all_or_nothing``: nothing reaches the CRM tables unless every row succeeds. The import runs
  twice over the file: a validation pass (a dry run: every row cleansed, validated and matched
  against the stored records; nothing written) and, only when it found no failed row, the apply
  pass. A row the database still refuses in the apply pass (a concurrent change) rolls the
  import back automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from services.core.errors import ValidationRulesError

__all__ = ["ErrorPolicy", "parse_policy", "policy_options", "breach", "PERCENT_SAMPLE"]

PERCENT_SAMPLE = 100
Mode = Literal["continue", "stop", "all_or_nothing"]


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    mode: Mode = "continue"
    max_errors: int | None = None
    max_error_percent: float | None = None

    def document(self) -> dict[str, Any]:
        return {"mode": self.mode, "max_errors": self.max_errors, "max_error_percent": self.max_error_percent}


def parse_policy(raw: Any) -> ErrorPolicy:
    """The policy in a job's options (None: continue); ValidationRulesError says what is wrong."""
    if raw is None:
        return ErrorPolicy()
    if not isinstance(raw, dict):
        raise ValidationRulesError('error_policy must be an object such as {"mode": "stop", "max_errors": 100}')
    unknown = sorted(set(raw) - {"mode", "max_errors", "max_error_percent"})
    if unknown:
        raise ValidationRulesError(f"error_policy: unknown keys {unknown}; use mode, max_errors, max_error_percent")
    mode: Mode = raw.get("mode") or "continue"
    if mode not in ("continue", "stop", "all_or_nothing"):
        raise ValidationRulesError(f"error_policy.mode {mode!r}: use continue, stop or all_or_nothing")
    max_errors, percent = raw.get("max_errors"), raw.get("max_error_percent")
    if max_errors is not None and (isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 0):
        raise ValidationRulesError(f"error_policy.max_errors {max_errors!r}: give a whole number >= 0")
    if percent is not None and (
        isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent < 100
    ):
        raise ValidationRulesError(f"error_policy.max_error_percent {percent!r}: give a number from 0 up to 100")
    if mode == "stop" and max_errors is None and percent is None:
        raise ValidationRulesError("error_policy mode 'stop' needs max_errors or max_error_percent")
    if mode != "stop" and (max_errors is not None or percent is not None):
        raise ValidationRulesError(
            f"error_policy mode {mode!r} takes no max_errors or max_error_percent; use mode 'stop'"
        )
    return ErrorPolicy(mode, max_errors, float(percent) if percent is not None else None)


def breach(policy: ErrorPolicy, processed: int, failed: int, *, at_end: bool = False) -> str | None:
    """Why a 'stop' policy ends the job now, or None."""
    if policy.mode != "stop":
        return None
    if policy.max_errors is not None and failed > policy.max_errors:
        return (
            f"stopped by the error policy: {failed:,} rows failed, more than the {policy.max_errors:,} allowed "
            "(max_errors); fix them (errors.csv) and retry, or roll back what was applied"
        )
    percent = policy.max_error_percent
    if (
        percent is not None
        and processed
        and (at_end or processed >= PERCENT_SAMPLE)
        and failed * 100 > percent * processed
    ):
        return (
            f"stopped by the error policy: {failed:,} of {processed:,} rows failed ({failed * 100 / processed:.1f} %), "
            f"more than the {percent:g} % allowed (max_error_percent); fix them (errors.csv) and retry, "
            "or roll back what was applied"
        )
    return None


def policy_options(options: dict[str, Any]) -> dict[str, Any]:
    """An import's options with its error policy checked and normalized; an all-or-nothing import
    starts with its validation pass."""
    options = dict(options)
    policy = parse_policy(options.get("error_policy"))
    if policy.mode == "continue":
        options.pop("error_policy", None)
    else:
        options["error_policy"] = policy.document()
    if policy.mode == "all_or_nothing" and not options.get("dry_run"):
        options["phase"] = "validate"
    return options
