"""What the report shows, read from the published relations through the evaluations' read path
(customer_health.evaluation.data.open_history: the DuckDB file read-only, or a temporary local
extract of PostgreSQL or Spark), plus the backtest's JSON report and the last run's summary.

Every relation but the score history is optional: a section whose relation is not published
(yet) says so instead of failing the page.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from customer_health.errors import BadInputError
from customer_health.evaluation.data import HISTORY, missing_relations, open_history
from customer_health.pipeline.run_summary import RUNS_FOLDER
from customer_health.report.options import ReportOptions
from customer_health.settings import PUBLISH_LOG_TABLE, PUBLISHED_SCHEMA, PUBLISHED_SCORES

log = logging.getLogger(__name__)

AT_RISK = f"{PUBLISHED_SCHEMA}.at_risk_accounts"
CHANGES = f"{PUBLISHED_SCHEMA}.customer_health_score_changes"
ATTRIBUTION = f"{PUBLISHED_SCHEMA}.customer_health_score_change_attribution"
QUARANTINE = f"{PUBLISHED_SCHEMA}.quarantined_source_rows"
OPTIONAL_RELATIONS = (PUBLISHED_SCORES, AT_RISK, CHANGES, ATTRIBUTION, QUARANTINE,
                      PUBLISH_LOG_TABLE)


@dataclass
class LastPublish:
    """The latest publish in the publish log, and the names of its gate warnings when its run
    summary is at hand (None: the summary was not found)."""

    run_id: str
    kind: str
    published_at: str
    as_of_dates: list[str]
    checks_passed: int
    checks_failed: int
    checks_warned: int
    warning_names: list[str] | None


@dataclass
class ReportData:
    """The frames the sections are drawn from; None where the relation is not published.

    scores: the current scores (latest as-of date). mix: accounts per as-of date, grade, status
    and colour over the whole history. at_risk: the worklist of the latest date, in outreach
    order, capped to the list's capacity. changes: the latest scored date's changes since each
    account's previous date, with the metrics that moved each account most in words
    (change_explanation, formatted by the models as every published text is). metric_moves:
    points gained and lost per metric over every account on that date. quarantine: quarantined
    rows per table and reason."""

    source: str
    latest_date: date | None
    scores: pd.DataFrame | None
    mix: pd.DataFrame
    at_risk: pd.DataFrame | None
    changes: pd.DataFrame | None
    metric_moves: pd.DataFrame | None
    quarantine: pd.DataFrame | None
    last_publish: LastPublish | None
    backtest: dict | None


def read_report_data(options: ReportOptions) -> ReportData:
    """Everything the page shows (raises the evaluations' BacktestInputError, exit 4, when
    nothing is published, and InfrastructureError, exit 5, when the target cannot be reached)."""
    with open_history(options.target, options.db_path, optional=OPTIONAL_RELATIONS) as history:
        con = history.connection
        present = {r for r in OPTIONAL_RELATIONS if not missing_relations(con, (r,))}
        latest = con.execute(f"select max(as_of_date) from {HISTORY}").fetchone()[0]
        data = ReportData(
            source=history.description,
            latest_date=latest,
            scores=_frame(con, present, PUBLISHED_SCORES, CURRENT_SCORES),
            mix=con.execute(MIX).df(),
            at_risk=_frame(con, present, AT_RISK, WORKLIST),
            changes=_frame(con, present, CHANGES, LATEST_CHANGES, latest),
            metric_moves=_frame(con, present, ATTRIBUTION, METRIC_MOVES, latest),
            quarantine=_frame(con, present, QUARANTINE, QUARANTINE_COUNTS),
            last_publish=(last_publish(con, options.target_path)
                          if PUBLISH_LOG_TABLE in present else None),
            backtest=read_backtest(options.backtest),
        )
    log.info("read the published scores from %s (latest as-of date %s)", data.source, latest)
    return data


def _frame(con: duckdb.DuckDBPyConnection, present: set[str], relation: str, sql: str,
           latest: date | None = None) -> pd.DataFrame | None:
    if relation not in present:
        return None
    return con.execute(sql, {"latest": latest} if "$latest" in sql else None).df()


CURRENT_SCORES = f"""
select account_id, as_of_date, health_score, grade, status, status_colour, is_low_coverage
from {PUBLISHED_SCORES}
where as_of_date = (select max(as_of_date) from {PUBLISHED_SCORES})
"""
MIX = f"""
select as_of_date, grade, status, status_colour, count(*) as accounts,
       sum(health_score) as score_sum
from {HISTORY}
group by all
order by as_of_date, grade, status
"""
WORKLIST = f"""
select outreach_rank, account_name, account_id, segment, health_score, grade, status,
       arr_at_risk, reason, score_change, is_newly_listed, accounts_matched
from {AT_RISK}
where as_of_date = (select max(as_of_date) from {AT_RISK})
order by outreach_rank
"""
LATEST_CHANGES = f"""
select account_id, account_name, segment, previous_as_of_date, previous_health_score,
       health_score, score_change, trend, previous_status, status, is_newly_at_risk,
       is_scoring_config_changed, change_explanation
from {CHANGES}
where as_of_date = $latest
order by score_change, account_id
"""
METRIC_MOVES = f"""
select display_name,
       coalesce(sum(points_change) filter (where points_change > 0), 0) as points_gained,
       coalesce(sum(points_change) filter (where points_change < 0), 0) as points_lost,
       sum(points_change) as net_points
from {ATTRIBUTION}
where as_of_date = $latest
group by display_name
order by display_name
"""
QUARANTINE_COUNTS = f"""
select table_name, quarantine_reason, count(*) as quarantined_rows
from {QUARANTINE}
group by all
order by quarantined_rows desc, table_name, quarantine_reason
"""
LAST_PUBLISH = f"""
select run_id, publish_kind, cast(published_at as varchar), as_of_date, checks_passed,
       checks_failed, checks_warned
from {PUBLISH_LOG_TABLE}
where run_id = (select run_id from {PUBLISH_LOG_TABLE} order by published_at desc limit 1)
order by as_of_date
"""


def last_publish(con: duckdb.DuckDBPyConnection, target_path: Path) -> LastPublish | None:
    """The latest publish (a publish logs one row per as-of date) and its gate warnings' names
    from its run summary (`<target path>/runs/<run id>.json`) when that file is there."""
    rows = con.execute(LAST_PUBLISH).fetchall()
    if not rows:
        return None
    run_id, kind, published_at, _, passed, failed, warned = rows[0]
    return LastPublish(
        run_id=run_id, kind=kind, published_at=published_at[:19],
        as_of_dates=[row[3].isoformat() for row in rows],
        checks_passed=passed, checks_failed=failed, checks_warned=warned,
        warning_names=_warning_names(target_path / RUNS_FOLDER / f"{run_id}.json"),
    )


def _warning_names(summary: Path) -> list[str] | None:
    try:
        return list(json.loads(summary.read_text(encoding="utf-8"))["checks"]["warning"])
    except (OSError, ValueError, KeyError, TypeError):
        log.info("no readable run summary at %s: gate warnings shown as a count", summary)
        return None


def read_backtest(path: Path) -> dict | None:
    """The backtest's JSON report (customer_health.evaluation.backtest), or None when absent."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise BadInputError(f"{path} is not a backtest report (JSON): {error}") from error
