"""Propose scoring bands and segment weights fitted to churn, and test them on held-out as-of
dates (or accounts) against the active configuration and a reference model.

Reads component history (`health.customer_health_score_component_history`: metric value and
points per metric per account and as-of date) and the labels from the target: the DuckDB file
(default), read-only, or PostgreSQL / Spark through a temporary local DuckDB extract
(history.py). Labels are those of the backtest (data.py): in events mode churn within
horizon_days after the as-of date, rows with an unobserved horizon dropped; in snapshot mode the
account outcome of the one snapshot date, unknown outcomes dropped.

1. Split by time: rows with as_of_date < holdout_from train, the rest are held out
   (default split: the latest third of the evaluated as-of dates is held out). With a single
   evaluated as-of date (always so in snapshot mode) and no holdout_from, split by account
   instead: an account is held out when the first 8 bytes of sha256(account_id), read as a
   fraction of 2^64, are below HOLDOUT_ACCOUNT_SHARE (a third). The split depends on the account
   id only: the same account lands on the same side in every run and on every machine.
2. Bands: per metric, monotone optimal binning of the training rows' metric values against the
   label (band_fitting.py); every row's points are then re-computed from its metric value with
   the proposed bands as the dbt models would (bands.py).
3. Weights: an L2-regularised logistic regression of the label on the metric points (N/A points
   imputed with the metric's mean over the training rows; see logit.py) per segment with at
   least min_positives churned training rows, and one pooled model (with per-segment
   intercepts) whose weights every other segment gets. Fitted twice: on the active points
   (weights only) and on the re-banded points (the proposal: bands and weights).
4. Convert coefficients to weights: w proportional to max(0, -coef x std(points)) (metrics whose
   higher points go with less churn; weight rule logit: max(0, -coef)), normalised to sum to 1
   per segment, rounded to thousandths.
5. Re-score the held-out rows (sum w x points / sum w over metrics with points, as the dbt models
   do) with the active configuration, the weights-only calibration and the bands-and-weights
   proposal, fit a reference model on the raw metric values (reference_model.py), and compare
   AUCs with 95 % CIs from a paired bootstrap over accounts.

Writes the proposal (default proposed/scoring_bands.csv and proposed/segment_weights.csv beside
the deployment's seeds; same columns as the active seeds, which are never written; `health
adopt-proposal` copies them in, proposal.py) and calibration.json / calibration.md to the report
folder. Bad input (exit 4): no database, missing relations, too little data
(BacktestInputError), or a proposal path that would replace an active seed or, without force, an
existing proposal (RefusedError, checked before anything is read or written).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from customer_health.errors import BadInputError
from customer_health.evaluation.band_fitting import BandFitSettings, fit_bands
from customer_health.evaluation.bands import (
    Band,
    BandConfig,
    band_changes,
    band_reproduction,
    rebanded,
    write_bands,
)
from customer_health.evaluation.calibration_report import render_markdown
from customer_health.evaluation.data import (
    COMPONENT_HISTORY,
    REQUIRED_RELATIONS,
    VALUE_SUFFIX,
    BacktestInputError,
    build_labelled,
    component_matrix,
    label_parameters,
    label_window,
    observed_through_source,
    open_history,
)
from customer_health.evaluation.logit import LogitFit, fit_logit, normalise_weights, raw_weights
from customer_health.evaluation.options import (
    BANDS_SEED,
    CalibrationOptions,
    active_seed,
    active_weights_seed,
)
from customer_health.evaluation.reference_model import reference_risk
from customer_health.evaluation.rescoring import Weights, reproduction_check, score_frame
from customer_health.evaluation.statistics import (
    RankedRisk,
    paired_bootstrap_auc,
    paired_difference,
)

log = logging.getLogger(__name__)

POOLED = "pooled"
# Weight rule of the proposal with fitted bands: their points are each metric's churn log-odds
# scaled onto 0-100, so w ~ max(0, -coefficient per point) makes the score follow the model's
# linear predictor (the standardized rule would favour metrics whose points spread more).
# --weight-rule applies to weights for the active bands (weights only, --keep-bands).
FITTED_BANDS_WEIGHT_RULE = "logit"
# Share of accounts held out when the split is by account (one as-of date).
HOLDOUT_ACCOUNT_SHARE = 1 / 3


class RefusedError(BadInputError):
    """Writing the proposal would replace an active seed, or an existing proposal without force:
    bad input (exit 4), nothing is read or written; choose another path (or force)."""


@dataclass(frozen=True)
class Split:
    holdout_from: date | None  # None when split by account
    rule: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    by: str = "as_of_date"  # or "account"


# ----------------------------------------------------------------------------- seeds


def check_proposal_path(proposal: Path, active: Path, force: bool) -> None:
    """Refuse to write over an active seed (ever) or an existing proposal (without --force):
    the weights proposal and the bands proposal beside it."""
    for target in (proposal.resolve(), (proposal.parent / BANDS_SEED).resolve()):
        protected = {active.resolve(), active_weights_seed().resolve()}
        if target in protected or target.parent == active_weights_seed().parent.resolve():
            raise RefusedError(
                f"refusing to write the proposal to {target}: that is where active seeds live; "
                "write it elsewhere (default seeds/proposed/) and copy it in by review"
            )
        if target.exists() and not force:
            raise RefusedError(f"{target} exists; pass --force to replace it")


def read_weights(path: Path) -> tuple[Weights, list[str]]:
    """{segment: {metric: weight}} from a weights seed, and the metrics in file order."""
    if not path.is_file():
        raise BacktestInputError(f"weights seed not found: {path}")
    weights: Weights = {}
    metrics: list[str] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            weights.setdefault(row["segment"], {})[row["metric_name"]] = float(row["weight"])
            if row["metric_name"] not in metrics:
                metrics.append(row["metric_name"])
    if not weights:
        raise BacktestInputError(f"{path} has no weights")
    return weights, metrics


def format_weight(weight: float) -> str:
    return f"{weight:.3f}".rstrip("0").rstrip(".") or "0"


def write_weights(path: Path, weights: Weights, metrics: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["segment,metric_name,weight"]
    for segment, by_metric in weights.items():
        lines += [f"{segment},{m},{format_weight(by_metric.get(m, 0.0))}" for m in metrics]
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- data


def choose_split(frame: pd.DataFrame, holdout_from: date | None, purge_days: int | None = None,
                 snapshot: bool = False) -> Split:
    """Train on as-of dates before holdout_from, hold out the rest.

    With `purge_days` (the horizon), training rows whose label window reaches holdout_from
    (as_of_date + horizon >= holdout_from) are dropped, so no training label uses churn that
    happened in the held-out period. Without holdout_from and with a single evaluated as-of date
    (`snapshot` mode has one), the accounts are split instead (account_split).
    """
    days = pd.to_datetime(frame["as_of_date"]).dt.date
    if holdout_from is None and (snapshot or days.nunique() < 2):
        if purge_days:
            log.warning("--purge-overlap: not used when accounts are split (one as-of date)")
        return account_split(frame, "snapshot mode: one as-of date" if snapshot
                             else "one evaluated as-of date")
    if snapshot:
        raise BacktestInputError(
            "--holdout-from splits by as-of date, but snapshot mode evaluates one as-of date: "
            "leave it out and the accounts are split instead"
        )
    if holdout_from is None:
        dates = sorted(days.unique())
        holdout_from = dates[len(dates) - max(1, len(dates) // 3)]
        rule = "default: the latest third of the evaluated as-of dates"
    else:
        rule = "--holdout-from"
    train_end = holdout_from - timedelta(days=purge_days) if purge_days else holdout_from
    train, holdout = frame[days < train_end], frame[days >= holdout_from]
    if purge_days:
        rule += f"; training rows purged unless as_of_date + {purge_days} < holdout_from"
    check_classes(train, holdout, f"split at {holdout_from}")
    return Split(holdout_from, rule, train.reset_index(drop=True), holdout.reset_index(drop=True))


def account_bucket(account_id: str) -> float:
    """A fraction in [0, 1) fixed by the account id alone (sha256), for the account split."""
    digest = hashlib.sha256(account_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def account_split(frame: pd.DataFrame, reason: str) -> Split:
    """Hold out the accounts whose bucket is below HOLDOUT_ACCOUNT_SHARE; train on the rest."""
    held = frame["account_id"].astype(str).map(account_bucket).to_numpy() < HOLDOUT_ACCOUNT_SHARE
    train, holdout = frame[~held], frame[held]
    rule = (f"{reason}; about {HOLDOUT_ACCOUNT_SHARE:.0%} of the accounts held out, chosen by "
            "sha256 of account_id, the same accounts every run")
    check_classes(train, holdout, "accounts split")
    return Split(None, rule, train.reset_index(drop=True), holdout.reset_index(drop=True),
                 by="account")


def check_classes(train: pd.DataFrame, holdout: pd.DataFrame, how: str) -> None:
    for name, part in (("training", train), ("held-out", holdout)):
        churned = int(part["churned"].sum())
        if churned == 0 or churned == len(part):
            raise BacktestInputError(
                f"the {name} rows ({how}) need churners and stayers: "
                f"{len(part)} rows, {churned} churned"
            )


def load_frame(options: CalibrationOptions, metrics: list[str]) -> tuple[pd.DataFrame, dict]:
    """The evaluated rows with their metric points, and the source and label parameters."""
    relations = (*REQUIRED_RELATIONS, COMPONENT_HISTORY)
    with open_history(options.target, options.db_path, relations,
                      label_mode=options.label_mode) as history:
        con = history.connection
        window = label_window(con, options, history.labels)
        observed_source = observed_through_source(con) if window.mode == "events" else None
        build_labelled(con, window)
        frame = component_matrix(con, metrics)
    if frame.empty:
        raise BacktestInputError("no evaluated rows with component history")
    info = {**history.parameters(), **label_parameters(options, window, observed_source)}
    return frame, info


# ----------------------------------------------------------------------------- fitting


def fit_models(train: pd.DataFrame, metrics: list[str], segments: list[str],
               options: CalibrationOptions) -> dict[str, LogitFit]:
    """The pooled fit, plus one per segment with at least min_positives churned rows."""
    points = train[metrics].to_numpy(float)
    label = train["churned"].to_numpy(bool)
    fits = {POOLED: fit_logit(points, label, metrics, options.l2,
                              groups=train["segment"].astype(str).to_numpy())}
    for segment in segments:
        rows = (train["segment"] == segment).to_numpy()
        positives = int(label[rows].sum())
        if positives >= options.min_positives and positives < rows.sum():
            fits[segment] = fit_logit(points[rows], label[rows], metrics, options.l2)
        log.info("segment %s: %s training rows, %s churned -> %s fit", segment,
                 int(rows.sum()), positives, "own" if segment in fits else "pooled")
    return fits


def propose(fits: dict[str, LogitFit], active: Weights, rule: str
            ) -> tuple[Weights, dict[str, str]]:
    """Proposed weights per segment and where they came from (segment, pooled or active)."""
    pooled = normalise_weights(raw_weights(fits[POOLED], rule))
    proposed: Weights = {}
    source: dict[str, str] = {}
    for segment in active:
        own = normalise_weights(raw_weights(fits[segment], rule)) if segment in fits else None
        if own is not None:
            proposed[segment], source[segment] = own, "segment"
        elif pooled is not None:
            proposed[segment], source[segment] = pooled, POOLED
        else:
            log.warning("no metric lowers churn risk for %s: keeping its active weights", segment)
            proposed[segment], source[segment] = dict(active[segment]), "active (no fit)"
    return proposed, source


# ----------------------------------------------------------------------------- evaluation

# The held-out comparisons reported: (first, second) -> AUC of first minus AUC of second.
COMPARISONS = (("bands_and_weights", "active"), ("weights_only", "active"),
               ("bands_and_weights", "weights_only"), ("reference_model", "bands_and_weights"),
               ("reference_model", "active"))


def rule_risks(frames: dict[str, tuple[pd.DataFrame, Weights]], metrics: list[str]
               ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Risk (100 - score) per named (points frame, weights) and its count of unscorable rows."""
    risks, unscorable = {}, {}
    for name, (frame, weights) in frames.items():
        scores, unscorable[name] = score_frame(frame, weights, metrics)
        risks[name] = 100 - scores
    return risks, unscorable


def evaluate(frame: pd.DataFrame, risks: dict[str, np.ndarray], unscorable: dict[str, int],
             options: CalibrationOptions) -> dict:
    """AUC of each risk (paired bootstrap over accounts) and the COMPARISONS between them."""
    label = frame["churned"].to_numpy(bool)
    intervals, samples = paired_bootstrap_auc(risks, label, frame["account_id"].to_numpy(),
                                              options.bootstrap, options.seed)
    differences = {}
    for first, second in COMPARISONS:
        if first in intervals and second in intervals:
            difference, diff = paired_difference(intervals, samples, first, second)
            differences[f"{first} - {second}"] = {
                **difference.as_dict(),
                "share_of_resamples_first_better": round(float(np.mean(diff > 0)), 4)}
    return {
        "rows": len(frame),
        "churned_rows": int(label.sum()),
        "accounts": int(frame["account_id"].nunique()),
        "auc": {name: interval.as_dict() for name, interval in intervals.items()},
        "auc_differences": differences,
        "unscorable_rows_scored_50": unscorable,
        "by_segment": segment_aucs(frame, risks, label),
    }


def attainable_share(auc: dict[str, dict]) -> float | None:
    """How much of the reference model's ranking above chance the proposal captures:
    (AUC proposal - 0.5) / (AUC reference - 0.5)."""
    rules, reference = (auc.get(name, {}).get("estimate")
                        for name in ("bands_and_weights", "reference_model"))
    if rules is None or reference is None or reference <= 0.5:
        return None
    return round((rules - 0.5) / (reference - 0.5), 4)


def segment_aucs(frame: pd.DataFrame, risks: dict[str, np.ndarray], label: np.ndarray) -> dict:
    out = {}
    for segment in sorted(frame["segment"].astype(str).unique()):
        rows = (frame["segment"].astype(str) == segment).to_numpy()
        out[segment] = {"rows": int(rows.sum()), "churned_rows": int(label[rows].sum())}
        for name, risk in risks.items():
            auc = RankedRisk(risk[rows], label[rows]).auc()
            out[segment][name] = None if np.isnan(auc) else round(auc, 4)
    return out


# ----------------------------------------------------------------------------- report


def fit_summary(fits: dict[str, LogitFit]) -> dict:
    return {
        name: {
            "train_rows": fit.rows,
            "train_churned_rows": fit.positives,
            "converged": fit.converged,
            "intercept": round(fit.intercept, 4),
            "segment_intercepts": {k: round(v, 4) for k, v in fit.extra_coef.items()},
            "metrics": {
                m: {
                    "coef_standardized": _r(fit.coef_standardized.get(m)),
                    "coef_per_point": _r(fit.coef_per_point.get(m), 6),
                    "mean_points": _r(fit.mean.get(m), 2),
                    "std_points": _r(fit.std.get(m), 2),
                    "na_share": _r(fit.na_share.get(m)),
                }
                for m in fit.metrics
            },
        }
        for name, fit in fits.items()
    }


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def split_summary(split: Split, horizon: int | None) -> dict:
    def part(frame: pd.DataFrame) -> dict:
        days = sorted({str(d)[:10] for d in frame["as_of_date"]})
        return {"rows": len(frame), "churned_rows": int(frame["churned"].sum()),
                "accounts": int(frame["account_id"].nunique()), "as_of_dates": days}

    overlapping = 0
    if split.holdout_from is not None and horizon is not None:
        train_days = pd.to_datetime(split.train["as_of_date"]).dt.date
        overlapping = int(sum(d.toordinal() + horizon >= split.holdout_from.toordinal()
                              for d in train_days))
    shared = len(set(split.train["account_id"]) & set(split.holdout["account_id"]))
    summary = {"by": split.by,
               "holdout_from": split.holdout_from.isoformat() if split.holdout_from else None,
               "rule": split.rule, "train": part(split.train), "holdout": part(split.holdout),
               "train_rows_whose_label_window_reaches_holdout": overlapping,
               "accounts_in_both": shared}
    if split.by == "account":
        summary["holdout_account_share"] = round(HOLDOUT_ACCOUNT_SHARE, 4)
    return summary


def pooled_model_risk(fit: LogitFit, frame: pd.DataFrame, metrics: list[str]) -> np.ndarray:
    """The pooled model's linear predictor (with its segment intercepts) for `frame`."""
    intercepts = frame["segment"].astype(str).map(fit.extra_coef).fillna(0.0).to_numpy()
    return fit.linear_predictor(frame[metrics].to_numpy(float)) + intercepts


def parameters(options: CalibrationOptions, info: dict) -> dict:
    return {
        **info,
        "purge_overlap": options.purge_overlap,
        "min_positives": options.min_positives, "l2": options.l2,
        "weight_rule": options.weight_rule,
        "weight_rule_with_fitted_bands": (options.weight_rule if options.keep_bands
                                          else FITTED_BANDS_WEIGHT_RULE),
        "min_band_share": options.min_band_share, "min_band_churned": options.min_band_churned,
        "band_max_pvalue": BandFitSettings.max_pvalue,
        "keep_bands": options.keep_bands,
        "active_weights": str(options.active_weights_path),
        "active_bands": str(active_seed(BANDS_SEED)),
        "proposal": str(options.proposal_path),
        "bands_proposal": str(options.bands_proposal_path),
        "bootstrap_resamples": options.bootstrap, "bootstrap_seed": options.seed,
        "imputation": "N/A points -> the metric's mean points over the fit's training rows",
    }


@dataclass(frozen=True)
class Proposal:
    bands: list[Band]
    weights: Weights


def calibrate(options: CalibrationOptions, active: Weights, metrics: list[str]
              ) -> tuple[Proposal, dict]:
    """Fit on the training dates; return the proposed bands and weights and the report."""
    config = BandConfig.read()
    frame, info = load_frame(options, metrics)
    split = choose_split(frame, options.holdout_from,
                         options.horizon_days if options.purge_overlap else None,
                         snapshot=info["label_mode"] == "snapshot")
    log.info("split (%s): %s training rows, %s held-out rows", split.rule,
             len(split.train), len(split.holdout))
    weights_only, _ = propose(fit_models(split.train, metrics, list(active), options), active,
                              options.weight_rule)
    settings = BandFitSettings(options.min_band_share, options.min_band_churned)
    values = {m: split.train[f"{m}{VALUE_SUFFIX}"].to_numpy(float) for m in metrics}
    bands, band_summary = (config.active, {}) if options.keep_bands else fit_bands(
        values, split.train["churned"].to_numpy(bool), config.active, settings, config.units)
    train, holdout = (rebanded(part, bands, metrics, config.missing_points)
                      for part in (split.train, split.holdout))
    fits = fit_models(train, metrics, list(active), options)
    rule = options.weight_rule if options.keep_bands else FITTED_BANDS_WEIGHT_RULE
    proposed, source = propose(fits, active, rule)
    held_risks, held_unscorable = rule_risks(
        {"active": (split.holdout, active), "weights_only": (split.holdout, weights_only),
         "bands_and_weights": (holdout, proposed)}, metrics)
    reference, reference_info = reference_risk(split.train, split.holdout, metrics, options.seed)
    held_risks |= {"pooled_model": pooled_model_risk(fits[POOLED], holdout, metrics),
                   "reference_model": reference}
    train_risks, train_unscorable = rule_risks(
        {"active": (split.train, active), "weights_only": (split.train, weights_only),
         "bands_and_weights": (train, proposed)}, metrics)
    held = evaluate(split.holdout, held_risks, held_unscorable, options)
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": parameters(options, info),
        "split": split_summary(split, info["horizon_days"]),
        "weight_source": source,
        "weights": {s: {m: {"active": active[s].get(m, 0.0), "weights_only": weights_only[s][m],
                            "proposed": proposed[s][m]}
                        for m in metrics} for s in active},
        "bands": {"metrics": band_summary, "changed": band_changes(config.active, bands)},
        "fits": fit_summary(fits),
        "reference_model": {**reference_info,
                            "share_of_attainable_ranking": attainable_share(held["auc"])},
        "evaluation": {
            "holdout": held,
            "train": evaluate(split.train, train_risks, train_unscorable, options),
        },
        "reproduction_check": reproduction_check(score_frame(frame, active, metrics)[0],
                                                 frame["health_score"], "active weights"),
        "band_reproduction_check": band_reproduction(frame, config, metrics),
    }
    return Proposal(bands, proposed), report


def run(options: CalibrationOptions) -> dict:
    """Check the proposal paths, calibrate, write the proposed seeds and the report (JSON and
    Markdown in options.out); return the report."""
    check_proposal_path(options.proposal_path, options.active_weights_path, options.force)
    active, metrics = read_weights(options.active_weights_path)
    proposal, report = calibrate(options, active, metrics)
    write_bands(options.bands_proposal_path, proposal.bands)
    write_weights(options.proposal_path, proposal.weights, metrics)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "calibration.json").write_text(json.dumps(report, indent=2) + "\n")
    (options.out / "calibration.md").write_text(render_markdown(report))
    held = report["evaluation"]["holdout"]["auc"]
    log.info("held-out AUC active %.3f, weights only %.3f, bands and weights %.3f, reference "
             "model %.3f; proposal %s, report %s", *(held[name]["estimate"] for name in (
                 "active", "weights_only", "bands_and_weights", "reference_model")),
             options.proposal_path.parent, options.out)
    return report
