"""Backtest: does a low health score predict churn within the next N days (or after a snapshot)?

Reads published score history (`health.customer_health_score_history`) and the labels from the
target: the DuckDB file (default), read-only, or PostgreSQL / Spark, whose relations are first
copied into a temporary local DuckDB extract (see history.py); the analysis is the same DuckDB
SQL on either. Labels (data.py), by label mode:

- events (churn events exist): every score row (account, as_of_date) whose horizon is fully
  observed gets the label "churned within N days": a churn event with
  as_of_date < churn_date <= as_of_date + N. The horizon is observed when as_of_date + N <= the
  latest churn date or usage date in the data (or the observed-through date given); later rows
  are dropped and counted.
- snapshot (only an account-outcome column): the scores of one as-of date, labelled with the
  account's has_churned ("churned after the snapshot"); unknown outcomes are dropped and counted.
  The per-date table then has the one date, and the prior-churner sensitivity is not computed.

Reports the AUC of (100 - score) against the label (Mann-Whitney, 95 % CI from a bootstrap over
accounts), the top-decile lift, churn rates with Wilson 95 % CIs per grade, status and segment,
whether churn rises monotonically from the best grade to the worst, the AUC per as-of date and an
ROC curve.

What each family adds (families.py; metrics.family_contribution): when the component history
(`health.customer_health_score_component_history`) exists, every evaluated row is re-scored from
its component points with the weights it was scored with, with every family (metric category) and
without each family in turn (its metrics dropped, the other weights renormalised per row as the
dbt models do). Per family: both AUCs and their difference (with - without = what the family
adds), 95 % CIs from a paired bootstrap over accounts, and a verdict. Rows left with no points
without the family are dropped from both sides and counted; families whose metrics all have
weight 0 are skipped; with one weighted family there is nothing to compare (the summary says so).
The all-families re-score must reproduce the published health_score (reproduction check).

Writes backtest.json (machine-readable) and backtest.md (report with PNG plots) to the
output folder. Raises BacktestInputError (bad input) when there is no database, a relation is
missing, or there is nothing to evaluate (no rows, or only one class of outcome).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd

from customer_health.evaluation.backtest_report import render_markdown, write_plots
from customer_health.evaluation.data import (
    COMPONENT_HISTORY,
    COMPONENT_POINT_COLUMNS,
    BacktestInputError,
    HistorySource,
    LabelWindow,
    build_labelled,
    churn_by_date,
    component_points,
    evaluated_rows,
    group_churn,
    label_counts,
    label_parameters,
    label_window,
    missing_columns,
    missing_relations,
    observed_through_source,
    open_history,
)
from customer_health.evaluation.families import align, contribution
from customer_health.evaluation.options import BacktestOptions
from customer_health.evaluation.statistics import (
    auc_mann_whitney,
    bootstrap_auc,
    hanley_mcneil_interval,
    monotonic_check,
    roc_curve,
    top_fraction_lift,
    wilson_interval,
)

log = logging.getLogger(__name__)

ROC_POINTS = 200


def with_wilson(groups: list[dict]) -> list[dict]:
    """Add churn_rate and its Wilson 95 % interval to per-group counts."""
    out = []
    for group in groups:
        ci = wilson_interval(group["churners"], group["rows"])
        out.append({**group, "churn_rate": _r(ci.estimate), "ci_lower": _r(ci.lower),
                    "ci_upper": _r(ci.upper)})
    return out


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def group_aucs(frame: pd.DataFrame, column: str) -> dict[str, float | None]:
    """AUC within each value of `column` (None when a group lacks churners or stayers)."""
    return {
        str(key): _r(auc_mann_whitney(part["risk"].to_numpy(), part["churned"].to_numpy()))
        for key, part in frame.groupby(column, sort=True)
    }


def thin_roc(fpr: np.ndarray, tpr: np.ndarray, points: int = ROC_POINTS) -> dict[str, list]:
    """At most `points` ROC points (always keeping both ends), rounded, for the JSON."""
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(points, len(fpr))).round().astype(int))
    return {"fpr": [round(float(v), 4) for v in fpr[keep]],
            "tpr": [round(float(v), 4) for v in tpr[keep]]}


# Where a verdict that the score does not predict churn points to.
NEXT_STEPS = ("see \"What each family adds\" in the backtest report, and `health calibrate` "
              "for weights fitted to your churn")


def verdict(auc: dict, lift: dict, grade_check: dict, outcome: str) -> str:
    """The verdict in plain words for a customer-success lead, then the statistics behind it.

    It says the score predicts `outcome` (LabelWindow.outcome(), e.g. "churn within 90 days")
    only when all three hold: AUC's 95 % CI lies above 0.5, the riskiest 10 % churned more than
    the rest (top-decile lift above 1), and churn rises with every worse grade. Otherwise it says
    not to prioritise outreach with the score yet, and why, in words."""
    estimate, lower, upper = auc["estimate"], auc["lower"], auc["upper"]
    top_lift = lift["lift"]
    reasons = []
    if upper is not None and upper < 0.5:
        reasons.append("it ranks the accounts that churned as healthier than those that stayed")
    elif lower is None or lower <= 0.5:
        reasons.append("it does not rank the accounts that churned below those that stayed "
                       "more often than chance would")
    if top_lift is None or top_lift <= 1:
        reasons.append("the accounts it marks riskiest did not churn more than the others")
    if not grade_check["monotonic"]:
        steps = ", ".join(f"{v['from']} to {v['to']}" for v in grade_check["violations"])
        reasons.append(f"churn does not rise with every worse grade (it falls from {steps})")
    interval = ("" if lower is None else f", 95 % CI {lower:.2f}-{upper:.2f}")
    statistics = (f"AUC {estimate:.2f}{interval} (0.5 = coin flip); top-decile lift "
                  + ("n/a" if top_lift is None else f"{top_lift:.1f}x")
                  + "; churn by grade " + ("rises" if grade_check["monotonic"] else "does not rise")
                  + " with every worse grade.")
    if reasons:
        return (f"Do not prioritise outreach with this score yet. Against {outcome}: "
                f"{'; '.join(reasons)}. For what to change, {NEXT_STEPS}. In statistics terms: "
                f"{statistics}")
    strength = ("strong" if estimate >= 0.8 else "good" if estimate >= 0.7
                else "moderate" if estimate >= 0.6 else "weak")
    return (f"The score predicts {outcome}: the riskiest 10 % of accounts churned at "
            f"{top_lift:.1f}x the overall rate, and churn rises with every worse grade, so it can "
            f"rank outreach. In statistics terms ({strength} discrimination): {statistics}")


def discrimination(frame: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """AUC (cluster-bootstrap and Hanley-McNeil CIs), lift, mean scores and the ROC curve."""
    risk, label = frame["risk"].to_numpy(float), frame["churned"].to_numpy(bool)
    auc = bootstrap_auc(risk, label, frame["account_id"].to_numpy(), n_boot, seed)
    hanley = hanley_mcneil_interval(auc.estimate, int(label.sum()), int((~label).sum()))
    fpr, tpr, _ = roc_curve(risk, label)
    return {
        "auc": auc.as_dict(),
        "auc_hanley_mcneil": hanley.as_dict(),
        "top_decile": {k: _r(v) if isinstance(v, float) else v
                       for k, v in top_fraction_lift(risk, label, 0.1).items()},
        "mean_score_churners": _r(frame.loc[label, "health_score"].mean(), 2),
        "mean_score_stayers": _r(frame.loc[~label, "health_score"].mean(), 2),
        "roc": thin_roc(fpr, tpr),
    }


def sensitivity(con: duckdb.DuckDBPyConnection, exclude_prior: bool) -> dict:
    """The AUC on the other population choice (with / without prior churners)."""
    population = "all_observed" if exclude_prior else "without_prior_churners"
    frame = evaluated_rows(con, population)
    label = frame["churned"].to_numpy(bool)
    return {
        "population": population,
        "rows": len(frame),
        "churned_rows": int(label.sum()),
        "auc": _r(auc_mann_whitney(frame["risk"].to_numpy(float), label)),
    }


def group_tables(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> dict:
    """Churn by grade and status (with monotonicity), by segment and by as-of date."""
    grades = with_wilson(group_churn(con, "grade"))
    statuses = with_wilson(group_churn(con, "status"))
    segment_auc = group_aucs(frame, "segment")
    dates = with_wilson([{**d, "group": d["as_of_date"]} for d in churn_by_date(con)])
    date_auc = group_aucs(frame.assign(day=frame["as_of_date"].astype(str).str[:10]), "day")
    return {
        "by_grade": {"groups": grades, "monotonic_check": monotonic_check(grades)},
        "by_status": {"groups": statuses, "monotonic_check": monotonic_check(statuses)},
        "by_segment": [{**s, "auc": segment_auc.get(str(s["group"]))}
                       for s in with_wilson(group_churn(con, "segment"))],
        "by_as_of_date": [{**d, "auc": date_auc.get(d["as_of_date"])} for d in dates],
    }


def family_contribution(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, n_boot: int,
                        seed: int) -> tuple[list[dict], dict]:
    """What each family adds (families.py), from the component history when there is one."""
    if missing_relations(con, (COMPONENT_HISTORY,)):
        absent = f"{COMPONENT_HISTORY} does not exist"
    else:
        missing = missing_columns(con, COMPONENT_HISTORY, COMPONENT_POINT_COLUMNS)
        absent = f"{COMPONENT_HISTORY} lacks {', '.join(missing)}" if missing else ""
    if absent:
        entries, summary = contribution(frame, None, n_boot, seed)
        summary["note"] = f"not computed: {absent}"
        return entries, summary
    long = component_points(con)
    return contribution(frame, align(frame, long) if len(long) else None, n_boot, seed)


def analyse(con: duckdb.DuckDBPyConnection, window: LabelWindow, n_boot: int, seed: int
            ) -> tuple[dict, dict, pd.DataFrame]:
    """Counts, every metric of the report (JSON-ready) and the evaluated rows."""
    build_labelled(con, window)
    counts = label_counts(con, window.mode)
    frame = evaluated_rows(con)
    label = frame["churned"].to_numpy(bool)
    if len(frame) == 0 or label.all() or not label.any():
        if window.mode == "snapshot":
            raise BacktestInputError(
                f"nothing to evaluate: {counts['evaluated_rows']} rows of the snapshot "
                f"{window.snapshot_date} with a known outcome, {counts['churned_rows']} of them "
                f"churned (need churners and stayers; {counts['dropped_outcome_unknown']} rows "
                "without an outcome were dropped)"
            )
        raise BacktestInputError(
            f"nothing to evaluate: {counts['evaluated_rows']} rows with a fully observed "
            f"{window.horizon_days}-day horizon, {counts['churned_rows']} of them churned "
            "(need churners and stayers); backfill earlier as-of dates or shorten the horizon"
        )
    metrics = discrimination(frame, n_boot, seed)
    metrics.update(group_tables(con, frame))
    metrics["family_contribution"], metrics["family_contribution_summary"] = (
        family_contribution(con, frame, n_boot, seed))
    # Prior churners exist only with dated churn events.
    metrics["sensitivity"] = (None if window.mode == "snapshot"
                              else sensitivity(con, window.exclude_prior_churners))
    metrics["verdict"] = verdict(metrics["auc"], metrics["top_decile"],
                                 metrics["by_grade"]["monotonic_check"], window.outcome())
    return counts, metrics, frame


def parameters(options: BacktestOptions, history: HistorySource, window: LabelWindow,
               observed_source: str | None) -> dict:
    return {
        **history.parameters(),
        **label_parameters(options, window, observed_source),
        "bootstrap_resamples": options.bootstrap,
        "bootstrap_seed": options.seed,
        "risk": "100 - health_score",
        "auc_ci": "95 % percentile interval, bootstrap resampling accounts (all their rows)",
        "rate_ci": "Wilson 95 % interval over rows",
        "family_contribution": "AUC of the score re-computed from component points with the "
        "history's weights, with every family minus without the family (its metrics dropped, "
        "the other weights renormalised per row); 95 % CIs from a paired bootstrap over accounts",
    }


def log_largest_gain(metrics: dict) -> None:
    family = metrics["family_contribution_summary"]["largest_gain"]
    if family is None:
        log.info("what each family adds: %s", metrics["family_contribution_summary"]["note"])
        return
    entry = next(e for e in metrics["family_contribution"] if e["family"] == family)
    diff = entry["difference"]
    log.info("family adding the most: %s (AUC %+.3f, 95%% CI %s; %s)", family, diff["estimate"],
             "n/a" if diff["lower"] is None else f"{diff['lower']:+.3f} to {diff['upper']:+.3f}",
             entry["verdict"])


def run(options: BacktestOptions) -> dict:
    """Backtest the published history; write backtest.json, backtest.md and the plots to
    options.out and return the report."""
    with open_history(options.target, options.db_path, label_mode=options.label_mode,
                      optional=(COMPONENT_HISTORY,)) as history:
        con = history.connection
        window = label_window(con, options, history.labels)
        observed_source = observed_through_source(con) if window.mode == "events" else None
        counts, metrics, frame = analyse(con, window, options.bootstrap, options.seed)
    log.info("labels: %s (%s)", window.describe(), history.labels.rule if history.labels else "")
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": parameters(options, history, window, observed_source),
        "counts": counts,
        "metrics": metrics,
    }
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = write_plots(frame, report, out)
    (out / "backtest.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "backtest.md").write_text(render_markdown(report))
    log_largest_gain(report["metrics"])
    auc = report["metrics"]["auc"]
    log.info("AUC %.3f (95%% CI %.3f-%.3f) on %s rows, %s churned; report in %s",
             auc["estimate"], auc["lower"], auc["upper"], report["counts"]["evaluated_rows"],
             report["counts"]["churned_rows"], out)
    log.info("verdict: %s", report["metrics"]["verdict"])
    return report
