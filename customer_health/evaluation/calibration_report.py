"""Markdown report of the weight calibration (calibration.py, `health calibrate`)."""

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


def verdict(report: dict) -> str:
    held = report["evaluation"]["holdout"]
    diff = held["auc_difference_proposed_minus_active"]
    active, proposed = held["auc"]["active"]["estimate"], held["auc"]["proposed"]["estimate"]
    text = (f"On {held_out_text(report['split'])} the proposed "
            f"weights give AUC {proposed:.3f} against {active:.3f} for the active weights "
            f"(difference {diff['estimate']:+.3f}, 95 % CI {diff['lower']:+.3f} to "
            f"{diff['upper']:+.3f}). ")
    if diff["lower"] is not None and diff["lower"] > 0:
        return text + "The improvement is larger than resampling noise: worth reviewing."
    if diff["upper"] is not None and diff["upper"] < 0:
        return text + "The proposal is worse than the active weights: do not adopt it."
    return text + "The difference is within resampling noise: no evidence either way."


def held_out_text(split: dict) -> str:
    if split.get("by") == "account":
        return f"held-out accounts ({split['holdout']['accounts']}, split by account)"
    return f"held-out as-of dates (from {split['holdout_from']})"


def evaluation_table(report: dict) -> list[str]:
    lines = ["| rows | weights | AUC (95 % CI) | rows scored 50 (no weighted data) |",
             "|---|---|---|---:|"]
    for part in ("holdout", "train"):
        ev = report["evaluation"][part]
        label = f"{part} ({ev['rows']} rows, {ev['churned_rows']} churned)"
        for name, interval in ev["auc"].items():
            unscorable = ev["unscorable_rows_scored_50"].get(name, "")
            lines.append(f"| {label} | {name} | {_auc(interval)} | {unscorable} |")
    return lines


def segment_table(report: dict) -> list[str]:
    lines = ["| segment | weights from | held-out rows | churned | AUC active | AUC proposed |",
             "|---|---|---:|---:|---:|---:|"]
    by_segment = report["evaluation"]["holdout"]["by_segment"]
    for segment, source in report["weight_source"].items():
        ev = by_segment.get(segment, {})
        lines.append(f"| {segment} | {source} | {ev.get('rows', 0)} | {ev.get('churned_rows', 0)}"
                     f" | {_num(ev.get('active'))} | {_num(ev.get('proposed'))} |")
    return lines


def weights_table(report: dict) -> list[str]:
    segments = list(report["weights"])
    head = "| metric | " + " | ".join(f"{s} active / proposed" for s in segments) + " |"
    lines = [head, "|---|" + "---:|" * len(segments)]
    metrics = list(next(iter(report["weights"].values())))
    for metric in metrics:
        cells = []
        for segment in segments:
            w = report["weights"][segment][metric]
            arrow = " **+**" if w["proposed"] > w["active"] + 0.02 else ""
            cells.append(f"{w['active']:.3f} / {w['proposed']:.3f}{arrow}")
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
        f"- Weight rule `{params['weight_rule']}`; L2 penalty {params['l2']}; segments with fewer "
        f"than {params['min_positives']} churned training rows use the pooled fit.",
        "- A proposal is not active: review it, copy it into seeds/segment_weights.csv, "
        "`make refresh`, backfill and re-run the backtest.",
    ]


def render_markdown(report: dict) -> str:
    split, params = report["split"], report["parameters"]
    held_model = report["evaluation"]["holdout"]["auc"].get("pooled_model")
    model_line = ("" if held_model is None else
                  f"For reference, the pooled logistic model itself reaches held-out AUC "
                  f"{_auc(held_model)} (its probabilities, not a weighted score).")
    repro = report["reproduction_check"]
    better = report["evaluation"]["holdout"]["share_of_resamples_proposed_better"]
    lines = [
        f"# Weight calibration: {outcome_text(params)}",
        "",
        f"{labels_text(params)}.",
        "",
        f"**Verdict.** {verdict(report)}",
        "",
        f"Proposal written to `{params['proposal']}` (not active).",
        "",
        "## Split",
        "",
        *split_section(split, params),
        f"- Active weights re-score {repro['matching_within_0_05']} of {repro['rows']} published "
        f"scores exactly (max difference {repro['max_abs_difference']}).",
        "",
        "## AUC of 100 - score, active vs proposed weights",
        "",
        *evaluation_table(report),
        "",
        "CIs: 95 % percentile intervals of a paired bootstrap over accounts. "
        f"Proposed beat active in {better:.0%} of held-out resamples. {model_line}",
        "",
        "## By segment (held out)",
        "",
        *segment_table(report),
        "",
        "## Weights, active / proposed (**+** = proposed at least 0.02 higher)",
        "",
        *weights_table(report),
        "",
        "## Standardised coefficients (negative = more points, less churn)",
        "",
        *coefficient_table(report),
        "",
        "## Caveats",
        "",
        *caveats(report),
        "",
    ]
    return "\n".join(lines)
