"""Turn GX validation results into the gate's verdict and a report people can act on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

BLOCKING_LABEL = "BLOCKING"
WARNING_LABEL = "WARNING"
# Arguments worth showing next to an expectation's name (thresholds, columns, value sets).
SHOWN_KWARGS = (
    "column", "column_list", "min_value", "max_value", "mostly", "value_set",
)


@dataclass
class Outcome:
    """One expectation's result, reduced to what the report needs."""

    suite: str
    relation: str
    check: str
    expectation: str
    kwargs: Mapping[str, Any]
    blocking: bool
    success: bool
    observed: str
    examples: list[str] = field(default_factory=list)
    query: str | None = None  # for SQL checks: the query, to sample example rows
    description: str | None = None

    @property
    def column(self) -> str | None:
        column = self.kwargs.get("column")
        if column is None and self.kwargs.get("column_list"):
            column = ", ".join(self.kwargs["column_list"])
        return column

    def signature(self) -> str:
        shown = ", ".join(
            f"{key}={_short(self.kwargs[key])}" for key in SHOWN_KWARGS if key in self.kwargs
        )
        return f"{self.expectation}({shown})"


def outcomes_from_suite_result(
    suite_result: Any, relation: str, example_count: int
) -> list[Outcome]:
    """Outcomes of one ExpectationSuiteValidationResult (a suite validated on one relation)."""
    outcomes = []
    for result in suite_result.results:
        configuration = result.expectation_config
        kwargs = dict(configuration.kwargs)
        error = _exception_message(result.exception_info)
        outcomes.append(
            Outcome(
                suite=suite_result.suite_name,
                relation=relation,
                check=str((configuration.meta or {}).get("check", "?")),
                expectation=configuration.type,
                kwargs=kwargs,
                blocking=str(getattr(configuration.severity, "value", configuration.severity))
                != "warning",
                success=bool(result.success) and error is None,
                observed=f"error: {error}" if error else _observed(result.result or {}, kwargs),
                examples=_examples(result.result or {}, example_count),
                query=kwargs.get("unexpected_rows_query"),
                description=configuration.description,
            )
        )
    return outcomes


def _exception_message(exception_info: Any) -> str | None:
    """First line of the exception GX caught while computing the expectation, if any."""
    if not exception_info:
        return None
    infos: Iterable[Any] = (
        [exception_info] if "raised_exception" in exception_info else exception_info.values()
    )
    for info in infos:
        if isinstance(info, Mapping) and info.get("raised_exception"):
            message = str(info.get("exception_message") or "unknown error")
            return message.strip().splitlines()[0][:300]
    return None


def _observed(result: Mapping[str, Any], kwargs: Mapping[str, Any]) -> str:
    if "unexpected_rows_query" in kwargs:
        return f"{result.get('observed_value', '?')} unexpected row(s) returned by the check's SQL"
    if "unexpected_count" in result:
        count = result.get("unexpected_count") or 0
        total = result.get("element_count") or 0
        percent = result.get("unexpected_percent")
        share = f" ({percent:.2f} %)" if isinstance(percent, int | float) else ""
        return f"{count:,} of {total:,} rows unexpected{share}"
    if "observed_value" in result:
        return f"observed {_short(result['observed_value'])}"
    return "no observed value"


def _examples(result: Mapping[str, Any], count: int) -> list[str]:
    """Distinct example bad values, most frequent first, with their counts among GX's partial
    sample (a few rows: see suites.RESULT_FORMAT)."""
    values = Counter(_short(value) for value in result.get("partial_unexpected_list") or [])
    return [f"{value} (x{times})" for value, times in values.most_common(count)]


def _short(value: Any, limit: int = 120) -> str:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
    elif isinstance(value, Decimal):  # fixed-point results of SQL checks, on every engine
        text = str(value)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Example rows as `column=value, ...` lines."""
    return [
        ", ".join(
            f"{column}={_short(value, 60)}" for column, value in zip(columns, row, strict=True)
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Verdict:
    passed: int
    blocking_failures: list[Outcome]
    warnings: list[Outcome]

    @property
    def ok(self) -> bool:
        return not self.blocking_failures


def verdict(outcomes: Sequence[Outcome]) -> Verdict:
    return Verdict(
        passed=sum(outcome.success for outcome in outcomes),
        blocking_failures=[o for o in outcomes if not o.success and o.blocking],
        warnings=[o for o in outcomes if not o.success and not o.blocking],
    )


def format_report(result: Verdict, notes: Sequence[str]) -> str:
    """The gate's report: a headline, one block per failing expectation, then notes."""
    state = "PASSED" if result.ok else "FAILED"
    lines = [
        f"quality gate {state}: {len(result.blocking_failures)} blocking failure(s), "
        f"{len(result.warnings)} warning(s), {result.passed} expectation(s) passed"
    ]
    for label, outcomes in ((BLOCKING_LABEL, result.blocking_failures),
                            (WARNING_LABEL, result.warnings)):
        for outcome in outcomes:
            lines += _outcome_lines(label, outcome)
    lines += [f"  note: {note}" for note in notes]
    return "\n".join(lines)


def _expectation_text(outcome: Outcome) -> str:
    if outcome.query:
        return f"{outcome.expectation} ({outcome.description or 'custom SQL'})"
    return outcome.signature()


def _outcome_lines(label: str, outcome: Outcome) -> list[str]:
    column = f", column {outcome.column}" if outcome.column else ""
    lines = [
        f"  [{label}] suite {outcome.suite}, check {outcome.check}{column}",
        f"      expectation: {_expectation_text(outcome)}",
        f"      observed: {outcome.observed}",
    ]
    if outcome.examples:
        lines.append("      examples:")
        lines += [f"        - {example}" for example in outcome.examples]
    return lines
