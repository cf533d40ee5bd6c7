"""Churn labels for published score history, read from the warehouse without writing to it.

Two label modes, chosen from what the warehouse holds (`choose_labels`) or forced by the options:

- events (when `staging.stg_crm__churn_events` exists): label of a score row (account, as_of_date)
  for a horizon of N days: the account has a churn event with
  as_of_date < churn_date <= as_of_date + N. A churn on the as-of date itself is not counted: the
  score of that day cannot warn about it. Observation end: the latest churn date or usage date
  (`staging.stg_product_usage__feature_usage`) in the data; without the usage relation (a
  deployment may have none), the latest churn date or as-of date (`observed_through`,
  overridable). A row is evaluated only if its whole horizon is observed
  (as_of_date + N <= observed_through); the other rows are dropped and counted, because a churn
  after the end of the data is unknown, not absent. Optionally, rows of accounts that already had
  a churn event on or before the as-of date are dropped too (`exclude_prior_churners`; counted
  either way).
- snapshot (when `staging.stg_crm__account_outcomes` exists and churn events do not): one
  as-of date is evaluated, the snapshot (the latest as-of date in the history, or in the
  --from/--to range), and the label is the account's `has_churned` (it churned after the
  snapshot, observed later). Horizon and observation end do not apply. Rows whose outcome is
  unknown (null, or no outcome row for the account) are dropped and counted.

Everything is computed in DuckDB into the temporary table `bt_labelled`. On the duckdb target the
database file is read directly and never written; on postgres and spark the relations of the
chosen mode are first copied into a temporary local DuckDB extract (history.py), which the same
SQL then runs on (`open_history`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
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
ACCOUNT_OUTCOMES = "staging.stg_crm__account_outcomes"
# Read whatever the labels: the score history (the calibration adds the component history).
REQUIRED_RELATIONS = (HISTORY,)
LABELLED = "bt_labelled"
# The history columns a labelled row carries.
HISTORY_COLUMNS = (
    "account_id, as_of_date, health_score, grade, status, segment, lifecycle_stage, plan_tier"
)
GROUP_COLUMNS = ("grade", "status", "segment", "lifecycle_stage", "plan_tier")
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class BacktestInputError(BadInputError):
    """The database or the data in it cannot be evaluated: no database, missing relations, too
    little data (bad input, exit 4)."""


@dataclass(frozen=True)
class Labels:
    """Where the labels come from: the mode, the label relations read and why this mode."""

    mode: str  # "events" or "snapshot"
    relations: tuple[str, ...]  # label relations present in the source, read with the history
    rule: str  # how the mode was chosen, for the report

    @property
    def has_usage(self) -> bool:
        return FEATURE_USAGE in self.relations


def choose_labels(requested: str, exists: Callable[[str], bool], where: str) -> Labels:
    """The label mode `requested` (auto, events, snapshot) given the relations the source holds
    (`exists`); `where` names the source in errors. Raises BacktestInputError when the mode's
    relation is absent."""
    events, outcomes = exists(CHURN_EVENTS), exists(ACCOUNT_OUTCOMES)
    if requested == "snapshot" or (requested == "auto" and outcomes and not events):
        if not outcomes:
            raise BacktestInputError(
                f"--label-mode snapshot needs {ACCOUNT_OUTCOMES} (has_churned per account), "
                f"which {where} lacks: set the deployment's snapshot_outcome_column and "
                "refresh, or use --label-mode events"
            )
        rule = ("--label-mode snapshot" if requested == "snapshot"
                else f"automatic: {ACCOUNT_OUTCOMES} exists, {CHURN_EVENTS} does not")
        return Labels("snapshot", (ACCOUNT_OUTCOMES,), rule)
    if requested not in ("auto", "events"):
        raise ValueError(f"unknown label mode {requested!r}")
    if not events:
        if requested == "events":
            raise BacktestInputError(
                f"--label-mode events needs {CHURN_EVENTS}, which {where} lacks"
                + (": use --label-mode snapshot (it has account outcomes)" if outcomes else "")
            )
        raise BacktestInputError(
            f"{where} has no churn labels: neither {CHURN_EVENTS} (dated churn events) nor "
            f"{ACCOUNT_OUTCOMES} (an outcome per account, from the deployment's "
            "snapshot_outcome_column) exists; build one of them and rerun"
        )
    rule = "--label-mode events" if requested == "events" else f"automatic: {CHURN_EVENTS} exists"
    usage = (FEATURE_USAGE,) if exists(FEATURE_USAGE) else ()
    return Labels("events", (CHURN_EVENTS, *usage), rule)


@dataclass(frozen=True)
class LabelWindow:
    """Which score rows are labelled, and how.

    events mode: every as-of date in the range, labelled by churn events within the horizon,
    observed through observed_through. snapshot mode: the rows of snapshot_date only, labelled by
    the account outcome (horizon, observed_through and prior churners do not apply).
    """

    horizon_days: int
    observed_through: date | None
    date_from: date | None = None
    date_to: date | None = None
    exclude_prior_churners: bool = False
    mode: str = "events"
    snapshot_date: date | None = None

    def describe(self) -> str:
        """The labels in a few words, for the reports."""
        if self.mode == "snapshot":
            return f"snapshot outcome column (1 as-of date, {self.snapshot_date})"
        return f"churn events within {self.horizon_days} days"

    def outcome(self) -> str:
        """What a positive label means, for headings and axis labels."""
        if self.mode == "snapshot":
            return "churn after the snapshot"
        return f"churn within {self.horizon_days} days"


@dataclass
class HistorySource:
    """An open DuckDB connection to read the history from, and where its data comes from."""

    connection: duckdb.DuckDBPyConnection
    target: str
    description: str  # the DuckDB file, or the target the extract was copied from
    db_path: Path | None = None
    extract: dict[str, object] = field(default_factory=dict)  # rows copied and seconds
    labels: Labels | None = None  # None when open_history was asked for no labels

    def parameters(self) -> dict[str, object]:
        """For the report: target, source, DuckDB file (duckdb) or the extract's row counts,
        and the label mode."""
        out: dict[str, object] = {
            "target": self.target,
            "source": self.description,
            "db_path": str(self.db_path) if self.db_path else None,
        }
        if self.extract:
            out["extract"] = self.extract
        if self.labels:
            out["label_mode"] = self.labels.mode
            out["label_mode_rule"] = self.labels.rule
            out["label_relations"] = list(self.labels.relations)
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
                 relations: tuple[str, ...] = REQUIRED_RELATIONS,
                 label_mode: str | None = None,
                 optional: tuple[str, ...] = ()) -> Iterator[HistorySource]:
    """A DuckDB connection holding `relations` and, with a label_mode (see choose_labels), the
    label relations of the mode chosen: the duckdb file itself (read-only, no copy), or a
    temporary extract copied from the postgres / spark target (deleted on exit; only the chosen
    mode's relations are copied). The `optional` relations the source holds are there too
    (copied when they exist); test for them with missing_relations."""
    if target == "duckdb":
        # A served file holds only schema `health`; the churn events and usage the history is
        # evaluated against are in the working database dbt builds beside it, when there is one.
        path = (db_path or default_db_path()).resolve()
        working = working_database(path)
        path = working if working.is_file() else path
        with connect_read_only(path, relations) as con:
            labels = None
            if label_mode is not None:
                labels = choose_labels(label_mode, lambda r: not missing_relations(con, (r,)),
                                       str(path))
            yield HistorySource(con, target, str(path), db_path=path, labels=labels)
        return
    if target not in ENGINES:
        raise ValueError(f"unknown target {target!r}")
    if db_path is not None:
        log.warning("--db-path is ignored on the %s target", target)
    description = describe_target(target)
    chosen: list[Labels] = []

    def label_relations(exists: Callable[[str], bool]) -> tuple[str, ...]:
        present = tuple(r for r in optional if exists(r))
        if label_mode is None:
            return present
        chosen.append(choose_labels(label_mode, exists, description))
        return (*chosen[0].relations, *present)

    try:
        with open_extract(target, relations, choose=label_relations) as extract:
            yield HistorySource(extract.connection, target, description,
                                extract={"rows": extract.rows, "seconds": extract.seconds},
                                labels=chosen[0] if chosen else None)
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
    """The end of observation (events mode): the latest churn date or usage date in the data;
    without the usage relation, the latest churn date or as-of date of the history."""
    if missing_relations(con, (FEATURE_USAGE,)):
        later = f"(select max(as_of_date) from {HISTORY})"
    else:
        later = f"(select max(usage_date) from {FEATURE_USAGE})"
    (latest,) = con.execute(
        f"select greatest((select max(churn_date) from {CHURN_EVENTS}), {later})"
    ).fetchone()
    if latest is None:
        raise BacktestInputError("no churn or usage dates: cannot tell how far outcomes are known")
    return latest


def observed_through_source(con: duckdb.DuckDBPyConnection) -> str:
    """Where observed_through() takes the end of observation from, for the report."""
    if missing_relations(con, (FEATURE_USAGE,)):
        return f"latest churn or as-of date (no {FEATURE_USAGE})"
    return "latest churn or usage date"


def snapshot_date(con: duckdb.DuckDBPyConnection, options: EvaluationOptions) -> date:
    """The as-of date snapshot mode evaluates: the latest one in the history, within
    --from/--to when given."""
    (latest,) = con.execute(
        f"""
        select max(as_of_date) from {HISTORY}
        where (cast($date_from as date) is null or as_of_date >= cast($date_from as date))
          and (cast($date_to as date) is null or as_of_date <= cast($date_to as date))
        """,
        {"date_from": options.date_from, "date_to": options.date_to},
    ).fetchone()
    if latest is None:
        raise BacktestInputError(
            "no score history to take a snapshot from"
            + (" in the --from/--to range" if options.date_from or options.date_to else "")
        )
    return latest


def label_window(con: duckdb.DuckDBPyConnection, options: EvaluationOptions,
                 labels: Labels | None = None) -> LabelWindow:
    """The label window the options ask for. events (the default without `labels`): observation
    ends where the data does unless options.observed_through says otherwise. snapshot: the
    latest as-of date (in the range) is the one evaluated."""
    if labels is not None and labels.mode == "snapshot":
        ignored = [name for name, given in (
            ("--observed-through", options.observed_through is not None),
            ("--exclude-prior-churners", options.exclude_prior_churners),
        ) if given]
        if ignored:
            log.warning("%s: not used in snapshot mode (the outcome column is the label)",
                        ", ".join(ignored))
        return LabelWindow(options.horizon_days, None, options.date_from, options.date_to,
                           False, "snapshot", snapshot_date(con, options))
    return LabelWindow(
        options.horizon_days,
        options.observed_through or observed_through(con),
        options.date_from,
        options.date_to,
        options.exclude_prior_churners,
    )


def label_parameters(options: EvaluationOptions, window: LabelWindow,
                     observed_source: str | None) -> dict:
    """How the rows were labelled, for both reports: mode, its description and the window."""
    common = {
        "labels": window.describe(),
        "outcome": window.outcome(),
        "date_from": options.date_from.isoformat() if options.date_from else None,
        "date_to": options.date_to.isoformat() if options.date_to else None,
    }
    if window.mode == "snapshot":
        assert window.snapshot_date is not None
        return {
            **common,
            "snapshot_date": window.snapshot_date.isoformat(),
            "snapshot_date_source": "latest as-of date on or before --to" if options.date_to
            else "latest as-of date in the history",
            "horizon_days": None,
            "observed_through": None,
            "observed_through_source": None,
            "exclude_prior_churners": False,
            "label": "has_churned of the account (churned after the snapshot); null or no "
            "outcome row: dropped",
        }
    assert window.observed_through is not None
    return {
        **common,
        "horizon_days": window.horizon_days,
        "observed_through": window.observed_through.isoformat(),
        "observed_through_source": "--observed-through" if options.observed_through
        else observed_source,
        "exclude_prior_churners": window.exclude_prior_churners,
        "label": "churn event with as_of_date < churn_date <= as_of_date + horizon_days",
    }


def build_labelled(con: duckdb.DuckDBPyConnection, window: LabelWindow) -> None:
    """(Re)create temp table bt_labelled: history rows in the date range (snapshot mode: of the
    snapshot date), labels and flags (label_known, evaluated, ...)."""
    if window.mode == "snapshot":
        build_snapshot_labelled(con, window)
        return
    con.execute(
        f"""
        create or replace temp table {LABELLED} as
        with history as (
            select {HISTORY_COLUMNS}
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
                history.as_of_date + $horizon <= $observed_through as label_known
            from history
            left join churn on churn.account_id = history.account_id
            group by all
        )
        select
            *,
            label_known and not (churned_before and $exclude_prior) as evaluated
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


def build_snapshot_labelled(con: duckdb.DuckDBPyConnection, window: LabelWindow) -> None:
    """bt_labelled in snapshot mode: the rows of the snapshot date, labelled has_churned; rows
    without a known outcome (null, or no outcome row) are kept but not evaluated."""
    con.execute(
        f"""
        create or replace temp table {LABELLED} as
        with history as (
            select {HISTORY_COLUMNS}
            from {HISTORY}
            where as_of_date = $snapshot
        ),
        outcomes as (
            select account_id, bool_or(has_churned) as has_churned
            from {ACCOUNT_OUTCOMES}
            group by account_id
        ),
        labelled as (
            select
                history.*,
                coalesce(outcomes.has_churned, false) as churned,
                false as churned_before,
                outcomes.has_churned is not null as label_known,
                outcomes.account_id is not null as has_outcome_row
            from history
            left join outcomes on outcomes.account_id = history.account_id
        )
        select *, label_known as evaluated from labelled
        """,
        {"snapshot": window.snapshot_date},
    )


def label_counts(con: duckdb.DuckDBPyConnection, mode: str = "events") -> dict[str, object]:
    """Rows read, dropped (and why), evaluated, churners, accounts and as-of dates."""
    if mode == "snapshot":
        dropped = (
            "count(*) filter (where not label_known)",
            "count(*) filter (where has_outcome_row and not label_known)",
            "count(*) filter (where not has_outcome_row)",
        )
        dropped_keys = ("dropped_outcome_unknown", "outcome_null", "outcome_row_missing")
    else:
        dropped = (
            "count(*) filter (where not label_known)",
            "count(*) filter (where label_known and churned_before)",
        )
        dropped_keys = ("dropped_horizon_not_observed", "rows_with_prior_churn")
    row = con.execute(
        f"""
        select
            count(*),
            {", ".join(dropped)},
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
        "history_rows", *dropped_keys,
        "evaluated_rows", "churned_rows", "evaluated_accounts", "churned_accounts",
        "as_of_dates_in_range", "as_of_dates_evaluated", "first_as_of_date", "last_as_of_date",
    )
    counts = dict(zip(keys, row, strict=True))
    for key in ("first_as_of_date", "last_as_of_date"):
        counts[key] = counts[key].isoformat() if counts[key] else None
    return counts


POPULATIONS = {
    "evaluated": "evaluated",
    "all_observed": "label_known",
    "without_prior_churners": "label_known and not churned_before",
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


# Suffix of the metric-value columns of component_matrix (the points column is the metric name).
VALUE_SUFFIX = "__value"


def component_matrix(con: duckdb.DuckDBPyConnection, metrics: list[str]) -> pd.DataFrame:
    """Evaluated rows with one points column per metric (NaN = N/A) and one metric-value column
    per metric (`<metric>__value`, NaN = no data), from component history."""
    for metric in metrics:
        if not METRIC_NAME.match(metric):
            raise ValueError(f"unexpected metric name {metric!r}")
    pivots = ",\n".join(
        f"max(components.{column}) filter (where components.metric_name = '{m}') as {m}{suffix}"
        for m in metrics
        for column, suffix in (("points", ""), ("metric_value", VALUE_SUFFIX))
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


COMPONENT_POINT_COLUMNS = ("metric_name", "category", "points", "weight")


def missing_columns(con: duckdb.DuckDBPyConnection, relation: str,
                    columns: tuple[str, ...]) -> list[str]:
    """The `columns` that `relation` ("schema.table") lacks."""
    schema, name = relation.split(".")
    present = {column for (column,) in con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ?", [schema, name]).fetchall()}
    return [column for column in columns if column not in present]


def component_points(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Points, weight and category of every metric of the evaluated rows, one row per account,
    as-of date and metric, from component history (points NaN = N/A, left out of the score)."""
    return con.execute(
        f"""
        select components.account_id, components.as_of_date, components.metric_name,
               components.category, components.points, components.weight
        from {COMPONENT_HISTORY} as components
        inner join {LABELLED} as labelled
            on labelled.account_id = components.account_id
            and labelled.as_of_date = components.as_of_date
        where labelled.evaluated
        order by components.as_of_date, components.account_id, components.metric_name
        """
    ).df()
