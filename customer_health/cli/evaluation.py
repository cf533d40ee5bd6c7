"""Commands that test the score against churn: backtest, calibrate (proposed bands and weights)
and adopt-proposal (copies a reviewed proposal into the active seeds).

Both read the published history; the analysis modules (pandas, numpy, scipy) are imported only
when a command runs, so that every other command starts quickly.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import Quiet, app, configure_logging, run_command
from customer_health.cli.options import (
    DEFAULT_TARGET_CHOICE,
    DbPath,
    FromDate,
    TargetOption,
    ToDate,
    check_range,
    date_option,
    positive_float,
    positive_int,
)
from customer_health.evaluation.options import (
    LABEL_MODES,
    WEIGHT_RULES,
    BacktestOptions,
    CalibrationOptions,
    EvaluationOptions,
)

PANEL = "Evaluation"


def share_below_half(value: float) -> float:
    if not 0 < value < 0.5:
        raise typer.BadParameter(f"must be above 0 and below 0.5, got {value}")
    return value

WeightRule = Enum("WeightRule", {rule: rule for rule in WEIGHT_RULES}, type=str)  # type: ignore[misc]
DEFAULT_WEIGHT_RULE = WeightRule(CalibrationOptions.weight_rule)
LabelMode = Enum("LabelMode", {mode: mode for mode in LABEL_MODES}, type=str)  # type: ignore[misc]
DEFAULT_LABEL_MODE = LabelMode(EvaluationOptions.label_mode)

LabelModeOption = Annotated[
    LabelMode,
    typer.Option(
        help="Where labels come from. events: churn events within --horizon-days after each "
        "as-of date. snapshot: the account outcome column (has_churned) against the scores of "
        "one as-of date, the latest one (on or before --to). auto: events when the churn-event "
        "relation exists, else snapshot when the outcome relation does.",
    ),
]

HorizonDays = Annotated[
    int,
    typer.Option(
        callback=positive_int,
        help="Churn horizon N: a score row is labelled churned when its account churns within "
        "N days after the as-of date.",
    ),
]
ObservedThrough = Annotated[
    dt.date | None,
    date_option(
        "--observed-through",
        help="Last date outcomes are known for; rows whose horizon ends later are dropped "
        "(default: the latest churn or usage date in the data).",
    ),
]
ExcludePriorChurners = Annotated[
    bool,
    typer.Option(
        "--exclude-prior-churners",
        help="Drop rows of accounts with a churn event on or before the as-of date "
        "(default: keep every scored row)."
    ),
]
Bootstrap = Annotated[
    int,
    typer.Option(
        callback=positive_int, help="Bootstrap resamples of accounts for the 95 % intervals."
    ),
]
Seed = Annotated[int, typer.Option(help="Bootstrap seed (same seed, same intervals).")]


@app.command(rich_help_panel=PANEL)
def backtest(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    label_mode: LabelModeOption = DEFAULT_LABEL_MODE,
    date_from: FromDate = None,
    date_to: ToDate = None,
    horizon_days: HorizonDays = EvaluationOptions.horizon_days,
    observed_through: ObservedThrough = None,
    exclude_prior_churners: ExcludePriorChurners = False,
    bootstrap: Bootstrap = EvaluationOptions.bootstrap,
    seed: Seed = EvaluationOptions.seed,
    out: Annotated[
        Path, typer.Option(help="Folder for backtest.json, backtest.md and the plots.")
    ] = BacktestOptions.out,
    quiet: Quiet = False,
) -> None:
    """Does a low score predict churn? AUC, top-decile lift and churn by grade over the
    published history, labelled by churn events or a snapshot outcome column (exit 4 when there
    is nothing to evaluate)."""
    configure_logging(quiet)
    check_range(date_from, date_to)
    options = BacktestOptions(
        target=target.value, db_path=db_path, label_mode=label_mode.value,
        date_from=date_from, date_to=date_to,
        horizon_days=horizon_days, observed_through=observed_through,
        exclude_prior_churners=exclude_prior_churners, bootstrap=bootstrap, seed=seed, out=out,
    )

    def work() -> None:
        from customer_health.evaluation import backtest

        backtest.run(options)

    run_command(work)


@app.command(rich_help_panel=PANEL)
def calibrate(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    label_mode: LabelModeOption = DEFAULT_LABEL_MODE,
    date_from: FromDate = None,
    date_to: ToDate = None,
    horizon_days: HorizonDays = EvaluationOptions.horizon_days,
    observed_through: ObservedThrough = None,
    exclude_prior_churners: ExcludePriorChurners = False,
    holdout_from: Annotated[
        dt.date | None,
        date_option(
            "--holdout-from",
            help="As-of dates on or after this are held out for the comparison (default: the "
            "latest third of the evaluated dates; with one as-of date, as in snapshot mode, a "
            "third of the accounts).",
        ),
    ] = None,
    purge_overlap: Annotated[
        bool,
        typer.Option(
            "--purge-overlap",
            help="Drop training rows whose label window reaches --holdout-from (strictly "
            "causal)."
        ),
    ] = False,
    min_positives: Annotated[
        int,
        typer.Option(
            callback=positive_int,
            help="Churned training rows a segment needs for a fit of its own (others get the "
            "pooled fit).",
        ),
    ] = CalibrationOptions.min_positives,
    l2: Annotated[
        float,
        typer.Option(
            "--l2",
            callback=positive_float,
            help="L2 penalty on standardised coefficients (1.0 = scikit-learn's C=1).",
        ),
    ] = CalibrationOptions.l2,
    weight_rule: Annotated[
        WeightRule,
        typer.Option(
            help="standardized: weight ~ max(0, -coef x std of points); logit: ~ max(0, -coef)."
        ),
    ] = DEFAULT_WEIGHT_RULE,
    min_band_share: Annotated[
        float,
        typer.Option(
            callback=share_below_half,
            help="Least share of a metric's training rows (with a value) in a proposed band.",
        ),
    ] = CalibrationOptions.min_band_share,
    min_band_churned: Annotated[
        int,
        typer.Option(callback=positive_int,
                     help="Fewest churned training rows in a proposed band."),
    ] = CalibrationOptions.min_band_churned,
    keep_bands: Annotated[
        bool,
        typer.Option("--keep-bands",
                     help="Fit weights only: the proposed bands are the active ones."),
    ] = False,
    active_weights: Annotated[
        Path | None,
        typer.Option(
            help="Weights seed to compare the proposal against (default: the deployment's "
            "segment_weights.csv)."
        ),
    ] = None,
    proposal: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the proposed weights seed (default: proposed/ beside the active "
            "seeds; never over an active seed); the proposed scoring_bands.csv goes beside it."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing proposal.")] = False,
    out: Annotated[
        Path, typer.Option(help="Folder for calibration.json and calibration.md.")
    ] = CalibrationOptions.out,
    bootstrap: Bootstrap = EvaluationOptions.bootstrap,
    seed: Seed = EvaluationOptions.seed,
    quiet: Quiet = False,
) -> None:
    """Propose scoring bands and segment weights fitted to churn and compare them with the
    active configuration, weights-only calibration and a reference model on held-out as-of
    dates, or held-out accounts when there is one as-of date (writes a proposal; the active
    seeds stay untouched)."""
    configure_logging(quiet)
    check_range(date_from, date_to)
    options = CalibrationOptions(
        target=target.value, db_path=db_path, label_mode=label_mode.value,
        date_from=date_from, date_to=date_to,
        horizon_days=horizon_days, observed_through=observed_through,
        exclude_prior_churners=exclude_prior_churners, holdout_from=holdout_from,
        purge_overlap=purge_overlap, min_positives=min_positives, l2=l2,
        weight_rule=weight_rule.value, min_band_share=min_band_share,
        min_band_churned=min_band_churned, keep_bands=keep_bands,
        active_weights=active_weights, proposal=proposal,
        force=force, out=out, bootstrap=bootstrap, seed=seed,
    )

    def work() -> None:
        from customer_health.evaluation import calibration

        calibration.run(options)

    run_command(work)


@app.command("adopt-proposal", rich_help_panel=PANEL)
def adopt_proposal(
    proposal_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of the reviewed proposal (default: proposed/ beside the "
                     "deployment's seeds)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; copy nothing.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Copy a reviewed calibration proposal (scoring_bands.csv, segment_weights.csv) into the
    deployment's active seeds and print what changed: bands per metric, weights per segment
    (exit 4 when there is no proposal or it would fail the seed tests)."""
    configure_logging(quiet)

    def work() -> None:
        from customer_health.evaluation.proposal import adopt

        print(adopt(proposal_dir, dry_run=dry_run))

    run_command(work)
