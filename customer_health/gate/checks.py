"""The gate's Great Expectations suites, built from gx/gate_config.yml.

Each configured check becomes one or more GX expectations carrying `meta.check` (the check's
name in the config) and GX's `severity` (`critical` for blocking, `warning` for warning). Checks
that compare relations (score rows vs active accounts, grades vs the grading scheme, drift vs
the published run) are `UnexpectedRowsExpectation`s: SQL that runs on the target engine and
returns the offending rows. The same SQL runs on DuckDB, PostgreSQL 15 and Spark SQL 4, so it
keeps to their common dialect: decimals (not doubles) for `round`, no integer division, no
engine-specific functions. GX replaces `{batch}` with the validated relation: a subquery that it
aliases itself, except in queries with a JOIN, where every `{batch}` needs an alias of its own
(PostgreSQL rejects an unaliased subquery in FROM); `_sql_check` enforces that rule.
Values known only at run time (the as-of date, the day the gate runs) are GX expectation
parameters (`{"$PARAMETER": name}`), filled in by `expectation_parameters()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation

from customer_health.gate.config import BLOCKING, Check, GateConfig, SourceConfig

STAGE_INPUTS = "inputs"
STAGE_CANDIDATE = "candidate"
STAGE_DRIFT = "drift"

PARAM_AS_OF_DATE = "as_of_date"
PARAM_LATEST_AS_OF_DATE = "latest_plausible_as_of_date"

GX_SEVERITY = {BLOCKING: "critical", "warning": "warning"}


@dataclass(frozen=True)
class SuitePlan:
    """One expectation suite: `<asset>.<stage>`, validating one relation."""

    relation: str
    stage: str
    expectations: tuple[Expectation, ...]

    @property
    def asset(self) -> str:
        return asset_name(self.relation)

    @property
    def name(self) -> str:
        return f"{self.asset}.{self.stage}"


def asset_name(relation: str) -> str:
    return relation.split(".")[-1]


def latest_date_param(source: SourceConfig) -> str:
    return f"latest_plausible_date__{source.name}"


def fresh_since_param(source: SourceConfig) -> str:
    return f"fresh_since__{source.name}"


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


def _expect(kind: type[Expectation], check: Check, **kwargs: Any) -> Expectation:
    """An expectation tagged with its check's name and severity."""
    return kind(severity=GX_SEVERITY[check.severity], meta={"check": check.name}, **kwargs)


_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)
_BATCH = "{batch}"
_ALIASED_BATCH = re.compile(r"\{batch\} as [a-z_]+\b")


def _sql_check(check: Check, description: str, query: str) -> Expectation:
    query = " ".join(query.split())
    check_batch_aliases(query)
    return _expect(
        gxe.UnexpectedRowsExpectation,
        check,
        description=description,
        unexpected_rows_query=query,
    )


def check_batch_aliases(query: str) -> None:
    """Raise ValueError unless `{batch}` is aliased exactly where GX does not alias it.

    GX substitutes `({batch subquery})` without an alias in queries containing JOIN, and
    `({batch subquery}) as subselect` in the others (see the module docstring).
    """
    uses = query.count(_BATCH)
    if not uses:
        raise ValueError(f"the query does not use {_BATCH}: {query}")
    aliased = len(_ALIASED_BATCH.findall(query))
    if _JOIN.search(query) and aliased != uses:
        raise ValueError(f"a query with a JOIN must alias every {_BATCH}: {query}")
    if not _JOIN.search(query) and aliased:
        raise ValueError(f"GX aliases {_BATCH} in a query without a JOIN; drop the alias: {query}")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ----------------------------------------------------------------------------------- inputs


def base_suite(source: SourceConfig) -> SuitePlan:
    check = source.checks["quarantined_share"]
    return SuitePlan(
        relation=source.base,
        stage=STAGE_INPUTS,
        expectations=(
            _expect(
                gxe.ExpectColumnValuesToBeNull,
                check,
                column="quarantine_reason",
                mostly=round(1 - float(check["max_share"]), 6),
            ),
        ),
    )


def staged_suite(source: SourceConfig) -> SuitePlan:
    checks = source.checks
    expectations: list[Expectation] = [
        _expect(
            gxe.ExpectTableRowCountToBeBetween,
            checks["not_empty"],
            min_value=int(checks["not_empty"]["min_rows"]),
        ),
        _schema_expectation(source),
        _expect(gxe.ExpectColumnValuesToNotBeNull, checks["key_not_null"], column=source.key),
        _expect(gxe.ExpectColumnValuesToBeUnique, checks["key_unique"], column=source.key),
    ]
    expectations += [
        _expect(gxe.ExpectColumnValuesToBeBetween, checks["non_negative"], column=column,
                min_value=0)
        for column in source.non_negative
    ]
    for column in source.dates:
        expectations += [
            _expect(gxe.ExpectColumnValuesToBeBetween, checks["dates_not_too_old"],
                    column=column, min_value=str(checks["dates_not_too_old"]["earliest"])),
            _expect(gxe.ExpectColumnValuesToBeBetween, checks["dates_not_in_future"],
                    column=column, max_value=_param(latest_date_param(source))),
            _expect(gxe.ExpectColumnValuesToBeBetween, checks["dates_after_as_of"],
                    column=column, max_value=_param(PARAM_AS_OF_DATE)),
        ]
    if source.freshness_column:
        expectations.append(
            _expect(gxe.ExpectColumnMaxToBeBetween, checks["freshness"],
                    column=source.freshness_column, min_value=_param(fresh_since_param(source)))
        )
    return SuitePlan(relation=source.staged, stage=STAGE_INPUTS, expectations=tuple(expectations))


def _schema_expectation(source: SourceConfig) -> Expectation:
    """The staged relation has exactly the configured columns (their types are set by the
    staging SQL, which casts every column, so they cannot drift without a code change)."""
    return _expect(
        gxe.ExpectTableColumnsToMatchSet,
        source.checks["schema"],
        column_set=list(source.columns),
        exact_match=True,
    )


# -------------------------------------------------------------------------------- candidate


def scores_suite(config: GateConfig) -> SuitePlan:
    candidate = config.candidate
    checks = candidate.score_checks
    score_range = checks["score_in_range"]
    coverage = checks["coverage"]
    expectations = (
        _expect(gxe.ExpectTableRowCountToBeBetween, checks["not_empty"],
                min_value=int(checks["not_empty"]["min_rows"])),
        _sql_check(
            checks["one_row_per_active_account"],
            f"one score row per row of {candidate.active_accounts}",
            f"""
            select scored.row_count as score_rows, active.row_count as active_account_rows
            from (select count(*) as row_count from {{batch}} as score_rows) as scored
            cross join (select count(*) as row_count from {candidate.active_accounts}) as active
            where scored.row_count <> active.row_count
            """,
        ),
        _expect(gxe.ExpectCompoundColumnsToBeUnique, checks["unique_account_date"],
                column_list=["account_id", "as_of_date"]),
        _expect(gxe.ExpectColumnValuesToNotBeNull, score_range, column="health_score"),
        _expect(gxe.ExpectColumnValuesToBeBetween, score_range, column="health_score",
                min_value=float(score_range["min"]), max_value=float(score_range["max"])),
        _grade_expectation(config),
        _status_expectation(config),
        _expect(gxe.ExpectColumnValuesToBeBetween, coverage, column="weight_coverage",
                min_value=float(coverage["min_coverage"]), mostly=float(coverage["min_share"])),
        _segments_expectation(config),
        _expect(gxe.ExpectColumnStdevToBeBetween, checks["score_spread"], column="health_score",
                min_value=float(checks["score_spread"]["min_stdev"])),
        _expect(gxe.ExpectColumnMaxToBeBetween, checks["as_of_not_in_future"],
                column="as_of_date", max_value=_param(PARAM_LATEST_AS_OF_DATE)),
        _expect(gxe.ExpectColumnValuesToNotBeInSet, checks["unhealthy_share"], column="status",
                value_set=["unhealthy"],
                mostly=round(1 - float(checks["unhealthy_share"]["max_share"]), 6)),
    )
    return SuitePlan(relation=candidate.scores, stage=STAGE_CANDIDATE, expectations=expectations)


def _grade_expectation(config: GateConfig) -> Expectation:
    grading = config.candidate.grading_scheme
    return _sql_check(
        config.candidate.score_checks["grade_matches_score"],
        f"grade and score_status are the {grading} row for the score",
        f"""
        with scores as (
            select account_id, as_of_date, health_score, grade, score_status
            from {{batch}} as candidate_scores
        ),
        expected as (
            select
                scores.account_id,
                scores.as_of_date,
                grading.grade as expected_grade,
                grading.status as expected_status,
                row_number() over (
                    partition by scores.account_id, scores.as_of_date
                    order by grading.min_score desc
                ) as grade_rank
            from scores
            inner join {grading} as grading on scores.health_score >= grading.min_score
        )
        select
            scores.account_id, scores.as_of_date, scores.health_score,
            scores.grade, expected.expected_grade,
            scores.score_status, expected.expected_status
        from scores
        left join expected
            on scores.account_id = expected.account_id
            and scores.as_of_date = expected.as_of_date
            and expected.grade_rank = 1
        where scores.grade is distinct from expected.expected_grade
            or scores.score_status is distinct from expected.expected_status
        """,
    )


def _status_expectation(config: GateConfig) -> Expectation:
    statuses = config.candidate.health_statuses
    return _sql_check(
        config.candidate.score_checks["status_matches_score"],
        "status equals score_status, or (low coverage only) is a worse status",
        f"""
        select
            scores.account_id, scores.as_of_date, scores.health_score, scores.is_low_coverage,
            scores.score_status, scores.status
        from {{batch}} as scores
        left join {statuses} as shown on scores.status = shown.status
        left join {statuses} as uncapped on scores.score_status = uncapped.status
        where
            (not scores.is_low_coverage and scores.status is distinct from scores.score_status)
            or (
                scores.is_low_coverage
                and (
                    shown.status_rank is null
                    or uncapped.status_rank is null
                    or shown.status_rank < uncapped.status_rank
                )
            )
        """,
    )


def _segments_expectation(config: GateConfig) -> Expectation:
    weights = config.candidate.segment_weights
    return _sql_check(
        config.candidate.score_checks["segments_weighted"],
        f"every scored segment has weights in {weights} summing to more than 0",
        f"""
        select
            scores.segment,
            count(*) as scored_accounts,
            coalesce(max(weights.total_weight), 0) as total_weight
        from {{batch}} as scores
        left join (
            select segment, sum(weight) as total_weight from {weights} group by segment
        ) as weights on scores.segment = weights.segment
        group by scores.segment
        having coalesce(max(weights.total_weight), 0) <= 0
        """,
    )


def components_suite(config: GateConfig) -> SuitePlan:
    candidate = config.candidate
    checks = candidate.component_checks
    tolerance_points = float(checks["every_score_explained"]["tolerance_points"])
    weight_tolerance = float(checks["effective_weights_sum_to_one"]["tolerance"])
    expectations = (
        _expect(gxe.ExpectTableRowCountToBeBetween, checks["not_empty"],
                min_value=int(checks["not_empty"]["min_rows"])),
        _expect(gxe.ExpectCompoundColumnsToBeUnique, checks["unique_account_date_metric"],
                column_list=["account_id", "as_of_date", "metric_name"]),
        _expect(gxe.ExpectColumnValuesToBeBetween, checks["points_in_range"], column="points",
                min_value=0.0, max_value=100.0),
        _sql_check(
            checks["every_score_explained"],
            f"per score, the components' points add up to health_score (+- {tolerance_points})",
            f"""
            with explained as (
                select account_id, as_of_date, sum(coalesce(points_contributed, 0)) as points
                from {{batch}} as components
                group by account_id, as_of_date
            )
            select
                scores.account_id, scores.as_of_date, scores.health_score,
                explained.points as points_contributed
            from {candidate.scores} as scores
            left join explained
                on scores.account_id = explained.account_id
                and scores.as_of_date = explained.as_of_date
            where explained.points is null
                or abs(scores.health_score - explained.points) > {tolerance_points}
            """,
        ),
        _sql_check(
            checks["effective_weights_sum_to_one"],
            f"per score, the renormalised weights sum to 1 (+- {weight_tolerance})",
            f"""
            select account_id, as_of_date, sum(effective_weight) as total_effective_weight
            from {{batch}}
            group by account_id, as_of_date
            having abs(coalesce(sum(effective_weight), 0) - 1) > {weight_tolerance}
            """,
        ),
    )
    return SuitePlan(
        relation=candidate.components, stage=STAGE_CANDIDATE, expectations=expectations
    )


# ------------------------------------------------------------------------------------ drift


def drift_suite(config: GateConfig) -> SuitePlan:
    """The candidate's latest as-of date against the published run's latest as-of date."""
    published = config.drift.published_scores
    checks = config.drift.checks
    max_drop = float(checks["row_count_drop"]["max_drop_share"])
    max_mean = float(checks["mean_score_change"]["max_change"])
    max_unhealthy = float(checks["unhealthy_share_change"]["max_change"])
    summary = f"""
        with candidate as ({_summary_sql("{batch}")}),
        published as ({_summary_sql(published)})
    """
    expectations = (
        _sql_check(
            checks["row_count_drop"],
            f"scored accounts fall by at most {max_drop:.0%} against {published}",
            f"""{summary}
            select
                published.accounts as published_accounts,
                candidate.accounts as candidate_accounts,
                {_rounded(f"1 - {_decimal('candidate.accounts')} / published.accounts", 4)}
                    as drop_share
            from candidate cross join published
            where published.accounts > 0
                and candidate.accounts < published.accounts * (1 - {max_drop})
            """,
        ),
        _sql_check(
            checks["mean_score_change"],
            f"mean health_score moves by at most {max_mean} points against {published}",
            f"""{summary}
            select
                {_rounded("published.mean_score", 2)} as published_mean_score,
                {_rounded("candidate.mean_score", 2)} as candidate_mean_score,
                {_rounded("candidate.mean_score - published.mean_score", 2)} as mean_score_change
            from candidate cross join published
            where abs(candidate.mean_score - published.mean_score) > {max_mean}
            """,
        ),
        _sql_check(
            checks["unhealthy_share_change"],
            f"share of unhealthy accounts moves by at most {max_unhealthy} against {published}",
            f"""{summary}
            select
                {_rounded("published.unhealthy_share", 4)} as published_unhealthy_share,
                {_rounded("candidate.unhealthy_share", 4)} as candidate_unhealthy_share,
                {_rounded("candidate.unhealthy_share - published.unhealthy_share", 4)}
                    as unhealthy_share_change
            from candidate cross join published
            where abs(candidate.unhealthy_share - published.unhealthy_share) > {max_unhealthy}
            """,
        ),
    )
    return SuitePlan(relation=config.candidate.scores, stage=STAGE_DRIFT,
                     expectations=expectations)


def _decimal(expression: str) -> str:
    """A fixed-point number: `round(x, n)` exists for decimals on every engine (PostgreSQL has
    no `round(double precision, integer)`), and a decimal divided by an integer is not an
    integer division."""
    return f"cast({expression} as decimal(38, 10))"


def _rounded(expression: str, digits: int) -> str:
    return f"round({_decimal(expression)}, {digits})"


def _summary_sql(relation: str) -> str:
    """Accounts, mean score and unhealthy share on the relation's latest as-of date."""
    return f"""
        select
            count(*) as accounts,
            avg(health_score) as mean_score,
            avg(case when status = 'unhealthy' then 1.0 else 0.0 end) as unhealthy_share
        from {relation} as scores
        where as_of_date = (select max(as_of_date) from {relation} as latest)
    """


# ------------------------------------------------------------------------------------- plan


def gate_suites(config: GateConfig) -> list[SuitePlan]:
    """Suites that must pass before publishing (inputs, then the candidate)."""
    suites: list[SuitePlan] = []
    for source in config.sources:
        suites += [base_suite(source), staged_suite(source)]
    return [*suites, scores_suite(config), components_suite(config)]


def drift_suites(config: GateConfig) -> list[SuitePlan]:
    """Suites run only when a published baseline exists."""
    return [drift_suite(config)]


def expectation_parameters(
    config: GateConfig, as_of_date: date, run_date: date
) -> dict[str, str]:
    """Run-time values of the `$PARAMETER`s used by the suites (ISO dates)."""
    as_of_tolerance = int(config.candidate.score_checks["as_of_not_in_future"]["tolerance_days"])
    parameters = {
        PARAM_AS_OF_DATE: as_of_date.isoformat(),
        PARAM_LATEST_AS_OF_DATE: (run_date + timedelta(days=as_of_tolerance)).isoformat(),
    }
    for source in config.sources:
        tolerance = int(source.checks["dates_not_in_future"]["tolerance_days"])
        max_age = int(source.checks["freshness"]["max_age_days"])
        parameters[latest_date_param(source)] = (run_date + timedelta(days=tolerance)).isoformat()
        parameters[fresh_since_param(source)] = (as_of_date - timedelta(days=max_age)).isoformat()
    return parameters
