"""Markdown report of the calibration of bands and weights (calibration.py, `health calibrate`)."""

from __future__ import annotations

from customer_health.evaluation.backtest_report import labels_text, outcome_text, source_text


def source(params: dict) -> str:
    text = source_text(params)
    return text[0].lower() + text[1:]


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _auc(interval: dict) -> str:
    return (f"{_num(interval['estimate'])} ({_num(interval['lower'])} - "
            f"{_num(interval['upper'])})")


# Names of the held-out rankings, as the report writes them.
RANKINGS = {
    "active": "active bands and weights",
    "weights_only": "active bands, calibrated weights",
    "bands_and_weights": "proposed bands and weights",
    "pooled_model": "pooled logistic model on the proposed bands",
    "reference_model": "reference model (gradient boosting on raw values)",
}


def _difference(diff: dict) -> str:
    return (f"{diff['estimate']:+.3f}, 95 % CI {diff['lower']:+.3f} to "
            f"{diff['upper']:+.3f}")


def _significance(diff: dict) -> int:
    """+1 when the difference's CI lies above 0, -1 below, 0 when it contains 0."""
    if diff["lower"] is not None and diff["lower"] > 0:
        return 1
    return -1 if diff["upper"] is not None and diff["upper"] < 0 else 0


def verdict(report: dict) -> str:
    held = report["evaluation"]["holdout"]
    auc, diffs = held["auc"], held["auc_differences"]
    against_active = diffs["bands_and_weights - active"]
    against_weights = diffs["bands_and_weights - weights_only"]
    text = (f"On {held_out_text(report['split'])} the proposed bands and weights give AUC "
            f"{auc['bands_and_weights']['estimate']:.3f} against "
            f"{auc['active']['estimate']:.3f} for the active configuration "
            f"({_difference(against_active)}) and {auc['weights_only']['estimate']:.3f} for "
            f"calibrated weights on the active bands ({_difference(against_weights)}). ")
    if _significance(against_active) > 0:
        text += "The improvement over the active configuration is larger than resampling noise: "
        text += ("worth reviewing." if _significance(against_weights) >= 0 else
                 "worth reviewing, but re-banding loses to calibrating the weights alone: "
                 "`health calibrate --keep-bands` proposes weights for the active bands.")
    elif _significance(against_active) < 0:
        text += "The proposal is worse than the active configuration: do not adopt it."
    else:
        text += ("The difference from the active configuration is within resampling noise: no "
                 "evidence for the proposal, keep the active configuration.")
    return text


def reference_text(report: dict) -> str:
    held = report["evaluation"]["holdout"]
    reference = held["auc"].get("reference_model")
    if reference is None:
        return ""
    gap = held["auc_differences"]["reference_model - bands_and_weights"]
    share = report["reference_model"]["share_of_attainable_ranking"]
    captured = "" if share is None else (
        f" the proposal captures {share:.0%} of the reference's ranking above chance "
        "((AUC - 0.5) / (reference AUC - 0.5));")
    return (f"A gradient-boosting reference model on the raw metric values and segment reaches "
            f"held-out AUC {_auc(reference)}; reference minus proposal: {_difference(gap)};"
            f"{captured} what the reference ranks better is what rules of bands and weights leave "
            "on the table with these metrics.")


def held_out_text(split: dict) -> str:
    if split.get("by") == "account":
        return f"held-out accounts ({split['holdout']['accounts']}, split by account)"
    return f"held-out as-of dates (from {split['holdout_from']})"


def evaluation_table(report: dict) -> list[str]:
    lines = ["| rows | ranking | AUC (95 % CI) | rows scored 50 (no weighted data) |",
             "|---|---|---|---:|"]
    for part in ("holdout", "train"):
        ev = report["evaluation"][part]
        label = f"{part} ({ev['rows']} rows, {ev['churned_rows']} churned)"
        for name, interval in ev["auc"].items():
            unscorable = ev["unscorable_rows_scored_50"].get(name, "")
            lines.append(f"| {label} | {RANKINGS.get(name, name)} | {_auc(interval)} | "
                         f"{unscorable} |")
    return lines


def difference_table(report: dict) -> list[str]:
    lines = ["| held-out AUC difference | estimate (95 % CI) | resamples where the first wins |",
             "|---|---|---:|"]
    for pair, diff in report["evaluation"]["holdout"]["auc_differences"].items():
        first, second = (RANKINGS.get(name, name) for name in pair.split(" - "))
        lines.append(f"| {first} - {second} | {_difference(diff)} | "
                     f"{diff['share_of_resamples_first_better']:.0%} |")
    return lines


def segment_table(report: dict) -> list[str]:
    names = ("active", "weights_only", "bands_and_weights", "reference_model")
    lines = ["| segment | weights from | held-out rows | churned | "
             + " | ".join(f"AUC {RANKINGS[n].split(' (')[0]}" for n in names) + " |",
             "|---|---|---:|---:|" + "---:|" * len(names)]
    by_segment = report["evaluation"]["holdout"]["by_segment"]
    for segment, source in report["weight_source"].items():
        ev = by_segment.get(segment, {})
        lines.append(f"| {segment} | {source} | {ev.get('rows', 0)} | {ev.get('churned_rows', 0)}"
                     " | " + " | ".join(_num(ev.get(n)) for n in names) + " |")
    return lines


def bands_table(report: dict) -> list[str]:
    lines = ["| metric | churn as the value rises | proposed bands (lower bound: points) |",
             "|---|---|---|"]
    changed = report["bands"]["changed"]
    for metric, fit in report["bands"]["metrics"].items():
        if metric in changed:
            cells = ", ".join(f"{'-inf' if low is None else f'{low:g}'}: {points:g}"
                              for low, _, points in changed[metric]["proposed"])
            bands = f"{cells} (active: {changed[metric]['active_bands']} bands)"
        else:
            bands = f"active bands kept: {fit['note']}"
        lines.append(f"| {metric} | {fit['churn_trend']} | {bands} |")
    return lines


def weights_table(report: dict) -> list[str]:
    segments = list(report["weights"])
    head = ("| metric | " + " | ".join(f"{s} active / weights only / proposed" for s in segments)
            + " |")
    lines = [head, "|---|" + "---:|" * len(segments)]
    metrics = list(next(iter(report["weights"].values())))
    for metric in metrics:
        cells = []
        for segment in segments:
            w = report["weights"][segment][metric]
            arrow = " **+**" if w["proposed"] > w["active"] + 0.02 else ""
            cells.append(f"{w['active']:.3f} / {w['weights_only']:.3f} / "
                         f"{w['proposed']:.3f}{arrow}")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


def coefficient_table(report: dict) -> list[str]:
    fits = report["fits"]
    names = list(fits)
    lines = ["| metric | " + " | ".join(f"{n} (n={fits[n]['train_rows']}, "
                                         f"churned={fits[n]['train_churned_rows']})"
                                         for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for metric in next(iter(fits.values()))["metrics"]:
        cells = [_num(fits[n]["metrics"][metric]["coef_standardized"]) for n in names]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


def overlap_caveat(split: dict, horizon: int) -> str:
    overlapping = split["train_rows_whose_label_window_reaches_holdout"]
    if overlapping == 0:
        return (f"- No training row's {horizon}-day label window reaches {split['holdout_from']}: "
                "the split is strictly causal.")
    return (f"- {overlapping} training rows have a label window ({horizon} days) reaching past "
            f"{split['holdout_from']}: their labels use churn seen in the held-out period; "
            "`--purge-overlap` drops them for a strictly causal split.")


def split_caveats(split: dict, params: dict) -> list[str]:
    if split.get("by") == "account":
        return [
            "- Account split (one as-of date): training and held-out rows are different "
            "accounts scored on the same date, so held-out AUC says how the weights carry over "
            "to other accounts, not how they hold up over time.",
        ]
    return [
        f"- Time split only: {split['accounts_in_both']} accounts appear in both the training and "
        "the held-out rows, so held-out AUC is not an estimate for brand-new customers.",
        overlap_caveat(split, params["horizon_days"]),
    ]


def split_section(split: dict, params: dict) -> list[str]:
    train, holdout = split["train"], split["holdout"]
    if split.get("by") == "account":
        lines = [
            f"- Split by account ({split['rule']}).",
            f"- Training accounts: {train['accounts']} ({train['rows']} rows, "
            f"{train['churned_rows']} churned); held-out accounts: {holdout['accounts']} "
            f"({holdout['rows']} rows, {holdout['churned_rows']} churned); as-of date "
            f"{', '.join(holdout['as_of_dates'])}.",
        ]
    else:
        lines = [
            f"- Training as-of dates: {', '.join(train['as_of_dates'])} "
            f"({train['rows']} rows, {train['churned_rows']} churned).",
            f"- Held-out as-of dates (>= {split['holdout_from']}, {split['rule']}): "
            f"{', '.join(holdout['as_of_dates'])} ({holdout['rows']} rows, "
            f"{holdout['churned_rows']} churned).",
        ]
    if params.get("label_mode") == "snapshot":
        lines.append(f"- Outcome: has_churned after the snapshot {params['snapshot_date']}; "
                     f"{source(params)}.")
    else:
        lines.append(f"- Outcomes known through {params['observed_through']}; "
                     f"{source(params)}.")
    return lines


def caveats(report: dict) -> list[str]:
    split, params = report["split"], report["parameters"]
    return [
        *split_caveats(split, params),
        "- N/A points were imputed with the metric's training mean for fitting only; scores "
        "renormalise N/A metrics away, as the dbt models do.",
        "- Coefficients are associations, not causes. Correlated metrics (active days, usage "
        "per seat, usage trend) share or swap weight; a metric at 0 can still matter.",
        "- Metrics whose higher points go with *more* churn get weight 0 (they cannot be "
        "expressed by a non-negative weight).",
        f"- Proposed bands: monotone optimal binning (optbinning) of the training rows' values, "
        f"at least {params['min_band_share']:.0%} of a metric's rows and "
        f"{params['min_band_churned']} churned rows per band, neighbouring bands' churn "
        f"different at p < {params['band_max_pvalue']}, in the direction of the active "
        "bands; points = the band's churn log-odds scaled onto 0-100 (least churn 100). Missing "
        "values keep the metric's missing_points; segment-specific active bands of a re-banded "
        "metric are replaced by '*' bands.",
        f"- Weight rule `{params['weight_rule']}` for the active bands, "
        f"`{params['weight_rule_with_fitted_bands']}` for the proposed bands (their points are "
        f"churn log-odds on 0-100); L2 penalty {params['l2']}; segments with fewer "
        f"than {params['min_positives']} churned training rows use the pooled fit.",
        "- A proposal is not active: review it, `health adopt-proposal` (copies "
        "scoring_bands.csv and segment_weights.csv into the seeds and prints what changed), "
        "`make refresh`, backfill and re-run the backtest.",
    ]


def render_markdown(report: dict) -> str:
    split, params = report["split"], report["parameters"]
    held_model = report["evaluation"]["holdout"]["auc"].get("pooled_model")
    model_line = ("" if held_model is None else
                  f"The pooled logistic model itself, on the proposed bands, reaches held-out AUC "
                  f"{_auc(held_model)} (its probabilities, not a weighted score).")
    repro, bands_repro = report["reproduction_check"], report["band_reproduction_check"]
    lines = [
        f"# Calibration of bands and weights: {outcome_text(params)}",
        "",
        f"{labels_text(params)}.",
        "",
        f"**Verdict.** {verdict(report)}",
        "",
        f"**Reference.** {reference_text(report)}",
        "",
        f"Proposal written to `{params['bands_proposal']}` and `{params['proposal']}` "
        "(not active).",
        "",
        "## Split",
        "",
        *split_section(split, params),
        f"- Active weights re-score {repro['matching_within_0_05']} of {repro['rows']} published "
        f"scores exactly (max difference {repro['max_abs_difference']}); the active bands, "
        f"applied in Python, give {bands_repro['matching']} of {bands_repro['values']} "
        "points of the history.",
        "",
        "## AUC of 100 - score: active, weights only, bands and weights, reference",
        "",
        *evaluation_table(report),
        "",
        *difference_table(report),
        "",
        f"CIs: 95 % percentile intervals of a paired bootstrap over accounts. {model_line}",
        "",
        "## By segment (held out)",
        "",
        *segment_table(report),
        "",
        "## Proposed bands",
        "",
        *bands_table(report),
        "",
        "## Weights, active / weights only / proposed (**+** = proposed at least 0.02 higher)",
        "",
        *weights_table(report),
        "",
        "## Standardised coefficients on the proposed bands (negative = more points, less churn)",
        "",
        *coefficient_table(report),
        "",
        "## Caveats",
        "",
        *caveats(report),
        "",
    ]
    return "\n".join(lines)
