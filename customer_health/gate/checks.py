"""The gate's Great Expectations suites, built from gx/gate_config.yml and the dbt manifest.

Each configured check becomes one or more GX expectations carrying `meta.check` (the check's
name in the config) and GX's `severity` (`critical` for blocking, `warning` for warning). The
config names dbt models; their relations and documented columns come from the manifest
(customer_health.gate.dbt_manifest). Every check is computed on the engine and returns a bounded
result: column expectations count unexpected values in SQL and sample a few; the drift checks are
`UnexpectedRowsExpectation`s whose SQL aggregates to at most one row. The same SQL runs on
DuckDB, PostgreSQL 15 and Spark SQL 4, so it keeps to their common dialect: decimals (not
doubles) for `round`, no integer division, no engine-specific functions. GX replaces `{batch}`
with the validated relation: on DuckDB a subquery that it aliases itself, except in queries with
a JOIN, where every `{batch}` needs an alias of its own (PostgreSQL rejects an unaliased subquery
in FROM); `_sql_check` enforces that rule, which suits table assets (PostgreSQL) and Spark views
too. Values known only at run time (the as-of date, the day the gate runs) are GX expectation
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
from customer_health.gate.dbt_manifest import DbtManifest, ManifestError

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


# ----------------------------------------------------------------------------------- inputs


def base_suite(source: SourceConfig, manifest: DbtManifest) -> SuitePlan:
    check = source.checks["quarantined_share"]
    return SuitePlan(
        relation=manifest.model(source.base).relation,
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


def staged_suite(source: SourceConfig, manifest: DbtManifest) -> SuitePlan:
    checks = source.checks
    staged = manifest.model(source.staged)
    expectations: list[Expectation] = [_schema_expectation(checks["schema"], staged.name,
                                                           staged.columns)]
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
    return SuitePlan(relation=staged.relation, stage=STAGE_INPUTS, expectations=tuple(expectations))


def _schema_expectation(check: Check, model: str, columns: tuple[str, ...]) -> Expectation:
    """The staged relation has exactly the columns its model YAML documents (names only: the
    staging SQL casts every column, so types cannot drift without a code change)."""
    if not columns:
        raise ManifestError(
            f"the dbt manifest documents no columns of {model}: list them in its model YAML"
        )
    return _expect(gxe.ExpectTableColumnsToMatchSet, check, column_set=list(columns),
                   exact_match=True)


# -------------------------------------------------------------------------------- candidate


def scores_suite(config: GateConfig, manifest: DbtManifest) -> SuitePlan:
    checks = config.candidate.score_checks
    expectations = (
        _expect(gxe.ExpectColumnValuesToBeInSet, checks["coverage"], column="is_low_coverage",
                value_set=[False], mostly=float(checks["coverage"]["min_share"])),
        _expect(gxe.ExpectColumnStdevToBeBetween, checks["score_spread"], column="health_score",
                min_value=float(checks["score_spread"]["min_stdev"])),
        _expect(gxe.ExpectColumnMaxToBeBetween, checks["as_of_not_in_future"],
                column="as_of_date", max_value=_param(PARAM_LATEST_AS_OF_DATE)),
        _expect(gxe.ExpectColumnValuesToNotBeInSet, checks["unhealthy_share"], column="status",
                value_set=["unhealthy"],
                mostly=round(1 - float(checks["unhealthy_share"]["max_share"]), 6)),
    )
    return SuitePlan(relation=config.scores_relation(manifest), stage=STAGE_CANDIDATE,
                     expectations=expectations)


# ------------------------------------------------------------------------------------ drift


def drift_suite(config: GateConfig, manifest: DbtManifest) -> SuitePlan:
    """Every date the candidate history holds against the published history: the same date where
    it was published, otherwise the nearest published date (the latest before, else the earliest
    after). Each failing row names the date and the published date it was compared with."""
    published = config.published_history_relation(manifest)
    checks = config.drift.checks
    max_drop = float(checks["row_count_drop"]["max_drop_share"])
    max_mean = float(checks["mean_score_change"]["max_change"])
    max_unhealthy = float(checks["unhealthy_share_change"]["max_change"])
    pairs = _drift_pairs_sql(published)
    against = f"against the same or nearest date of {published}"
    expectations = (
        _sql_check(
            checks["row_count_drop"],
            f"scored accounts fall by at most {max_drop:.0%} on any date {against}",
            f"""{pairs}
            select
                as_of_date, published_as_of_date, published_accounts, candidate_accounts,
                {_rounded(f"1 - {_decimal('candidate_accounts')} / published_accounts", 4)}
                    as drop_share
            from pairs
            where published_accounts > 0
                and candidate_accounts < published_accounts * (1 - {max_drop})
            """,
        ),
        _sql_check(
            checks["mean_score_change"],
            f"mean health_score moves by at most {max_mean} points on any date {against}",
            f"""{pairs}
            select
                as_of_date, published_as_of_date,
                {_rounded("published_mean_score", 2)} as published_mean_score,
                {_rounded("candidate_mean_score", 2)} as candidate_mean_score,
                {_rounded("candidate_mean_score - published_mean_score", 2)} as mean_score_change
            from pairs
            where abs(candidate_mean_score - published_mean_score) > {max_mean}
            """,
        ),
        _sql_check(
            checks["unhealthy_share_change"],
            f"share of unhealthy accounts moves by at most {max_unhealthy} on any date {against}",
            f"""{pairs}
            select
                as_of_date, published_as_of_date,
                {_rounded("published_unhealthy_share", 4)} as published_unhealthy_share,
                {_rounded("candidate_unhealthy_share", 4)} as candidate_unhealthy_share,
                {_rounded("candidate_unhealthy_share - published_unhealthy_share", 4)}
                    as unhealthy_share_change
            from pairs
            where abs(candidate_unhealthy_share - published_unhealthy_share) > {max_unhealthy}
            """,
        ),
    )
    return SuitePlan(relation=config.history_relation(manifest), stage=STAGE_DRIFT,
                     expectations=expectations)


def _decimal(expression: str) -> str:
    """A fixed-point number: `round(x, n)` exists for decimals on every engine (PostgreSQL has
    no `round(double precision, integer)`), and a decimal divided by an integer is not an
    integer division."""
    return f"cast({expression} as decimal(38, 10))"


def _rounded(expression: str, digits: int) -> str:
    return f"round({_decimal(expression)}, {digits})"


def _per_date_summary_sql(relation: str, alias: str) -> str:
    """Accounts, mean score and unhealthy share per as-of date."""
    return f"""
        select
            {alias}.as_of_date,
            count(*) as accounts,
            avg({alias}.health_score) as mean_score,
            avg(case when {alias}.status = 'unhealthy' then 1.0 else 0.0 end) as unhealthy_share
        from {relation} as {alias}
        group by {alias}.as_of_date
    """


def _drift_pairs_sql(published: str) -> str:
    """CTE `pairs`: each candidate date's summary beside the summary of the published date it is
    compared with (plain joins and aggregates: the same SQL on every engine). Only the published
    dates compared with are summarised, not the whole history."""
    compared = (
        f"(select * from {published} where as_of_date in "
        "(select published_as_of_date from earlier union all "
        "select published_as_of_date from later))"
    )
    return f"""
        with candidate as ({_per_date_summary_sql("{batch}", "scores")}),
        published_dates as (select distinct as_of_date from {published}),
        earlier as (
            select candidate.as_of_date, max(published_dates.as_of_date) as published_as_of_date
            from candidate
            inner join published_dates on published_dates.as_of_date <= candidate.as_of_date
            group by candidate.as_of_date
        ),
        later as (
            select candidate.as_of_date, min(published_dates.as_of_date) as published_as_of_date
            from candidate
            inner join published_dates on published_dates.as_of_date > candidate.as_of_date
            group by candidate.as_of_date
        ),
        published as ({_per_date_summary_sql(compared, "published_scores")}),
        pairs as (
            select
                candidate.as_of_date,
                published.as_of_date as published_as_of_date,
                published.accounts as published_accounts,
                candidate.accounts as candidate_accounts,
                published.mean_score as published_mean_score,
                candidate.mean_score as candidate_mean_score,
                published.unhealthy_share as published_unhealthy_share,
                candidate.unhealthy_share as candidate_unhealthy_share
            from candidate
            left join earlier on earlier.as_of_date = candidate.as_of_date
            left join later on later.as_of_date = candidate.as_of_date
            inner join published
                on published.as_of_date
                    = coalesce(earlier.published_as_of_date, later.published_as_of_date)
        )
    """


# ------------------------------------------------------------------------------------- plan


def present_sources(config: GateConfig, manifest: DbtManifest) -> list[SourceConfig]:
    """The configured sources the deployment has: a source whose base model is switched off (an
    absent optional raw table, var absent_raw_tables) is not checked; a base model dbt does not
    know at all is a configuration error (raised when its suite is planned)."""
    return [source for source in config.sources if not manifest.is_disabled(source.base)]


def gate_suites(config: GateConfig, manifest: DbtManifest) -> list[SuitePlan]:
    """Suites that must pass before publishing (inputs, then the candidate)."""
    suites: list[SuitePlan] = []
    for source in present_sources(config, manifest):
        suites += [base_suite(source, manifest), staged_suite(source, manifest)]
    return [*suites, scores_suite(config, manifest)]


def drift_suites(config: GateConfig, manifest: DbtManifest) -> list[SuitePlan]:
    """Suites run only when a published baseline exists."""
    return [drift_suite(config, manifest)]


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
