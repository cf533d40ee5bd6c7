"""Churn labels for published score history, read from the warehouse without writing to it.

Label of a score row (account, as_of_date) for a horizon of N days: the account has a churn event
(`staging.stg_crm__churn_events`) with as_of_date < churn_date <= as_of_date + N. A churn on the
as-of date itself is not counted: the score of that day cannot warn about it.

Observation end: the latest churn date or usage date in the data (`observed_through`, overridable).
A row is evaluated only if its whole horizon is observed (as_of_date + N <= observed_through);
the other rows are dropped and counted, because a churn after the end of the data is unknown,
not absent. Optionally, rows of accounts that already had a churn event on or before the as-of
date are dropped too (`exclude_prior_churners`; counted either way).

Everything is computed in DuckDB into the temporary table `bt_labelled`. On the duckdb target the
database file is read directly and never written; on postgres and spark the relations read here
are first copied into a temporary local DuckDB extract (history.py), which the same SQL
then runs on (`open_history`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from customer_health.engines.warehouse import ENGINES, WarehouseError, working_database
from customer_health.errors import BadInputError, InfrastructureError
from customer_health.evaluation.history import MissingRelationsError, describe_target, open_extract
from customer_health.evaluation.options import EvaluationOptions
from customer_health.settings import PROJECT_DIR, PUBLISHED_SCHEMA

log = logging.getLogger(__name__)

HISTORY = f"{PUBLISHED_SCHEMA}.customer_health_score_history"
COMPONENT_HISTORY = f"{PUBLISHED_SCHEMA}.customer_health_score_component_history"
CHURN_EVENTS = "staging.stg_crm__churn_events"
FEATURE_USAGE = "staging.stg_product_usage__feature_usage"
REQUIRED_RELATIONS = (HISTORY, CHURN_EVENTS, FEATURE_USAGE)
LABELLED = "bt_labelled"
GROUP_COLUMNS = ("grade", "status", "segment", "lifecycle_stage", "plan_tier")
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class BacktestInputError(BadInputError):
    """The database or the data in it cannot be evaluated: no database, missing relations, too
    little data (bad input, exit 4)."""


@dataclass(frozen=True)
class LabelWindow:
    """Which score rows are labelled, and how."""

    horizon_days: int
    observed_through: date
    date_from: date | None = None
    date_to: date | None = None
    exclude_prior_churners: bool = False


@dataclass
class HistorySource:
    """An open DuckDB connection to read the history from, and where its data comes from."""

    connection: duckdb.DuckDBPyConnection
    target: str
    description: str  # the DuckDB file, or the target the extract was copied from
    db_path: Path | None = None
    extract: dict[str, object] = field(default_factory=dict)  # rows copied and seconds

    def parameters(self) -> dict[str, object]:
        """For the report: target, source, DuckDB file (duckdb) or the extract's row counts."""
        out: dict[str, object] = {
            "target": self.target,
            "source": self.description,
            "db_path": str(self.db_path) if self.db_path else None,
        }
        if self.extract:
            out["extract"] = self.extract
        return out


def default_db_path() -> Path:
    return Path(os.environ.get("HEALTH_DB_PATH") or PROJECT_DIR / "customer_health.duckdb")


def connect_read_only(db_path: Path, relations: tuple[str, ...] = REQUIRED_RELATIONS
                      ) -> duckdb.DuckDBPyConnection:
    """Open the file read-only and check that the relations the backtest reads exist."""
    if not db_path.is_file():
        raise BacktestInputError(f"database file not found: {db_path}")
    con = duckdb.connect(str(db_path), read_only=True)
    missing = missing_relations(con, relations)
    if missing:
        con.close()
        raise BacktestInputError(
            f"{db_path} lacks {', '.join(missing)}: run `health backfill --db-path {db_path}` "
            "first"
        )
    return con


@contextmanager
def open_history(target: str, db_path: Path | None,
                 relations: tuple[str, ...] = REQUIRED_RELATIONS) -> Iterator[HistorySource]:
    """A DuckDB connection holding `relations`: the duckdb file itself (read-only, no copy), or a
    temporary extract copied from the postgres / spark target (deleted on exit)."""
    if target == "duckdb":
        # A served file holds only schema `health`; the churn events and usage the history is
        # evaluated against are in the working database dbt builds beside it, when there is one.
        path = (db_path or default_db_path()).resolve()
        working = working_database(path)
        path = working if working.is_file() else path
        with connect_read_only(path, relations) as con:
            yield HistorySource(con, target, str(path), db_path=path)
        return
    if target not in ENGINES:
        raise ValueError(f"unknown target {target!r}")
    if db_path is not None:
        log.warning("--db-path is ignored on the %s target", target)
    description = describe_target(target)
    try:
        with open_extract(target, relations) as extract:
            yield HistorySource(extract.connection, target, description,
                                extract={"rows": extract.rows, "seconds": extract.seconds})
    except MissingRelationsError as error:
        raise BacktestInputError(
            f"{description} lacks {', '.join(error.missing)}: run `health backfill "
            f"--target {target}` first"
        ) from error
    except WarehouseError as error:  # unreachable or failing engine: retry later (exit 5)
        raise InfrastructureError(f"cannot read from {description}: {error}") from error


def missing_relations(con: duckdb.DuckDBPyConnection, relations: tuple[str, ...]) -> list[str]:
    present = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }
    return [relation for relation in relations if relation not in present]


def observed_through(con: duckdb.DuckDBPyConnection) -> date:
    """The end of observation: the latest churn date or usage date in the data."""
    (latest,) = con.execute(
        f"select greatest((select max(churn_date) from {CHURN_EVENTS}), "
        f"(select max(usage_date) from {FEATURE_USAGE}))"
    ).fetchone()
    if latest is None:
        raise BacktestInputError("no churn or usage dates: cannot tell how far outcomes are known")
    return latest


def label_window(con: duckdb.DuckDBPyConnection, options: EvaluationOptions) -> LabelWindow:
    """The label window the options ask for; observation ends where the data does unless
    options.observed_through says otherwise."""
    return LabelWindow(
        options.horizon_days,
        options.observed_through or observed_through(con),
        options.date_from,
        options.date_to,
        options.exclude_prior_churners,
    )


def build_labelled(con: duckdb.DuckDBPyConnection, window: LabelWindow) -> None:
    """(Re)create temp table bt_labelled: history rows in the date range, labels and flags."""
    con.execute(
        f"""
        create or replace temp table {LABELLED} as
        with history as (
            select account_id, as_of_date, health_score, grade, status, segment,
                   lifecycle_stage, plan_tier
            from {HISTORY}
            where (cast($date_from as date) is null or as_of_date >= cast($date_from as date))
              and (cast($date_to as date) is null or as_of_date <= cast($date_to as date))
        ),
        churn as (
            select account_id, churn_date from {CHURN_EVENTS} where churn_date is not null
        ),
        labelled as (
            select
                history.*,
                coalesce(bool_or(
                    churn.churn_date > history.as_of_date
                    and churn.churn_date <= history.as_of_date + $horizon
                ), false) as churned,
                coalesce(bool_or(churn.churn_date <= history.as_of_date), false)
                    as churned_before,
                history.as_of_date + $horizon <= $observed_through as horizon_observed
            from history
            left join churn on churn.account_id = history.account_id
            group by all
        )
        select
            *,
            horizon_observed and not (churned_before and $exclude_prior) as evaluated
        from labelled
        """,
        {
            "date_from": window.date_from,
            "date_to": window.date_to,
            "horizon": window.horizon_days,
            "observed_through": window.observed_through,
            "exclude_prior": window.exclude_prior_churners,
        },
    )


def label_counts(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Rows read, dropped (and why), evaluated, churners, accounts and as-of dates."""
    row = con.execute(
        f"""
        select
            count(*),
            count(*) filter (where not horizon_observed),
            count(*) filter (where horizon_observed and churned_before),
            count(*) filter (where evaluated),
            count(*) filter (where evaluated and churned),
            count(distinct account_id) filter (where evaluated),
            count(distinct account_id) filter (where evaluated and churned),
            count(distinct as_of_date),
            count(distinct as_of_date) filter (where evaluated),
            min(as_of_date) filter (where evaluated),
            max(as_of_date) filter (where evaluated)
        from {LABELLED}
        """
    ).fetchone()
    keys = (
        "history_rows", "dropped_horizon_not_observed", "rows_with_prior_churn",
        "evaluated_rows", "churned_rows", "evaluated_accounts", "churned_accounts",
        "as_of_dates_in_range", "as_of_dates_evaluated", "first_as_of_date", "last_as_of_date",
    )
    counts = dict(zip(keys, row, strict=True))
    for key in ("first_as_of_date", "last_as_of_date"):
        counts[key] = counts[key].isoformat() if counts[key] else None
    return counts


POPULATIONS = {
    "evaluated": "evaluated",
    "all_observed": "horizon_observed",
    "without_prior_churners": "horizon_observed and not churned_before",
}


def evaluated_rows(con: duckdb.DuckDBPyConnection, population: str = "evaluated"
                   ) -> pd.DataFrame:
    """Rows of a population (default: the evaluated rows) with risk = 100 - score and label."""
    condition = POPULATIONS[population]
    return con.execute(
        f"""
        select account_id, as_of_date, health_score, 100 - health_score as risk, grade, status,
               segment, churned
        from {LABELLED}
        where {condition}
        order by as_of_date, account_id
        """
    ).df()


def group_churn(con: duckdb.DuckDBPyConnection, column: str) -> list[dict[str, object]]:
    """Rows, churners, accounts and mean score per value of `column`, best mean score first."""
    if column not in GROUP_COLUMNS:
        raise ValueError(f"cannot group by {column!r}")
    rows = con.execute(
        f"""
        select {column}, count(*), count(*) filter (where churned),
               count(distinct account_id), avg(health_score)
        from {LABELLED}
        where evaluated
        group by {column}
        order by avg(health_score) desc, {column}
        """
    ).fetchall()
    return [
        {"group": g, "rows": n, "churners": k, "accounts": a, "mean_score": round(s, 2)}
        for g, n, k, a, s in rows
    ]


def churn_by_date(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    """Rows, churners, accounts and mean score per evaluated as-of date."""
    rows = con.execute(
        f"""
        select as_of_date, count(*), count(*) filter (where churned),
               count(distinct account_id), avg(health_score)
        from {LABELLED} where evaluated group by as_of_date order by as_of_date
        """
    ).fetchall()
    return [
        {"as_of_date": d.isoformat(), "rows": n, "churners": k, "accounts": a,
         "mean_score": round(s, 2)}
        for d, n, k, a, s in rows
    ]


def component_matrix(con: duckdb.DuckDBPyConnection, metrics: list[str]) -> pd.DataFrame:
    """Evaluated rows with one points column per metric (NaN = N/A), from component history."""
    for metric in metrics:
        if not METRIC_NAME.match(metric):
            raise ValueError(f"unexpected metric name {metric!r}")
    pivots = ",\n".join(
        f"max(components.points) filter (where components.metric_name = '{m}') as {m}"
        for m in metrics
    )
    return con.execute(
        f"""
        select labelled.account_id, labelled.as_of_date, labelled.segment,
               labelled.health_score, labelled.churned,
               {pivots}
        from {LABELLED} as labelled
        inner join {COMPONENT_HISTORY} as components
            on components.account_id = labelled.account_id
            and components.as_of_date = labelled.as_of_date
        where labelled.evaluated
        group by all
        order by labelled.as_of_date, labelled.account_id
        """
    ).df()
